"""Goal spaces for RIG-style latent goals: one registry entry per space (adding one is one module plus one entry).

Every space maps a frozen encoder's latents to goal vectors; the goal reward thresholds their Euclidean distance.
``latent`` is RIG's whole latent; ``keypoints`` keeps the keypoints chosen without labels as the block's;
``distance_head`` is a small MLP trained with the block's positions at pretraining time.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.goalspace.base import GoalSpace, LatentGoalSpace
from pipeline.goalspace.head import DistanceHeadGoalSpace
from pipeline.goalspace.keypoints import KeypointGoalSpace

GOAL_SPACES: dict[str, type[GoalSpace]] = {
    "latent": LatentGoalSpace,
    "keypoints": KeypointGoalSpace,
    "distance_head": DistanceHeadGoalSpace,
}


def load_goal_space(name: str, directory: Path, latent_dim: int) -> GoalSpace:
    """The fitted goal space ``name`` of one encoder (``paths.goal_spaces/<encoder>``; ``latent`` needs no file)."""
    if name not in GOAL_SPACES:
        raise ValueError(f"unknown goal space {name!r}; allowed: {', '.join(GOAL_SPACES)}")
    return GOAL_SPACES[name].load(Path(directory), latent_dim)


__all__ = ["GOAL_SPACES", "GoalSpace", "load_goal_space"]
