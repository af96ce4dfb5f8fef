"""The ``collect`` params section."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from pipeline.params import StrictModel


class CollectConfig(StrictModel):
    """Random pixel rollouts written to the zarr dataset at ``paths.dataset``."""

    episodes: int = Field(200, ge=1)
    """number of episodes to roll out (each ``env.max_episode_steps`` actions, +1 initial frame)"""
    workers: int = Field(2, ge=1, le=256)
    """worker processes; the data do not depend on it"""
    seed: int = Field(0, ge=0)
    """master seed: episode ``i`` is seeded from ``(seed, i)`` alone"""
    scripted_fraction: float = Field(0.0, ge=0.0, le=1.0)
    """fraction of episodes driven by a noisy scripted pusher instead of uniform random actions"""
    scripted_noise: float = Field(0.3, ge=0.0, le=2.0)
    """std of the Gaussian noise added to the scripted pusher's actions"""
    chunk_episodes: int = Field(4, ge=1)
    """zarr chunk length along N, in episodes"""
    compressor: Literal["zstd", "none"] = "zstd"
    """frame compression codec"""
