"""What a goal space is fitted on: an encoder's latents of the pretraining dataset's training episodes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

VISIBLE_MIN = 0.5
"""a frame counts as showing the block when at least half of it is in sight (as the probes count it)"""


@dataclass(frozen=True)
class FitData:
    """Training-split latents and what the dataset records beside them (labels only for spaces that use them)."""

    z: np.ndarray
    """``(N, latent_dim)`` float32 latents of training frames"""
    episodes: np.ndarray
    """``(N,)`` episode id of each frame"""
    object_pos: np.ndarray
    """``(N, 3)`` block position (a simulator label: only goal spaces with ``uses_labels`` may read it)"""
    visible: np.ndarray
    """``(N,)`` share of the block in sight (a simulator label, as above)"""
    encoder_name: str
    """registry name of the encoder (``spatial_ae``, ``supervised``, ...)"""
    encoder_config: dict[str, Any]
    """the encoder's config block"""
    presence: np.ndarray | None = None
    """``(N, K)`` keypoint presence of each frame (keypoint encoders; None otherwise): what the encoder reports"""
