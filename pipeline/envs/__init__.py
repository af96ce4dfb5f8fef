"""Pixel Fetch environments shared by every stage: config, rendering, observation split."""

from pipeline.envs.config import (
    CAMERA_PRESETS,
    FETCH_ENV_IDS,
    MODEL_CAMERAS,
    EnvConfig,
    FreeCamera,
)
from pipeline.envs.fetch import FetchPixelEnv, make_fetch_env, split_observation
from pipeline.envs.render import PixelRenderer

__all__ = [
    "CAMERA_PRESETS",
    "FETCH_ENV_IDS",
    "MODEL_CAMERAS",
    "EnvConfig",
    "FetchPixelEnv",
    "FreeCamera",
    "PixelRenderer",
    "make_fetch_env",
    "split_observation",
]
