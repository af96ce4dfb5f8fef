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
    params = budget_params(tmp_path, None, total_steps=100, final_eval_episodes=4)
    metrics = run_policy(params, "state")
    run_dir = params.paths.runs / "state" / "0"
    record = json.loads((run_dir / "final_eval.json").read_text())
    low, high = record["success_ci95"]
    assert record["episodes"] == 4 and record["step"] == 100
    assert 0.0 <= low <= record["success"] <= high <= 1.0 and high - low > 0.3  # 4 episodes: a wide interval
    assert metrics["final_eval_success"] == record["success"] and metrics["final_eval_episodes"] == 4
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["final_eval_ci95"] == [low, high]
    assert not (budget_params(tmp_path / "none", None).policy.final_eval_episodes)  # 0 by default: no file
