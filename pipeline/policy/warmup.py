"""The scripted warm-up: the collect stage's noisy pusher chooses the first ``learning_starts`` actions.

The pusher reads the simulator's gripper, object and goal positions, so it is a (weak, ~11 % success on
Push) demonstrator. It only picks actions: the agent stores the transitions they produce and learns from
them like from any other (HER relabels them), and no network ever sees the script's inputs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from pipeline.collect.rollout import scripted_action

RawSource = Callable[[], dict[str, np.ndarray]]
"""Returns the simulator's current ``proprio`` (n, 10), ``achieved_goal`` (n, 3), ``desired_goal`` (n, 3)."""


def scripted_warmup(source: RawSource | None, noise: float, has_object: bool, seed: int) -> Callable[[Any], np.ndarray]:
    """``warmup`` of :class:`~pipeline.policy.agent.Harness`: one pusher action per env, ``(n, 4)``.

    :param source: the envs' raw simulator observations (never the agent's observation); None: the agent's own
        observation carries them (pixel agents' ``proprio`` and vector goals)
    :param noise: std of the Gaussian action noise
    :param has_object: push the object (Push, PickAndPlace, Slide) or reach the goal (Reach)
    :param seed: seed of the noise
    """
    rng = np.random.default_rng(seed)

    def actions(last_obs: Any) -> np.ndarray:
        raw = last_obs if source is None else source()
        n = len(raw["desired_goal"])
        per_env = [{k: raw[k][i] for k in ("proprio", "achieved_goal", "desired_goal")} for i in range(n)]
        return np.stack([scripted_action(obs, rng, noise, has_object) for obs in per_env])  # (n, 4)

    return actions
