"""The final-state benchmark reads each episode's last reward, success and the visibility of the frame before it."""

from __future__ import annotations

import numpy as np

from .conftest import load_benchmark

bench = load_benchmark("rig_final_states")


class _Inner:
    def __init__(self, outer: _Env) -> None:
        self.outer = outer

    def env_method(self, name: str) -> list[float]:
        assert name == "object_visibility"
        return [0.1 * self.outer.t, 1.0]  # env 0: 0.0, 0.1, 0.2 in its 3 frames; env 1 in view


class _Env:
    """Two envs, episodes of 3 steps: env 0 ends truly at the goal but unrewarded, env 1 rewarded but not there."""

    num_envs = 2

    def __init__(self) -> None:
        self.venv, self.t = _Inner(self), 0

    def seed(self, seed: int) -> None:
        self.t = 0

    def reset(self) -> dict:
        return {"observation": np.zeros((2, 1))}

    def step(self, action: np.ndarray):
        self.t += 1
        done = self.t == 3
        rewards = np.array([-1.0, 0.0]) if done else np.zeros(2)
        return self.reset(), rewards, np.array([done, done]), [{"is_success": 1.0}, {"is_success": 0.0}]


class _Model:
    def predict(self, obs: dict, deterministic: bool):
        return np.zeros((2, 4)), None


def test_final_states_pair_success_reward_and_the_last_seen_frame() -> None:
    s = bench.final_states(_Model(), _Env(), episodes=3)
    np.testing.assert_array_equal(s["success"], [1.0, 0.0, 1.0])
    np.testing.assert_array_equal(s["reached"], [0.0, 1.0, 0.0])
    np.testing.assert_allclose(s["visible"], [0.2, 1.0, 0.2])  # the frame seen before the last step (t = 2)
