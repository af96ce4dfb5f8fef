"""Object keypoints chosen without labels: in random play the arm moves at every step while the block sits where
the episode put it, so a keypoint that follows the block barely moves within an episode but lands somewhere else
in each episode; one that follows the arm moves within every episode. Static background keypoints do neither."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.goalspace.base import GoalSpace
from pipeline.goalspace.config import GoalSpaceConfig
from pipeline.goalspace.data import FitData

KEYPOINT_ENCODERS = ("spatial_ae", "supervised")
"""encoders whose latent starts with ``2K`` spatial-softmax coordinates laid out ``[x_1..x_K, y_1..y_K]``"""
MOVING_MIN = 0.1
"""a keypoint counts as moving between episodes when its between-episode variance is at least this share of the
largest one (else it is background, whose variance ratio is noise over noise)"""


def keypoint_xy(z: np.ndarray, num_keypoints: int) -> np.ndarray:
    """``(N, >= 2K)`` latents -> ``(N, K, 2)`` keypoint coordinates."""
    k = num_keypoints
    return np.stack([z[:, :k], z[:, k : 2 * k]], axis=-1)  # (N, K) x2 -> (N, K, 2)


def motion_variances(xy: np.ndarray, episodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per keypoint: variance of the episode means (between) and mean variance about them (within), ``(K,)`` each."""
    _, inv = np.unique(episodes, return_inverse=True)
    counts = np.bincount(inv).astype(np.float64)  # (E,)
    means = np.zeros((len(counts), *xy.shape[1:]))  # (E, K, 2)
    np.add.at(means, inv, xy)
    means /= counts[:, None, None]
    within = ((xy - means[inv]) ** 2).sum(-1).mean(0)  # (N, K, 2) -> (K,)
    between = ((means - means.mean(0)) ** 2).sum(-1).mean(0)  # (E, K, 2) -> (K,)
    return between, within


def select_object_keypoints(xy: np.ndarray, episodes: np.ndarray, count: int) -> np.ndarray:
    """Indices (sorted) of the ``count`` moving keypoints with the largest between/within-episode variance ratio.

    Deterministic: no sampling; ties go to the lower index."""
    between, within = motion_variances(xy, episodes)
    moving = between >= MOVING_MIN * between.max()
    score = np.where(moving, between / (within + 1e-12), -np.inf)
    order = np.lexsort((np.arange(len(score)), -score))  # by score descending, then index
    return np.sort(order[: min(count, int(moving.sum()))])


class KeypointGoalSpace(GoalSpace):
    """The coordinates of the selected object keypoints only: the arm's keypoints do not enter the distance."""

    name = "keypoints"

    def __init__(self, latent_dim: int, num_keypoints: int, indices: np.ndarray) -> None:
        self.num_keypoints = int(num_keypoints)
        self.indices = np.asarray(indices, dtype=np.int64)
        if len(self.indices) == 0 or self.indices.max() >= self.num_keypoints or 2 * self.num_keypoints > latent_dim:
            raise ValueError(f"keypoint indices {self.indices.tolist()} do not fit {num_keypoints} keypoints")
        super().__init__(latent_dim, 2 * len(self.indices))
        self._cols = np.concatenate([self.indices, self.num_keypoints + self.indices])  # x columns, then y columns

    def project(self, z: np.ndarray) -> np.ndarray:
        return self._check(z)[..., self._cols]

    def meta(self) -> dict:
        return {**super().meta(), "num_keypoints": self.num_keypoints, "indices": self.indices.tolist()}

    @classmethod
    def fit(cls, cfg: GoalSpaceConfig, data: FitData) -> KeypointGoalSpace | None:
        """Select from the training latents and episode ids only (no labels); None for non-keypoint encoders."""
        if data.encoder_name not in KEYPOINT_ENCODERS:
            return None
        k = int(data.encoder_config["num_keypoints"])
        chosen = select_object_keypoints(keypoint_xy(data.z, k), data.episodes, cfg.keypoints.count)
        return cls(data.z.shape[1], k, chosen)

    @classmethod
    def load(cls, out_dir: Path, latent_dim: int) -> KeypointGoalSpace:
        meta = cls.read_meta(out_dir, latent_dim)
        return cls(latent_dim, meta["num_keypoints"], np.asarray(meta["indices"]))
