"""Equal-wall-clock runs and the study's final evaluation: a variant's ``wall_minutes`` stops training cleanly at an
evaluation (by the clock, even before ``policy.eval_every`` env steps), stays spent on a resume, and a larger budget
continues the same checkpoint; ``policy.final_eval_episodes`` evaluates the final policy on fixed episodes with a Wilson
interval."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from pipeline.config import Params
from pipeline.policy.eval_loop import WALL_EVALS, EvalCheckpointCallback

from .policy_helpers import policy_params, read_eval, run_policy


def budget_params(tmp_path: Path, minutes: float | None, **policy: object) -> Params:
    p = policy_params(tmp_path, **policy)
    p["policy"]["variants"]["state"]["wall_minutes"] = minutes
    return Params.model_validate(p)


def test_wall_budget_stops_at_an_evaluation_and_stays_spent(tmp_path: Path, capsys) -> None:
    params = budget_params(tmp_path, 1e-5)  # spent by the first env step after the start's evaluation
    metrics = run_policy(params, "state")
    run_dir = params.paths.runs / "state" / "0"
    # stopped by the clock at its first step (2 envs), evaluated there, not at policy.eval_every (100) env steps
    assert metrics["total_steps"] == 2 < params.policy.eval_every and metrics["stopped_by_wall_budget"]
    assert [int(r["step"]) for r in read_eval(run_dir)] == [0, 2]  # stopped at the evaluation, none added after
    again = run_policy(params, "state")  # the stage rerun: the budget is still spent, nothing more is trained
    assert "resuming state/0 from step 2" in capsys.readouterr().out
    assert again["total_steps"] == 2 and [int(r["step"]) for r in read_eval(run_dir)] == [0, 2]
    more = run_policy(budget_params(tmp_path, 1000.0), "state")  # a larger budget resumes the same checkpoint
    assert "resuming state/0 from step 2" in capsys.readouterr().out
    assert more["total_steps"] == 300 and not more["stopped_by_wall_budget"]
    assert [int(r["step"]) for r in read_eval(run_dir)] == [0, 2, 100, 200, 300]


@pytest.mark.parametrize(
    ("budget_s", "prior_s", "elapsed_s", "last_eval_s", "due"),
    [
        (60.0, 0.0, 9.0, 0.0, False),  # evaluations every 10 s of a 60 s budget: not yet
        (60.0, 0.0, 10.5, 0.0, True),
        (60.0, 0.0, 10.6, 10.5, False),  # just evaluated: the next is at 20 s
        (60.0, 25.0, 4.0, 0.0, False),  # resumed from a checkpoint written at 25 s: the next is at 30 s
        (60.0, 25.0, 6.0, 0.0, True),
        (None, 0.0, 1e6, 0.0, False),  # no budget: evaluations by env steps only
    ],
)
def test_a_budgeted_run_evaluates_by_the_clock(budget_s, prior_s, elapsed_s, last_eval_s, due) -> None:
    """A pixel agent may not reach ``policy.eval_every`` env steps within its budget: it still evaluates and
    checkpoints every ``1 / WALL_EVALS`` of it, resumes included."""
    assert WALL_EVALS == 6
    callback = EvalCheckpointCallback(None, Path("."), Path("."), 100, 2, {}, budget_s)  # type: ignore[arg-type]
    callback.prior_wall, callback.last_wall = prior_s, last_eval_s
    callback.t0 = time.perf_counter() - elapsed_s
    assert callback.wall_eval_due() is due


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
