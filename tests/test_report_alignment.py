"""Seeds that evaluate at different env steps (wall-budgeted pixel runs stop by the clock), and the final success on
many fixed episodes: the report aligns seeds on the union of their steps, holding each seed's latest evaluation."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from pipeline.report.__main__ import main as report_main
from pipeline.report.aggregate import VariantSummary, scan_runs
from pipeline.report.stats import align_curves

from .conftest import tiny_params_dict, write_params
from .test_report_cost import write_run


def test_align_holds_each_seeds_latest_evaluation_and_ends_at_its_last() -> None:
    steps, values = align_curves([{0: 0.0, 700: 0.5, 1400: 0.6}, {0: 0.1, 650: 0.2, 1300: 0.9, 1950: 1.0}])
    assert steps.tolist() == [0, 650, 700, 1300, 1400, 1950]
    assert values[0].tolist()[:5] == [0.0, 0.0, 0.5, 0.5, 0.6] and np.isnan(values[0, 5])  # ended at 1400
    assert values[1].tolist() == [0.1, 0.2, 0.2, 0.9, 0.9, 1.0]
    # held, never interpolated: seed 1 reaches 0.9 at its own evaluation (1300), not between 650 and 1300
    assert steps[np.flatnonzero(values[1] >= 0.9)[0]] == 1300


def test_equal_grids_are_unchanged() -> None:
    curves = [{0: 0.0, 100: 0.4, 200: 0.8}, {0: 0.1, 100: 0.3, 200: 0.9}]
    steps, values = align_curves(curves)
    assert steps.tolist() == [0, 100, 200] and values.tolist() == [[0.0, 0.4, 0.8], [0.1, 0.3, 0.9]]


def write_budgeted_run(runs: Path, variant: str, seed: int, rows: list[tuple[int, float, float]]) -> None:
    """A run that evaluated at (step, success, wall seconds) and wrote its final evaluation on 100 episodes."""
    final = {"final_eval_success": 0.07 + seed * 0.02, "final_eval_ci95": [0.03, 0.14], "final_eval_episodes": 100}
    write_run(runs, variant, seed, rows, wall_time_s=rows[-1][2], **final)


def test_wall_budgeted_seeds_that_stop_at_different_steps_keep_their_finals(tmp_path: Path) -> None:
    """The regression: aligned on the steps all seeds share (only 0), a pixel row read "0 steps, success 0.05"."""
    p = tiny_params_dict(tmp_path, policy={"run": ["pixel_nature"], "seeds": [0, 1]})
    runs, report = Path(p["paths"]["runs"]), Path(p["paths"]["report"])
    write_budgeted_run(runs, "pixel_nature", 0, [(0, 0.05, 5.0), (2104, 0.10, 720.0), (4210, 0.20, 1440.0)])
    write_budgeted_run(runs, "pixel_nature", 1, [(0, 0.05, 5.0), (1990, 0.05, 720.0), (3998, 0.15, 1440.0)])
    (variant,), skipped = scan_runs(runs, ["pixel_nature"], [0, 1])
    assert not skipped and variant.steps.tolist() == [0, 1990, 2104, 3998, 4210]
    last_steps, last_success = variant.last_evaluations()
    assert last_steps.tolist() == [4210, 3998] and last_success.tolist() == [0.20, 0.15]
    assert np.isnan(variant.aggregate_curve()[-1])  # past seed 1's last evaluation: no aggregate
    row = variant.row()
    assert row["final_steps"] == "3998-4210" and row["final_episodes"] == 100
    assert row["final_per_seed"] == pytest.approx([0.07, 0.09])  # the 100-episode finals, not the last 20-episode
    report_main(["--params", str(write_params(tmp_path, p))])
    md = (report / "report.md").read_text()
    assert "| pixel_nature | 2 | 3998-4210 | 0.08 (mean of 2, 100 episodes each: 0.07, 0.09) |" in md
    with (report / "curves" / "pixel_nature.csv").open() as f:
        assert [int(r["step"]) for r in csv.DictReader(f)] == [0, 1990, 2104, 3998]  # no NaN rows


def test_finals_fall_back_to_the_last_evaluation_unless_every_seed_has_the_same_episodes() -> None:
    success = np.array([[0.0, 0.5, 0.9], [0.0, 0.4, 0.8]])
    many = {"episodes": 100, "success": 0.95, "ci": (0.9, 0.98)}
    for finals_many, expected, episodes in [
        ([many, many], [0.95, 0.95], 100),
        ([many, None], [0.9, 0.8], None),  # one seed without: the last evaluations, for every seed
        ([many, {**many, "episodes": 200}], [0.9, 0.8], None),
    ]:
        v = VariantSummary("v", [0, 1], np.array([0, 100, 200]), success, finals_many=finals_many)
        finals, n = v.finals()
        assert finals.tolist() == expected and n == episodes
