"""The ``goal_space`` params section: how each goal space is fitted on an encoder's pretraining data."""

from __future__ import annotations

from pydantic import Field

from pipeline.params import StrictModel


class KeypointGoalConfig(StrictModel):
    """Object keypoints chosen without labels, from how keypoints move within and between episodes."""

    count: int = Field(1, ge=1, le=64)
    """keypoints kept: those whose positions vary most between episodes relative to within them"""


class DistanceHeadConfig(StrictModel):
    """A small MLP on the latent whose output distances match the block's distances (labels at pretraining)."""

    dim: int = Field(3, ge=1, le=64)
    """size of the embedding the goal distance is measured in"""
    hidden: int = Field(128, ge=1, le=4096)
    """hidden units of each of the two hidden layers"""
    steps: int = Field(2000, ge=1)
    """Adam steps on random pairs of training frames"""
    batch_size: int = Field(512, ge=1)
    """pairs per step"""
    lr: float = Field(1e-3, gt=0, le=1)
    """Adam learning rate"""


class GoalSpaceConfig(StrictModel):
    """Goal spaces fitted on an encoder's latents of the pretraining dataset (``python -m pipeline.goalspace``)."""

    keypoints: KeypointGoalConfig = Field(default_factory=KeypointGoalConfig)
    """label-free object keypoints (encoders with a keypoint latent: spatial_ae, supervised, atc)"""
    distance_head: DistanceHeadConfig = Field(default_factory=DistanceHeadConfig)
    """goal-distance head trained on pairs with the block's positions (uses labels at pretraining)"""
    max_frames: int = Field(30_000, ge=10)
    """training frames encoded to fit the goal spaces (evenly subsampled)"""
    eval_pairs: int = Field(20_000, ge=10)
    """random held-out frame pairs (block visible in both) for the Spearman correlations in ``metrics.json``"""
    seed: int = 0
    """seed of the pair sampling and of the head's initialisation"""
