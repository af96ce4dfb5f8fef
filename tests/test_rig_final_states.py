"""The final-state benchmark reads each episode's last reward, success and the visibility of the frame before it."""

from __future__ import annotations

import numpy as np

from .conftest import load_benchmark
from .test_evaluate import ScriptedEnv, ZeroModel

bench = load_benchmark("rig_final_states")


class _Visibility:
    def __init__(self, outer: ScriptedEnv) -> None:
        self.outer = outer

    def env_method(self, name: str) -> list[float]:
        assert name == "object_visibility"
        return [0.1 * self.outer.t, 1.0]  # env 0: 0.0, 0.1, 0.2 in its 3 frames; env 1 in view


class _SeenEnv(ScriptedEnv):
    """env 0 ends truly at the goal but unrewarded, env 1 rewarded but not there; the block's visibility per frame."""

    def __init__(self) -> None:
        self.venv, self.t = _Visibility(self), 0


def test_final_states_pair_success_reward_and_the_last_seen_frame() -> None:
    s = bench.final_states(ZeroModel(), _SeenEnv(), episodes=3)
    np.testing.assert_array_equal(s["success"], [1.0, 0.0, 1.0])
    np.testing.assert_array_equal(s["reached"], [0.0, 1.0, 0.0])
    np.testing.assert_allclose(s["visible"], [0.2, 1.0, 0.2])  # the frame seen before the last step (t = 2)
    assert s["pictures"] == []  # vector goals: no goal image to show
