"""Re-evaluating a run's checkpoint on more episodes (``python -m pipeline.policy.evaluate``)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from pipeline.config import Params
from pipeline.policy.evaluate import main as evaluate_main
from pipeline.policy.evaluate import success_interval

from .conftest import write_params
from .test_policy import policy_params, run_policy


def test_reevaluation_reproduces_the_runs_own_and_extends_it(tmp_path: Path, capsys) -> None:
    p = policy_params(tmp_path, total_steps=200, eval_episodes=3, rollout_episodes=0)
    params = Params.model_validate(p)
    run_policy(params, "state", seed=0)
    run = params.paths.runs / "state" / "0"
    with (run / "eval.csv").open() as f:
        last = list(csv.DictReader(f))[-1]
    path = str(write_params(tmp_path, p))
    evaluate_main(["--variant", "state", "--seed", "0", "--episodes", "3", "--params", path])
    again = json.loads((run / "eval_3.json").read_text())
    assert again["step"] == int(last["step"]) == 200
    assert again["success"] == pytest.approx(float(last["success"]))  # the same fixed episodes, deterministic
    assert again["final_object_distance"] == pytest.approx(float(last["final_object_distance"]), abs=1e-9)
    evaluate_main(["--variant", "state", "--seed", "0", "--episodes", "6", "--params", path])
    more = json.loads((run / "eval_6.json").read_text())
    low, high = more["success_ci95"]
    assert more["episodes"] == 6 and low <= more["success"] <= high
    assert "evaluate state/0 at step 200" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        evaluate_main(["--variant", "state", "--seed", "1", "--params", path])  # no such run


def test_success_interval_is_wilsons() -> None:
    low, high = success_interval(0.2, 100)
    assert 0.13 < low < 0.14 and 0.28 < high < 0.29  # Wilson 95 % for 20 / 100: 0.133-0.289
    assert success_interval(0.0, 20)[0] == 0.0 and success_interval(1.0, 20)[1] == pytest.approx(1.0)
