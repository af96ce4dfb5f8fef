"""Report: across-seed aggregate (mean / IQM), scipy bootstrap intervals from 5 seeds, written artefacts."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest

from pipeline.pretrain.metrics import EncoderMetrics, ProbeReport
from pipeline.report.__main__ import main as report_main
from pipeline.report.aggregate import VariantSummary, load_encoders, read_eval
from pipeline.report.render import POLICY_KEYS, curve_label, draw_curves
from pipeline.report.route import final_on_many
from pipeline.report.stats import (
    MIN_SEEDS_FOR_CI,
    aggregate,
    aggregate_label,
    bootstrap_interval,
    distinct_resamples,
    iqm,
    no_interval_reason,
    steps_to,
)

from .conftest import tiny_params_dict, write_params

SPREAD = [0.1, 0.4, 0.5, 0.9, 0.95, 0.2, 0.7, 0.6]  # per-seed finals with real spread


def test_iqm_trims_quartiles() -> None:
    assert iqm(np.array([0.0, 0.5, 0.6, 1.0])) == pytest.approx(0.55)
    assert iqm(np.array([0.3])) == pytest.approx(0.3)
    assert iqm(np.arange(8.0)) == pytest.approx(np.mean([2, 3, 4, 5]))


def test_aggregate_is_the_mean_below_4_seeds_and_the_iqm_from_4() -> None:
    assert [aggregate_label(n) for n in range(1, 7)] == ["mean", "mean", "mean", "IQM", "IQM", "IQM"]
    assert aggregate(np.array([0.0, 0.0, 1.0])) == pytest.approx(1 / 3)
    x4 = np.array([0.0, 0.5, 0.6, 1.0])  # mean 0.525, IQM 0.55
    assert aggregate(x4) == pytest.approx(0.55) and aggregate(x4) != pytest.approx(x4.mean())


def test_resample_count_behind_the_5_seed_threshold() -> None:
    assert [distinct_resamples(n) for n in (3, 4, 5)] == [10, 35, 126]
    assert MIN_SEEDS_FOR_CI == 5


def test_no_interval_below_5_seeds() -> None:
    for n in range(1, MIN_SEEDS_FOR_CI):
        assert bootstrap_interval(np.array(SPREAD[:n])) is None
    assert no_interval_reason(3) == "3 seeds < 5: no interval"
    assert no_interval_reason(1) == "1 seed < 5: no interval"
    assert no_interval_reason(5) == ""


@pytest.mark.parametrize("n", [5, 8])
def test_interval_brackets_the_aggregate_from_5_seeds(n: int) -> None:
    x = np.array(SPREAD[:n])
    interval = bootstrap_interval(x)
    assert interval is not None
    lo, hi = interval
    assert x.min() <= lo < aggregate(x) < hi <= x.max()
    assert bootstrap_interval(x) == interval  # fixed random_state: reproducible
    assert bootstrap_interval(np.full(n, 0.7)) == pytest.approx((0.7, 0.7))


def test_steps_to() -> None:
    steps, succ = np.array([0, 10, 20, 30]), np.array([0.0, 0.4, 0.6, 0.95])
    assert steps_to(steps, succ, 0.5) == 20 and steps_to(steps, succ, 0.9) == 30 and steps_to(steps, succ, 0.99) is None


def test_a_float32_success_of_18_in_20_reaches_090(tmp_path: Path) -> None:
    """The policy stage writes float32 means: 18 of 20 episodes is 0.8999999761581421 in eval.csv."""
    path = tmp_path / "eval.csv"
    path.write_text("step,success\n0,0.05000000074505806\n10000,0.8999999761581421\n20000,0.949999988079071\n")
    curve, _ = read_eval(path)
    assert curve == {0: 0.05, 10000: 0.9, 20000: 0.95}
    assert steps_to(np.array(list(curve)), np.array(list(curve.values())), 0.9) == 10000
    (tmp_path / "metrics.json").write_text(
        '{"final_eval_success": 0.8999999761581421, "final_eval_ci95": [0.83, 0.94], "final_eval_episodes": 100}'
    )
    assert final_on_many(tmp_path)["success"] == 0.9  # the final evaluation on 100 episodes too


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


def summary(name: str, finals: list[float]) -> VariantSummary:
    """A variant whose seeds ramp linearly from 0 to their final success over 3 evaluations."""
    success = np.array([[0.0, f / 2, f] for f in finals])
    return VariantSummary(name, list(range(len(finals))), np.array([0, 100, 200]), success)


def test_row_labels_the_aggregate_and_leaves_out_the_interval_below_5_seeds() -> None:
    few = summary("few", [0.9, 0.95, 0.95]).row()
    assert few["aggregate"] == "mean" and few["seeds"] == 3
    assert few["final_success"] == pytest.approx(np.mean([0.9, 0.95, 0.95]))
    assert few["final_per_seed"] == pytest.approx([0.9, 0.95, 0.95])
    assert few["ci_low"] is None and few["ci_high"] is None
    assert few["steps_to_50"] == 200 and few["steps_to_90"] == 200  # aggregate curve 0, 0.47, 0.93
    many = summary("many", SPREAD[:5]).row()
    assert many["aggregate"] == "IQM" and many["final_success"] == pytest.approx(iqm(np.array(SPREAD[:5])))
    assert many["ci_low"] < many["final_success"] < many["ci_high"]


def test_plot_draws_every_seed_and_a_band_only_from_5_seeds() -> None:
    two, five = summary("two", [0.2, 0.6]), summary("five", SPREAD[:5])
    fig, ax = plt.subplots()
    try:
        draw_curves(ax, [two, five])
        labels = [line.get_label() for line in ax.lines if not line.get_label().startswith("_")]
        assert len(ax.lines) == (2 + 1) + (5 + 1)  # per-seed lines + aggregate, per variant
        assert len(ax.collections) == 1  # one shaded band: the 5-seed variant's
        assert [line.get_alpha() for line in ax.lines[:2]] == [0.3, 0.3]
        assert ax.lines[0].get_color() == ax.lines[2].get_color() != ax.lines[3].get_color()
    finally:
        plt.close(fig)
    assert labels == [curve_label(two), curve_label(five)]
    assert curve_label(two) == "two (2 seeds, mean; no band < 5 seeds)"
    assert curve_label(five) == "five (5 seeds, IQM; 95 % CI band)"


def test_report_aggregates_runs_and_encoders(tmp_path: Path) -> None:
    p = tiny_params_dict(tmp_path, policy={"run": ["state", "latent_vae", "blind"], "seeds": [0, 1, 2, 3, 4]})
    runs, encoders, report = (Path(p["paths"][k]) for k in ("runs", "pretrain_results", "report"))
    write_run(runs, "state", 0, [0.0, 0.5, 1.0])
    write_run(runs, "state", 1, [0.0, 0.3, 0.8])
    write_run(runs, "latent_vae", 0, [0.0, 0.1, 0.2, 0.4], every=50)  # different eval grid is fine
    (encoders / "vae").mkdir(parents=True)
    (encoders / "vae" / "metrics.json").write_text(
        json.dumps({"probe_object_mm": 12.3, "probe_gripper_mm": 4.5, "latent_dim": 16})
    )
    (encoders / "vae" / "pictures").mkdir()
    (encoders / "vae" / "pictures" / "reconstructions.png").write_bytes(b"")
    for seed, final in enumerate(SPREAD[:5]):
        write_run(runs, "blind", seed, [0.0, final / 2, final])
    (runs / "state" / "1" / "rollout.gif").write_bytes(b"GIF89a")  # only seed 1 of state has a rollout picture
    write_run(runs, "not_asked_for", 0, [0.0, 1.0])  # a folder outside policy.run x policy.seeds: not in the report
    report_main(["--params", str(write_params(tmp_path, p))])
    md = (report / "report.md").read_text()
    assert "not_asked_for" not in md and "`state` seed 3: " in md
    assert "## Rollouts" in md and "![state seed 1](../runs/state/1/rollout.gif)" in md and "blind seed" not in md
    assert (
        "| state | 2 (missing: seed 2, 3, 4) | 200 | 0.90 (mean of 2: 0.80, 1.00) | — (2 seeds < 5: no interval) |"
        in md
    )
    assert "| latent_vae | 1 (missing: seed 1, 2, 3, 4) | 150 | 0.40 (1 seed) | — (1 seed < 5: no interval) |" in md
    assert "| blind | 5 | 200 | 0.60 (IQM of 5: 0.10, 0.40, 0.50, 0.90, 0.95) | [" in md and "(IQM, 5 seeds) |" in md
    assert "12.3" in md and "reconstructions" in md
    assert (report / "success.png").stat().st_size > 1000
    flat = json.loads((report / "metrics.json").read_text())
    assert set(flat["policy"]) == {"state", "latent_vae", "blind"}
    expected_keys = {"final_success", "aggregate", "seeds", "ci_low", "ci_high", "fps", "replay_bytes_per_transition"}
    assert set(POLICY_KEYS) == expected_keys
    assert all(set(entry) == expected_keys for entry in flat["policy"].values())
    state = flat["policy"]["state"]
    assert state["final_success"] == pytest.approx(0.9) and state["aggregate"] == "mean" and state["seeds"] == 2
    assert state["ci_low"] is None and state["ci_high"] is None
    assert state["fps"] == pytest.approx(100.5) and state["replay_bytes_per_transition"] == pytest.approx(200.0)
    tqc = flat["policy"]["blind"]
    assert tqc["aggregate"] == "IQM" and tqc["seeds"] == 5 and isinstance(tqc["seeds"], int)
    assert tqc["final_success"] == pytest.approx(0.6) and tqc["ci_low"] < tqc["final_success"] < tqc["ci_high"]
    assert flat["pretrain"]["vae"]["probe_object_mm"] == pytest.approx(12.3)
    with (report / "curves" / "state.csv").open() as f:
        assert [float(r["success"]) for r in csv.DictReader(f)] == pytest.approx([0.0, 0.4, 0.9])


def test_experience_column_names_demonstrations() -> None:
    v = summary("latent", [0.5, 0.7])
    v.metrics = [
        {
            "warmup": "scripted",
            "warmup_steps": 5000,
            "prior_transitions": 120,
            "prior_policy": "uniform_random+scripted_pusher(fraction=0.5, noise=0.3)",
        }
    ] * 2
    assert v.row()["experience"] == (
        "120 prior dataset transitions (demonstrations); scripted warm-up (demonstrations), 5000 steps"
    )
    v.metrics = [{"warmup": "random", "warmup_steps": 1000}]
    assert v.row()["experience"] == "random warm-up"


STAGE_METRICS = {  # a metrics.json as the pretrain stage writes it (trainable encoder, visibility labels, MLP probe)
    "encoder": "spatial_ae",
    "latent_dim": 32,
    "train_seconds": 81.5,
    "val_loss": 0.0123,
    "epochs": 3,
    "steps": 600,
    "train_frames_per_s": 410.2,
    **{f"probe_{b}_{k}": v for b in ("object", "gripper") for k, v in (("mm", 26.4), ("median_mm", 9.1), ("r2", 0.9))},
    **{f"probe_{b}_alpha": 10.0 for b in ("object", "gripper", "object_visible")},
    **{f"mean_{b}_{k}": v for b in ("object", "gripper") for k, v in (("mm", 120.0), ("r2", -0.001))},
    **{f"probe_{b}_mlp_{k}": 20.0 for b in ("object", "gripper", "object_visible") for k in ("mm", "median_mm")},
    "visible_share": 0.8,
    "probe_object_visible_mm": 8.4,
    "probe_object_visible_median_mm": 7.0,
    "random_object_mm": 140.0,
    "random_gripper_mm": 90.0,
    "random_object_mlp_mm": 100.0,
}


def test_encoder_metrics_round_trip_the_stage_file() -> None:
    m = EncoderMetrics.from_metrics(STAGE_METRICS)
    assert m.to_metrics() == STAGE_METRICS  # every key the stage writes is a field, nothing added
    assert m.probe.probe_object_visible_mlp_median_mm == 20.0 and m.steps == 600 and m.random_object_mm == 140.0


def test_older_metrics_files_stay_readable(tmp_path: Path) -> None:
    """The first pretrain stage wrote no medians, penalties, visible or MLP probes; a frozen encoder no stats."""
    old = {k: v for k, v in STAGE_METRICS.items() if k.endswith(("_mm", "_r2")) and "median" not in k}
    old = {k: v for k, v in old.items() if "mlp" not in k and "visible" not in k}
    old.update(encoder="frozen", latent_dim=512, train_seconds=2.0)
    (tmp_path / "frozen").mkdir()
    (tmp_path / "frozen" / "metrics.json").write_text(json.dumps(old))
    (tmp_path / "bare").mkdir()
    (tmp_path / "bare" / "metrics.json").write_text(json.dumps({"probe_object_mm": 1.5}))
    bare, frozen = load_encoders(tmp_path)
    assert frozen.to_metrics() == old and frozen.steps is None and frozen.probe.probe_object_visible_mm is None
    assert bare.encoder == "bare" and bare.probe == ProbeReport(probe_object_mm=1.5)  # named after its folder
    with pytest.raises(ValueError, match="encoder"):
        EncoderMetrics.from_metrics({"probe_object_mm": 1.5})
