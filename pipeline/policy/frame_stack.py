"""Frame stacks: the pixel frame stack wrapper, and the stack layouts that
:class:`~pipeline.policy.frame_buffer.FrameHerReplayBuffer` stores one item per frame of (pixels: uint8 (3k, H, W),
channel-first, oldest frame first; latents: k latents, oldest first, then the newest frame's proprio)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
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


@dataclass(frozen=True)
class PixelStack:
    """``pixels`` uint8 ``(3k, H, W)`` as :class:`PixelFrameStack` stacks them; one item is one ``(H, W, 3)`` frame."""

    k: int
    h: int
    w: int
    key: str = "pixels"

    @property
    def item(self) -> tuple[tuple[int, ...], type]:
        """Shape and dtype of one stored item."""
        return (self.h, self.w, 3), np.uint8

    def newest(self, value: np.ndarray) -> np.ndarray:
        """``(n, 3k, H, W)`` -> the newest frames ``(n, H, W, 3)``."""
        return np.asarray(value)[:, -3:].transpose(0, 2, 3, 1)  # (n, 3, H, W) -> (n, H, W, 3)

    def assemble(self, items: np.ndarray) -> np.ndarray:
        """``(B, k, H, W, 3)`` items, oldest first -> ``(B, 3k, H, W)``."""
        items = items.transpose(0, 1, 4, 2, 3)  # (B, k, H, W, 3) -> (B, k, 3, H, W)
        return items.reshape(len(items), 3 * self.k, self.h, self.w)  # (B, k, 3, H, W) -> (B, 3k, H, W)


@dataclass(frozen=True)
class LatentStack:
    """``observation`` float32 ``(k*L + P,)`` as :class:`~pipeline.policy.observation.ObservationFlow` stacks latents:
    ``k`` latents, oldest first, then ``P`` numbers of the newest frame (proprio). One item is a frame's latent and
    its ``P`` numbers, ``(L + P,)``: each latent is stored once instead of ``2k`` times."""

    k: int
    latent: int
    rest: int
    key: str = "observation"

    @property
    def item(self) -> tuple[tuple[int, ...], type]:
        return (self.latent + self.rest,), np.float32

    def newest(self, value: np.ndarray) -> np.ndarray:
        """``(n, k*L + P)`` -> the newest latent and the rest, ``(n, L + P)``."""
        return np.asarray(value)[:, (self.k - 1) * self.latent :]  # the newest latent and the rest are the tail

    def assemble(self, items: np.ndarray) -> np.ndarray:
        """``(B, k, L + P)`` items, oldest first -> ``(B, k*L + P)``."""
        latents = items[:, :, : self.latent].reshape(len(items), self.k * self.latent)  # (B, k, L) -> (B, k*L)
        return np.concatenate([latents, items[:, -1, self.latent :]], axis=1)  # + the newest frame's (B, P)


StackLayout = PixelStack | LatentStack
