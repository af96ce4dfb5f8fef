"""Frame stacking for pixel envs: the observation convention :class:`~pipeline.policy.frame_buffer.FrameHerReplayBuffer`
stores ("pixels" uint8 (3k, H, W), channel-first, oldest frame first)."""

from __future__ import annotations

from collections import deque
from typing import Any, Literal

import gymnasium as gym
import numpy as np
from gymnasium import spaces

Padding = Literal["repeat", "zero"]


class PixelFrameStack(gym.Wrapper):
    """Stack the last ``k`` frames of a Dict env's ``pixels`` (uint8 (H, W, 3)) into channel-first (3k, H, W).

    :param env: env with a Dict observation space holding ``pixel_key``
    :param k: number of frames
    :param padding: ``"repeat"`` the first frame of the episode or ``"zero"``-fill the missing frames
    """

    def __init__(self, env: gym.Env, k: int, padding: Padding = "repeat", pixel_key: str = "pixels") -> None:
        super().__init__(env)
        h, w, c = env.observation_space[pixel_key].shape
        assert c == 3, "inner pixels must be (H, W, 3)"
        self.k, self.padding, self.pixel_key = k, padding, pixel_key
        self.observation_space = spaces.Dict(
            {**env.observation_space.spaces, pixel_key: spaces.Box(0, 255, (3 * k, h, w), np.uint8)}
        )
        self._frames: deque[np.ndarray] = deque(maxlen=k)

    def _observation(self, obs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        frames = np.stack(list(self._frames))  # (k, H, W, 3)
        pixels = frames.transpose(0, 3, 1, 2).reshape(-1, *frames.shape[1:3])  # (k, 3, H, W) -> (3k, H, W)
        return {**obs, self.pixel_key: pixels}

    def reset(self, **kwargs: Any) -> tuple[dict[str, np.ndarray], dict]:
        obs, info = self.env.reset(**kwargs)
        first = obs[self.pixel_key]
        pad = first if self.padding == "repeat" else np.zeros_like(first)
        self._frames.extend([pad] * (self.k - 1) + [first])
        return self._observation(obs), info

    def step(self, action: np.ndarray) -> tuple[dict[str, np.ndarray], float, bool, bool, dict]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._frames.append(obs[self.pixel_key])
        return self._observation(obs), reward, terminated, truncated, info
