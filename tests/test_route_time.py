"""The route timer's pure parts: reading a growing eval.csv, the first evaluation at the target, DVC's stage lines."""

from __future__ import annotations

from pathlib import Path

from .conftest import load_benchmark

route_time = load_benchmark("route_time")


def test_eval_rows_so_far_skip_a_half_written_row(tmp_path: Path) -> None:
    path = tmp_path / "eval.csv"
    assert route_time.read_eval(path) == []
    path.write_text("step,success,final_object_distance,train_seconds\n0,0.05,0.2,0.1\n10000,0.95,0.03,300.0\n20000,0.")
    rows = route_time.read_eval(path)
    assert [r["step"] for r in rows] == [0.0, 10000.0]


def test_first_evaluation_at_target_ignores_the_initial_one() -> None:
    rows = [{"step": s, "success": v} for s, v in [(0, 1.0), (10000, 0.85), (20000, 0.9), (30000, 0.95)]]
    assert route_time.first_at_target(rows, 0.9)["step"] == 20000
    assert route_time.first_at_target(rows, 0.96) is None


def test_stage_lines_of_dvc_repro() -> None:
    assert route_time.stage_name("Running stage 'pretrain@supervised':") == "pretrain@supervised"
    assert route_time.stage_name("Running stage 'policy@latent_supervised-0':") == "policy@latent_supervised-0"
    assert route_time.stage_name("Stage 'collect' didn't change, skipping") is None


def test_refuses_an_existing_worktree_and_a_bad_target(tmp_path: Path, monkeypatch, capsys) -> None:
    import pytest

    monkeypatch.setattr(route_time, "ROOT", tmp_path)
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "p.yaml").write_text("{}\n")
    (tmp_path / ".worktrees" / "p").mkdir(parents=True)
    for argv, says in [
        (["--profile", "p"], "--fresh"),
        (["--profile", "p", "--target", "0"], "--target"),
        (["--profile", "nope"], "profiles/nope.yaml"),
    ]:
        with pytest.raises(SystemExit):
            route_time.main(argv)
        assert says in capsys.readouterr().err
    assert (tmp_path / ".worktrees" / "p").is_dir()  # nothing removed without --fresh
