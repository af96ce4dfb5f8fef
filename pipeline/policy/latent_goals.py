"""RIG latent goals: the sparse reward on goal-space points, and the threshold that matches the task's radius."""

from __future__ import annotations

import numpy as np

from pipeline.encoders import LoadedEncoder
from pipeline.envs import EnvConfig, FetchPixelEnv
from pipeline.goalspace import GoalSpace, LatentGoalSpace


def latent_reward(achieved: np.ndarray, desired: np.ndarray, threshold: float) -> np.ndarray:
    """Sparse RIG reward on latents, batched: 0 within ``threshold`` (L2), else -1. Shapes ``(..., L)``."""
    dist = np.linalg.norm(np.asarray(achieved) - np.asarray(desired), axis=-1)
    return -(dist > threshold).astype(np.float32)


def calibrate_latent_threshold(
    env_cfg: EnvConfig, encoder: LoadedEncoder, episodes: int = 16, seed: int = 123, goal_space: GoalSpace | None = None
) -> float:
    """Goal-space distance that corresponds to the task's success radius: median over random goals of
    ``d(goal image, object moved distance_threshold away)`` (same arm pose in both; default: the whole latent)."""
    env = FetchPixelEnv(env_cfg)
    rng = np.random.default_rng(seed)
    radius = env.fetch.distance_threshold
    a, b = [], []
    for e in range(episodes):
        obs, _ = env.reset(seed=seed + e)
        goal = obs["desired_goal"]
        angle = rng.uniform(0, 2 * np.pi)
        a.append(env.render_with_object_at(goal))
        b.append(env.render_with_object_at(goal + radius * np.array([np.cos(angle), np.sin(angle), 0.0])))
    env.close()
    space = goal_space or LatentGoalSpace(encoder.latent_dim)
    return float(np.median(space.distance(encoder.encode(np.stack(a)), encoder.encode(np.stack(b)))))
