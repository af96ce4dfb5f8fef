"""Equal-wall-clock runs and the study's final evaluation: a variant's ``wall_minutes`` stops training cleanly at an
evaluation, stays spent on a resume, and a larger budget continues the same checkpoint; ``policy.final_eval_episodes``
evaluates the final policy on fixed episodes with a Wilson interval."""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.config import Params

from .test_policy import policy_params, read_eval, run_policy


def budget_params(tmp_path: Path, minutes: float | None, **policy: object) -> Params:
    p = policy_params(tmp_path, **policy)
    p["policy"]["variants"]["state"]["wall_minutes"] = minutes
    return Params.model_validate(p)


def test_wall_budget_stops_at_an_evaluation_and_stays_spent(tmp_path: Path, capsys) -> None:
    params = budget_params(tmp_path, 1e-5)  # spent by the first evaluation after the start
    metrics = run_policy(params, "state")
    run_dir = params.paths.runs / "state" / "0"
    assert metrics["total_steps"] == 100 < params.policy.total_steps and metrics["stopped_by_wall_budget"]
    assert [int(r["step"]) for r in read_eval(run_dir)] == [0, 100]  # stopped at the evaluation, none added after
    again = run_policy(params, "state")  # the stage rerun: the budget is still spent, nothing more is trained
    assert "resuming state/0 from step 100" in capsys.readouterr().out
    assert again["total_steps"] == 100 and [int(r["step"]) for r in read_eval(run_dir)] == [0, 100]
    more = run_policy(budget_params(tmp_path, 1000.0), "state")  # a larger budget resumes the same checkpoint
    assert "resuming state/0 from step 100" in capsys.readouterr().out
    assert more["total_steps"] == 300 and not more["stopped_by_wall_budget"]
    assert [int(r["step"]) for r in read_eval(run_dir)] == [0, 100, 200, 300]


def test_final_evaluation_on_fixed_episodes_with_a_wilson_interval(tmp_path: Path) -> None:
    from pipeline.report.route import final_on_many

    params = budget_params(tmp_path, None, total_steps=100, final_eval_episodes=4)
    metrics = run_policy(params, "state")
    run_dir = params.paths.runs / "state" / "0"
    low, high = metrics["final_eval_ci95"]
    assert metrics["final_eval_episodes"] == 4
    assert 0.0 <= low <= metrics["final_eval_success"] <= high <= 1.0 and high - low > 0.3  # 4 episodes: wide
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["final_eval_ci95"] == [low, high] and summary["final_eval_success"] == metrics["final_eval_success"]
    assert final_on_many(run_dir) == {"episodes": 4, "success": metrics["final_eval_success"], "ci": (low, high)}
    assert "final_eval_success" not in run_policy(budget_params(tmp_path / "none", None, total_steps=100), "state")
