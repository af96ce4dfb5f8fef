"""Report: IQM/bootstrap statistics, aggregation of runs and encoders, written artefacts."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from pipeline.report.__main__ import main as report_main
from pipeline.report.stats import bootstrap_ci, iqm, steps_to

from .conftest import tiny_params_dict, write_params


def test_iqm_trims_quartiles() -> None:
    assert iqm(np.array([0.0, 0.5, 0.6, 1.0])) == pytest.approx(0.55)
    assert iqm(np.array([0.3])) == pytest.approx(0.3)
    assert iqm(np.arange(8.0)) == pytest.approx(np.mean([2, 3, 4, 5]))


def test_bootstrap_ci_brackets_the_estimate() -> None:
    x = np.array([0.1, 0.4, 0.5, 0.9, 0.95])
    lo, hi = bootstrap_ci(x)
    assert lo <= iqm(x) <= hi and lo < hi
    assert bootstrap_ci(np.array([0.7, 0.7])) == pytest.approx((0.7, 0.7))


def test_steps_to() -> None:
    steps, succ = np.array([0, 10, 20, 30]), np.array([0.0, 0.4, 0.6, 0.95])
    assert steps_to(steps, succ, 0.5) == 20 and steps_to(steps, succ, 0.9) == 30 and steps_to(steps, succ, 0.99) is None


def write_run(root: Path, variant: str, seed: int, successes: list[float], every: int = 100) -> None:
    run = root / variant / str(seed)
    run.mkdir(parents=True)
    with (run / "eval.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["step", "success", "final_object_distance"])
        for i, s in enumerate(successes):
            w.writerow([i * every, s, 0.1])
    (run / "metrics.json").write_text(
        json.dumps(
            {
                "final_success": successes[-1],
                "fps": 100.0 + seed,
                "replay_bytes_per_transition": 200.0,
                "wall_time_s": 60.0,
            }
        )
    )


def test_report_aggregates_runs_and_encoders(tmp_path: Path) -> None:
    p = tiny_params_dict(tmp_path)
    runs, encoders, report = (Path(p["paths"][k]) for k in ("runs", "encoders", "report"))
    write_run(runs, "state", 0, [0.0, 0.5, 1.0])
    write_run(runs, "state", 1, [0.0, 0.3, 0.8])
    write_run(runs, "latent_vae", 0, [0.0, 0.1, 0.2, 0.4], every=50)  # different eval grid is fine
    (encoders / "vae").mkdir(parents=True)
    (encoders / "vae" / "metrics.json").write_text(
        json.dumps({"probe_object_mm": 12.3, "probe_gripper_mm": 4.5, "latent_dim": 16})
    )
    (encoders / "vae" / "reconstructions.png").write_bytes(b"")
    report_main(["--params", str(write_params(tmp_path, p))])
    md = (report / "report.md").read_text()
    assert "| state | 2 | 200 | 0.90 |" in md  # IQM of {1.0, 0.8} = 0.9
    assert "| latent_vae | 1 | 150 | 0.40 |" in md
    assert "12.3" in md and "reconstructions" in md
    assert (report / "success.png").stat().st_size > 1000
    flat = json.loads((report / "metrics.json").read_text())
    assert flat["policy"]["state"]["final_success_iqm"] == pytest.approx(0.9)
    assert flat["pretrain"]["vae"]["probe_object_mm"] == pytest.approx(12.3)
    with (report / "curves" / "state.csv").open() as f:
        assert [float(r["success"]) for r in csv.DictReader(f)] == pytest.approx([0.0, 0.4, 0.9])
