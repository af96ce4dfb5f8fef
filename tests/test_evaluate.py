"""Re-evaluating a run's checkpoint on more episodes (``python -m pipeline.policy.evaluate``)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from pipeline.config import Params
from pipeline.policy.evaluate import evaluate, success_interval
from pipeline.policy.evaluate import main as evaluate_main

from .conftest import write_params
from .policy_helpers import policy_params, run_policy


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
    assert again["reward_success"] == pytest.approx(float(last["reward_success"]))
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


class ScriptedEnv:
    """Two envs whose episodes end at step 3 with given last rewards and success flags (first: success only,
    second: the agent's own reward only), as a RIG agent whose latent goal and true goal disagree."""

    num_envs = 2

    def seed(self, seed: int) -> None:
        self.t = 0

    def reset(self) -> dict:
        return {"observation": np.zeros((2, 1))}

    def step(self, action: np.ndarray):
        self.t += 1
        done = self.t == 3
        rewards = np.array([-1.0, 0.0]) if done else np.zeros(2)  # reached mid-episode does not count
        infos = [{"is_success": 1.0, "goal_distance": 0.01}, {"is_success": 0.0, "goal_distance": 0.2}]
        return self.reset(), rewards, np.array([done, done]), infos


class ZeroModel:
    def predict(self, obs: dict, deterministic: bool):
        return np.zeros((2, 4)), None


def test_reward_success_is_the_last_steps_own_reward_not_the_true_success() -> None:
    result = evaluate(ZeroModel(), ScriptedEnv(), episodes=4)
    assert result["success"] == 0.5 and result["reward_success"] == 0.5
    result = evaluate(ZeroModel(), ScriptedEnv(), episodes=1)  # only the first env's episode counts
    assert result["success"] == 1.0 and result["reward_success"] == 0.0
    assert result["final_object_distance"] == pytest.approx(0.01)
