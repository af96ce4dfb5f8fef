"""Deterministic evaluation on fixed seeds, disjoint from the training seeds."""

from __future__ import annotations

import numpy as np
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import VecEnv

EVAL_SEED_BASE = 1_000_000
"""Eval episode ``k`` resets with seed ``EVAL_SEED_BASE + k``; training envs use ``seed + i`` (small)."""


def evaluate(model: BaseAlgorithm, env: VecEnv, episodes: int) -> dict[str, float]:
    """Run ``episodes`` deterministic episodes; success and final object-goal distance (metres) from the env."""
    successes, distances = [], []
    n = env.num_envs
    for first in range(0, episodes, n):
        env.seed(EVAL_SEED_BASE + first)
        obs = env.reset()
        finished = np.zeros(n, bool)
        while not finished.all():
            action, _ = model.predict(obs, deterministic=True)
            obs, _, dones, infos = env.step(action)
            for i in np.flatnonzero(dones & ~finished):
                if first + i < episodes:
                    successes.append(float(infos[i]["is_success"]))
                    distances.append(float(infos[i]["goal_distance"]))
            finished |= dones
    return {"success": float(np.mean(successes)), "final_object_distance": float(np.mean(distances))}
