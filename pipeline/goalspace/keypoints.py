"""Object keypoints chosen without labels: in random play the arm moves at every step while the block sits where
the episode put it, so a keypoint that follows the block barely moves within an episode but lands somewhere else
in each episode; one that follows the arm moves within every episode. Static background keypoints do neither."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.encoders.registry import encoder_spec
from pipeline.goalspace.base import GoalSpace
from pipeline.goalspace.config import GoalSpaceConfig
from pipeline.goalspace.data import FitData

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


def otsu_threshold(values: np.ndarray, bins: int = 256) -> float:
    """The threshold that best splits ``values`` into two classes (Otsu 1979: maximal between-class variance over
    the histogram's bin centres). Written here: none of the installed libraries (scipy, numpy) offers it."""
    counts, edges = np.histogram(np.asarray(values, np.float64), bins)
    centres = (edges[:-1] + edges[1:]) / 2  # (bins,)
    w0 = np.cumsum(counts).astype(np.float64)  # (bins,) frames at or below each centre
    w1 = w0[-1] - w0
    s0 = np.cumsum(counts * centres)
    m0, m1 = s0 / np.maximum(w0, 1), (s0[-1] - s0) / np.maximum(w1, 1)
    return float(centres[np.argmax(w0 * w1 * (m0 - m1) ** 2)])


class KeypointGoalSpace(GoalSpace):
    """The coordinates of the selected object keypoints only: the arm's keypoints do not enter the distance.

    ``min_presence`` (one per selected keypoint, fitted without labels) says when a frame's keypoint reads what
    it marks: a frame is in sight when every selected keypoint's presence reaches its threshold."""

    name = "keypoints"

    def __init__(
        self, latent_dim: int, num_keypoints: int, indices: np.ndarray, min_presence: np.ndarray | None = None
    ) -> None:
        self.num_keypoints = int(num_keypoints)
        self.indices = np.asarray(indices, dtype=np.int64)
        if len(self.indices) == 0 or self.indices.max() >= self.num_keypoints or 2 * self.num_keypoints > latent_dim:
            raise ValueError(f"keypoint indices {self.indices.tolist()} do not fit {num_keypoints} keypoints")
        self.min_presence = None if min_presence is None else np.asarray(min_presence, np.float32)
        if self.min_presence is not None and self.min_presence.shape != self.indices.shape:
            raise ValueError(f"min_presence {self.min_presence.tolist()} needs one value per selected keypoint")
        super().__init__(latent_dim, 2 * len(self.indices))
        self._cols = np.concatenate([self.indices, self.num_keypoints + self.indices])  # x columns, then y columns

    def project(self, z: np.ndarray) -> np.ndarray:
        return self._check(z)[..., self._cols]

    def in_sight(self, presence: np.ndarray) -> np.ndarray:
        if self.min_presence is None:
            raise ValueError("keypoint goal space without presence thresholds (refit: python -m pipeline.goalspace)")
        return (np.asarray(presence)[:, self.indices] >= self.min_presence).all(axis=1)  # (m, K) -> (m, k) -> (m,)

    def meta(self) -> dict:
        presence = None if self.min_presence is None else self.min_presence.tolist()
        return {
            **super().meta(),
            "num_keypoints": self.num_keypoints,
            "indices": self.indices.tolist(),
            "min_presence": presence,
        }

    @classmethod
    def fit(cls, cfg: GoalSpaceConfig, data: FitData) -> KeypointGoalSpace | None:
        """Select from the training latents and episode ids only (no labels); None for non-keypoint encoders."""
        if not encoder_spec(data.encoder_name).keypoint_latent:
            return None
        k = int(data.encoder_config["num_keypoints"])
        chosen = select_object_keypoints(keypoint_xy(data.z, k), data.episodes, cfg.keypoints.count)
        thresholds = None if data.presence is None else [otsu_threshold(data.presence[:, i]) for i in chosen]
        return cls(data.z.shape[1], k, chosen, thresholds)

    @classmethod
    def load(cls, out_dir: Path, latent_dim: int) -> KeypointGoalSpace:
        meta = cls.read_meta(out_dir, latent_dim)
        presence = meta.get("min_presence")  # absent in spaces fitted before presence was recorded
        try:
            return cls(latent_dim, meta["num_keypoints"], np.asarray(meta["indices"], np.int64), presence)
        except (KeyError, TypeError, ValueError) as exc:
            raise cls.invalid(out_dir, exc) from exc
