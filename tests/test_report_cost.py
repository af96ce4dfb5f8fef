"""The report's cost side: route hours charge latent runs their collect and pretraining, per-seed steps to 50 / 90 %,
the final on many fixed episodes with its Wilson interval, and the published reference curve."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from pipeline.pretrain.metrics import EncoderMetrics
from pipeline.report.__main__ import main as report_main
from pipeline.report.route import PUBLISHED, route_charge

from .conftest import tiny_params_dict, write_params


def write_run(root: Path, variant: str, seed: int, rows: list[tuple[int, float, float]], **metrics: object) -> Path:
    """A run folder: ``eval.csv`` rows (step, success, wall seconds) and ``metrics.json``."""
    run = root / variant / str(seed)
    run.mkdir(parents=True)
    with (run / "eval.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["step", "success", "final_object_distance", "train_seconds", "reward_success", "wall_seconds"])
        w.writerows([step, s, 0.1, wall, s, wall] for step, s, wall in rows)
    (run / "metrics.json").write_text(json.dumps({"final_success": rows[-1][1], **metrics}))
    return run


def test_route_hours_charge_the_latent_route_its_collect_and_pretraining(tmp_path: Path) -> None:
    p = tiny_params_dict(tmp_path, policy={"run": ["latent_vae", "state"], "seeds": [0, 1]})
    paths = {k: Path(v) for k, v in p["paths"].items()}
    # the encoder's record in git (paths.pretrain_results) is all the report reads: no dataset, no encoder weights
    (paths["pretrain_results"] / "vae").mkdir(parents=True)
    record = {"latent_dim": 16, "train_seconds": 3600.0, "collect_seconds": 1800.0}
    (paths["pretrain_results"] / "vae" / "metrics.json").write_text(json.dumps(record))
    lat = [(0, 0.0, 0.0), (100, 0.6, 1800.0), (200, 0.95, 3600.0)]
    write_run(paths["runs"], "latent_vae", 0, lat, encoder="vae", peak_rss_mb=1000.0)
    run1 = write_run(
        paths["runs"],
        "latent_vae",
        1,
        [(0, 0.0, 0.0), (100, 0.2, 1800.0), (200, 0.4, 3600.0)],
        encoder="vae",
        peak_rss_mb=3000.0,
    )
    (run1 / "eval_100.json").write_text(json.dumps({"episodes": 100, "success": 0.41, "success_ci95": [0.32, 0.51]}))
    for seed in (0, 1):
        write_run(paths["runs"], "state", seed, [(0, 0.0, 0.0), (100, 0.9, 360.0), (200, 1.0, 720.0)])
    report_main(["--params", str(write_params(tmp_path, p))])
    md = (paths["report"] / "report.md").read_text()
    # latent seed 0 first reaches 0.9 at step 200, after 3600 s of its own + 1800 s collect + 3600 s pretraining
    assert "| latent_vae | 100, — | 200, — | 2.50, — | collect 0.50 h + pretrain 1.00 h | 2000 |" in md
    assert "| —; 0.41 [0.32, 0.51] of 100 |" in md  # seed 0 has no many-episode evaluation
    assert "| state | 100, 100 | 100, 100 | 0.10, 0.10 | — | — | — (not evaluated) |" in md
    published = next(line for line in md.splitlines() if line.startswith("| pixels, seed study (published"))
    assert "~40 per seed" in published and "40,000-80,000" in published and published.count("|") == 8
    summary = (paths["report"] / "summary.md").read_text()  # README's results: the cost table beside the seed study
    assert "| latent_vae | 100, — | 200, — | 2.50, — |" in summary and published in summary
    assert "success.png)" in summary and "success_hours.png)" in summary
    for png in ("success_hours.png", "success_published.png"):
        assert (paths["report"] / png).stat().st_size > 1000


def test_charge_names_what_was_not_recorded(tmp_path: Path) -> None:
    older = EncoderMetrics(encoder="vae", train_seconds=7200.0)  # a record from before collect_seconds
    charge = route_charge("vae", [older])
    assert route_charge(None, [older]).total_s == 0.0 and route_charge("vae", []).note().count("not recorded") == 2
    assert charge.total_s == pytest.approx(7200.0) and charge.note() == "collect not recorded + pretrain 2.00 h"


def test_published_reference_is_the_seed_studys_curve() -> None:
    pixels, state = PUBLISHED
    assert "not run here" in pixels[0] and pixels[1][-1] == (3_500_000, 0.96) and state[1] == ((2_000_000, 0.89),)
