"""``python -m pipeline.profile --cost``: the study's cost from the speeds its committed runs measured."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from pipeline.cost import encoder_hours, run_hours, steps_per_s, study_cost
from pipeline.params import deep_merge, read_yaml
from pipeline.profile import merged

ROOT = Path(__file__).resolve().parents[1]
PARAMS = read_yaml(ROOT / "params.yaml")
POL = PARAMS["policy"]


def resolved(name: str) -> dict:
    return deep_merge(POL["defaults"], POL["variants"][name])


def test_the_study_line_counts_its_runs_and_names_the_wall_budgets() -> None:
    line = study_cost(PARAMS)
    assert f"= {len(POL['run']) * len(POL['seeds'])} policy runs" in line
    assert "pixel_nature, pixel_manip_ss stopped at their wall_minutes" in line
    assert "stopped at" not in study_cost(merged("gpu", ROOT))  # the GPU profile: equal env steps
    assert "= 2 policy runs" in study_cost(merged("quick", ROOT)) and "min of runs" in study_cost(merged("quick", ROOT))


def test_more_gradient_steps_and_a_bigger_encoder_cost_more() -> None:
    one = {"obs": "latent", "encoder": "spatial_ae", "sac": {"gradient_steps": 1}}
    two = deep_merge(one, {"sac": {"gradient_steps": 2}})
    assert steps_per_s(two, 2) < steps_per_s(one, 2)
    assert steps_per_s(two, 1) < steps_per_s(two, 2)  # one env: an update per env step, not per two
    assert steps_per_s(resolved("latent_frozen"), 2) < steps_per_s(resolved("latent_supervised"), 2)
    unknown = {"obs": "latent", "encoder": "not_measured"}
    assert steps_per_s(unknown, 2) == steps_per_s({"obs": "latent", "encoder": "supervised"}, 2)


def test_wall_time_is_never_shorter_than_an_encoder_then_its_run() -> None:
    route = merged("label_free_route", ROOT)  # one encoder, one run: nothing to do side by side
    pol = route["policy"]
    variant = deep_merge(pol["defaults"], pol["variants"]["latent_spatial_ae"])
    run_h = run_hours(pol, variant, steps_per_s(variant, int(pol["n_envs"])))
    chain = run_h + encoder_hours(route["pretrain"], "spatial_ae")
    assert f"~{chain:.1f} h wall time" in study_cost(route)


def test_a_wall_budget_caps_a_run() -> None:
    pixel = resolved("pixel_nature")
    assert run_hours(POL, pixel, steps_per_s(pixel, 2)) == pytest.approx(pixel["wall_minutes"] / 60)
    assert run_hours(POL, {}, 1.0) == pytest.approx(POL["total_steps"] / 3600)


def measured_minutes(variant: str) -> list[float] | None:
    """Wall minutes of each of a committed study variant's runs, if every seed finished."""
    minutes = []
    for seed in POL["seeds"]:
        path = ROOT / "results" / "runs" / variant / str(seed) / "eval.csv"
        if not (path.parent / "summary.json").is_file():
            return None
        with path.open() as f:
            minutes.append(float(list(csv.DictReader(f))[-1]["wall_seconds"]) / 60)
    return minutes


LOADED = {"rig_vae": "seeds 0-1 (49 min) beside a pretraining, seed 2 (25 min) alone: notebook 14, session 7"}
"""Variants whose seeds ran under different loads: their mean says little, so the model must lie in their range."""

FASTER_MACHINE = {
    "rig_spatial_ae_keypoints_obs_hold": "every seed on the machine of sessions 7-9 (31 min a run); the model's "
    "spatial_ae speed is latent_spatial_ae's on the first machine, where the pixel agents reached 1.6-1.8x fewer "
    "env steps than on this one in equal wall time: notebook 14",
}
"""Variants measured only on a faster machine than the one the model is calibrated on: the model may take longer, up
to 2.5x (the machines' measured gap, 1.8x, with room for a workload that gains more), never 20 % less."""


@pytest.mark.parametrize("variant", POL["run"])
def test_the_speeds_agree_with_the_committed_study(variant: str) -> None:
    """The cost model is the committed study's measurement: within 20 % of each finished variant's mean wall time,
    or of its runs' range for a LOADED variant (seeds beside a third process and the pixel runs' last evaluation make
    up the rest), or at most 2.5x slower for one measured only on a FASTER_MACHINE."""
    runs = measured_minutes(variant)
    if runs is None:
        pytest.skip(f"{variant}: not every seed has finished in results/runs")
    model = 60 * run_hours(POL, resolved(variant), steps_per_s(resolved(variant), int(POL["n_envs"])))
    if variant in FASTER_MACHINE:
        mean = sum(runs) / len(runs)
        why = f"{variant}: model {model:.1f} min, study {mean:.1f} min ({FASTER_MACHINE[variant]})"
        assert 0.8 * mean <= model <= 2.5 * mean, why
        return
    if variant in LOADED:
        why = f"{variant}: model {model:.1f} min, study {runs} ({LOADED[variant]})"
        assert 0.8 * min(runs) <= model <= 1.2 * max(runs), why
        return
    measured = sum(runs) / len(runs)
    assert model == pytest.approx(measured, rel=0.2), f"{variant}: model {model:.1f} min, study {measured:.1f} min"
