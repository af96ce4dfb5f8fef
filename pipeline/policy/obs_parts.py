"""The pure pieces of a goal-conditioned observation, shared by the vec env and the benchmarks: the frame history, the
occlusion hold, a noisy object estimate, and the arm poses of goal images."""

from __future__ import annotations

import numpy as np

from pipeline.policy.blocks import ObjectEstimateConfig

ARM_BOX = np.array([[-0.15, -0.15, 0.0], [0.15, 0.15, 0.2]])
"""goal images: the gripper is moved to the initial gripper position plus an offset drawn uniformly from this box
(metres; low row, high row), independently of the episode, so the arm's pose in a goal image says nothing"""
GOAL_POSE_TRIES = 16
"""goal images: arm poses drawn per goal, tried in order until the block is in view (``goal_min_visible``)"""


def shifted(history: np.ndarray, newest: np.ndarray, restart: np.ndarray | None = None) -> np.ndarray:
    """Per-env history ``(n, k, D)`` with the oldest entry dropped and ``newest`` ``(n, D)`` appended.

    Rows in ``restart`` (envs whose episode just began) hold ``newest`` repeated ``k`` times instead.
    Serves the latent frame stack and the achieved-goal window alike.
    """
    out = np.concatenate([history[:, 1:], newest[:, None]], axis=1)  # (n, k, D)
    if restart is not None:
        out[restart] = newest[restart, None]  # (len(restart), k, D) by broadcasting
    return out


def sighted(points: np.ndarray, in_sight: np.ndarray, held: np.ndarray) -> np.ndarray:
    """Goal-space points ``(m, G)``, each replaced by ``held`` ``(m, G)`` (the last point in sight) where its frame is
    out of sight (``in_sight`` ``(m,)`` False): ``occluded_goal: hold``."""
    return np.where(np.asarray(in_sight)[:, None], points, held)  # (m, 1) picks (m, G) rows


def estimate_object(
    cfg: ObjectEstimateConfig, rng: np.random.Generator, pos: np.ndarray, gripper: np.ndarray
) -> np.ndarray:
    """Block positions ``(m, 3)`` corrupted by an ``object_estimate`` error model, ``(m, 3)`` (``gripper``: the gripper
    positions, ``(m, 3)``, for misreads only near the block)."""
    est = pos + rng.normal(0.0, cfg.std, pos.shape)
    gross = rng.random(len(pos)) < cfg.outliers  # (m,) which estimates are misreads
    if cfg.outliers_near is not None:
        gross &= np.linalg.norm(gripper[:, :2] - pos[:, :2], axis=1) < cfg.outliers_near
    est[gross, :2] = pos[gross, :2] + rng.normal(0.0, cfg.outlier_std, (int(gross.sum()), 2))
    return est.astype(np.float32)
