"""HER replay buffer for frame-stacked observations that stores every frame once.

Two stack layouts (:mod:`pipeline.policy.frame_stack`): pixel variants' ``pixels`` uint8 ``(3*k, H, W)``,
channel-first, frames oldest first (``pixels[-3:]`` is the newest frame), as
:class:`~pipeline.policy.frame_stack.PixelFrameStack` produces; latent variants' ``observation``, ``k`` latents oldest
first and the newest frame's proprio, as :class:`~pipeline.policy.observation.ObservationFlow` produces. At the start
of an episode the stack is padded by repeating the first frame (``padding="repeat"``, as DrQ-v2's / gymnasium's
frame stacks and the latent flow do) or with zeros (``padding="zero"``, as SB3's ``VecFrameStack``).

Storage: the newest item (frame, or latent + proprio) of each transition's ``obs`` goes to ``frames[pos, env]``;
``next_obs`` of step t is ``obs`` of step t+1 within an episode, so only the episode's final
``next_obs`` item (terminal / timeout observation) is stored extra, in a small ring ``final_frames``
of ``final_frame_fraction * buffer_size`` slots per env. The other keys are stored for obs and
next_obs by SB3's ``DictReplayBuffer`` as usual, so HER goal selection and reward recomputation are
SB3's own code: for the same transitions and seed, samples equal ``HerReplayBuffer``'s.

The final-frame ring is exact as long as ``final_frame_fraction * buffer_size`` >= the number of
complete episodes the buffer can hold (e.g. 0.1 for episodes of >= 10 steps, 0.02 for Fetch's 50).
When a slot still referenced by a live episode is reused, that episode is dropped from sampling
(``n_dropped_episodes`` counts them, with a warning) -- samples then differ from SB3's.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.type_aliases import DictReplayBufferSamples
from stable_baselines3.common.vec_env import VecEnv, VecNormalize
from stable_baselines3.her.goal_selection_strategy import GoalSelectionStrategy

from pipeline.policy.frame_stack import LatentStack, Padding, PixelStack
from pipeline.policy.prior import PriorHerReplayBuffer


class FrameHerReplayBuffer(PriorHerReplayBuffer):
    """``HerReplayBuffer`` that stores each frame once and rebuilds frame stacks at sample time (with
    :class:`PriorHerReplayBuffer`'s ``prior_share``: prior data's share of each batch).

    Extra parameters (the others are ``HerReplayBuffer``'s):

    :param frame_stack: k, frames per observation (``pixels`` has 3k channels)
    :param padding: how the env pads stacks at episode start (``"repeat"`` or ``"zero"``)
    :param final_frame_fraction: final-frame ring slots per env, as a fraction of ``buffer_size``
    :param pixel_key: observation key of a pixel frame stack
    :param check_stacks: verify at every ``add`` that the given stacks equal the rebuilt ones (slow, for tests)
    :param latent_dim: stack latents of this size in ``observation`` (:class:`LatentStack`) instead of pixels
    :param prior_share: share of each batch drawn from the seeded prior episodes (None: SB3's sampling)
    """

    def __init__(
        self,
        buffer_size: int,
        observation_space: spaces.Dict,
        action_space: spaces.Space,
        env: VecEnv,
        device: th.device | str = "auto",
        n_envs: int = 1,
        optimize_memory_usage: bool = False,
        handle_timeout_termination: bool = True,
        n_sampled_goal: int = 4,
        goal_selection_strategy: GoalSelectionStrategy | str = "future",
        copy_info_dict: bool = False,
        frame_stack: int = 1,
        padding: Padding = "repeat",
        final_frame_fraction: float = 0.1,
        pixel_key: str = "pixels",
        check_stacks: bool = False,
        latent_dim: int | None = None,
        prior_share: float | None = None,
    ):
        if latent_dim is None:
            c, h, w = observation_space[pixel_key].shape
            assert c == 3 * frame_stack, f"{pixel_key} has {c} channels, expected 3 * frame_stack = {3 * frame_stack}"
            layout: PixelStack | LatentStack = PixelStack(frame_stack, h, w, pixel_key)
        else:
            width = observation_space["observation"].shape[0]
            layout = LatentStack(frame_stack, latent_dim, width - frame_stack * latent_dim)
            assert layout.rest >= 0, (
                f"observation has {width} numbers, fewer than {frame_stack} latents of {latent_dim}"
            )
        assert padding in ("repeat", "zero")
        # The parent only allocates the (small) other keys; the stacked key is stored as single items below.
        vector_space = spaces.Dict({k: s for k, s in observation_space.spaces.items() if k != layout.key})
        super().__init__(
            buffer_size, vector_space, action_space, env, device, n_envs, optimize_memory_usage,
            handle_timeout_termination, n_sampled_goal, goal_selection_strategy, copy_info_dict,
            prior_share=prior_share,
        )  # fmt: skip
        self.observation_space = observation_space
        self.layout, self.frame_stack, self.padding, self.check_stacks = layout, frame_stack, padding, check_stacks
        shape, dtype = layout.item
        self.frames = np.zeros((self.buffer_size, self.n_envs, *shape), dtype=dtype)
        self.n_final = max(1, int(final_frame_fraction * self.buffer_size))
        self.final_frames = np.zeros((self.n_final, self.n_envs, *shape), dtype=dtype)
        self.final_slot = np.full((self.buffer_size, self.n_envs), -1, dtype=np.int64)  # transition -> ring slot
        self.final_owner = np.full((self.n_final, self.n_envs), -1, dtype=np.int64)  # ring slot -> transition
        self._final_pos = np.zeros(self.n_envs, dtype=np.int64)
        self._last_next_frame = np.zeros((self.n_envs, *shape), dtype=dtype)
        self._last_next_pixels: np.ndarray | None = None  # only with check_stacks
        self._last_done = np.ones(self.n_envs, dtype=bool)
        self.n_dropped_episodes = 0

    def add(  # type: ignore[override]
        self,
        obs: dict[str, np.ndarray],
        next_obs: dict[str, np.ndarray],
        action: np.ndarray,
        reward: np.ndarray,
        done: np.ndarray,
        infos: list[dict[str, Any]],
    ) -> None:
        pos, key = self.pos, self.layout.key
        self.frames[pos] = self.layout.newest(obs[key])
        self._last_next_frame[:] = self.layout.newest(next_obs[key])
        self.final_slot[pos] = -1
        super().add(obs, next_obs, action, reward, done, infos)  # vectors + episode bookkeeping, advances pos
        for env_idx in np.flatnonzero(done):
            self._store_final_frame(pos, int(env_idx))
        if self.check_stacks:
            self._check(pos, obs[key], next_obs[key], np.asarray(done, dtype=bool))

    def _store_final_frame(self, transition: int, env_idx: int) -> None:
        """Put the last ``next_obs`` frame of ``env_idx`` in its final-frame ring, for episode end ``transition``."""
        slot = self._final_pos[env_idx]
        owner = self.final_owner[slot, env_idx]
        if (
            owner >= 0
            and owner != transition
            and self.final_slot[owner, env_idx] == slot
            and self.ep_length[owner, env_idx] > 0
        ):
            # a live episode still needs this slot: drop it from sampling
            start, length = self.ep_start[owner, env_idx], self.ep_length[owner, env_idx]
            self.ep_length[np.arange(start, start + length) % self.buffer_size, env_idx] = 0
            self.n_dropped_episodes += 1
            warnings.warn(
                "FrameHerReplayBuffer: final-frame ring too small, dropping an episode; raise final_frame_fraction"
            )
        self.final_frames[slot, env_idx] = self._last_next_frame[env_idx]
        self.final_slot[transition, env_idx] = slot
        self.final_owner[slot, env_idx] = transition
        self._final_pos[env_idx] = (slot + 1) % self.n_final

    def truncate_last_trajectory(self) -> None:
        unfinished = np.flatnonzero(self._current_ep_start != self.pos)
        last = (self.pos - 1) % self.buffer_size
        super().truncate_last_trajectory()
        for env_idx in unfinished:
            self._store_final_frame(last, int(env_idx))

    def _frame_stack(self, batch_indices: np.ndarray, env_indices: np.ndarray, next_obs: bool) -> np.ndarray:
        """Rebuild the stacks (``(B, 3k, H, W)`` pixels or ``(B, k*L + P)`` latents) of ``obs`` (or ``next_obs``) of
        the given transitions."""
        k = self.frame_stack
        start = self.ep_start[batch_indices, env_indices]  # (B,)
        t_in_ep = (batch_indices - start) % self.buffer_size  # (B,)
        src_in_ep = t_in_ep[:, None] + np.arange(1 - k, 1)[None, :] + int(next_obs)  # (B, k), oldest..newest
        src = (start[:, None] + np.maximum(src_in_ep, 0)) % self.buffer_size  # (B, k), repeat-padded
        frames = self.frames[src, env_indices[:, None]]  # (B, k, *item)
        if next_obs:
            # the newest next item of an episode's last transition lives in the final-frame ring
            rows = np.flatnonzero(src_in_ep[:, -1] == self.ep_length[batch_indices, env_indices])
            slots = self.final_slot[batch_indices[rows], env_indices[rows]]
            frames[rows, -1] = self.final_frames[slots, env_indices[rows]]
        if self.padding == "zero":
            frames[src_in_ep < 0] = 0
        return self.layout.assemble(frames)

    def _check(self, pos: int, pixels: np.ndarray, next_pixels: np.ndarray, done: np.ndarray) -> None:
        """Raise if the env's stacks disagree with the rebuilt ones (wrong frame_stack / padding / next_obs)."""
        envs = np.arange(self.n_envs)
        batch = np.full(self.n_envs, pos)
        if not np.array_equal(self._frame_stack(batch, envs, next_obs=False), pixels):
            raise ValueError("obs stacks differ from the rebuilt frame stack: check frame_stack / padding")
        ended = np.flatnonzero(done)
        if len(ended) and not np.array_equal(self._frame_stack(batch[ended], ended, next_obs=True), next_pixels[ended]):
            raise ValueError("terminal next_obs stacks differ from the rebuilt frame stack")
        cont = np.flatnonzero(~self._last_done)
        if self._last_next_pixels is not None and not np.array_equal(self._last_next_pixels[cont], pixels[cont]):
            raise ValueError("next_obs of the previous step differs from this obs within an episode")
        self._last_next_pixels, self._last_done = np.array(next_pixels), done.copy()

    def _with_pixels(
        self, data: DictReplayBufferSamples, batch_indices: np.ndarray, env_indices: np.ndarray
    ) -> DictReplayBufferSamples:
        """Add the rebuilt stacks to the parent's samples of the other keys, keys in observation-space order."""
        key = self.layout.key
        obs = {**data.observations, key: self.to_torch(self._frame_stack(batch_indices, env_indices, False))}
        next_obs = {**data.next_observations, key: self.to_torch(self._frame_stack(batch_indices, env_indices, True))}
        keys = list(self.observation_space.spaces)
        return data._replace(observations={k: obs[k] for k in keys}, next_observations={k: next_obs[k] for k in keys})

    def _get_real_samples(
        self, batch_indices: np.ndarray, env_indices: np.ndarray, env: VecNormalize | None = None
    ) -> DictReplayBufferSamples:
        return self._with_pixels(super()._get_real_samples(batch_indices, env_indices, env), batch_indices, env_indices)

    def _get_virtual_samples(
        self, batch_indices: np.ndarray, env_indices: np.ndarray, env: VecNormalize | None = None
    ) -> DictReplayBufferSamples:
        return self._with_pixels(
            super()._get_virtual_samples(batch_indices, env_indices, env), batch_indices, env_indices
        )

    def frame_arrays(self) -> list[np.ndarray]:
        """The arrays holding the stacked items."""
        return [self.frames, self.final_frames]

    def bytes_per_transition(self, frames_only: bool = False) -> float:
        """Allocated bytes / capacity (``buffer_size * n_envs``), from the arrays' ``nbytes``.

        :param frames_only: count only the stacked items' arrays (compare with ``frame_nbytes``)
        """
        arrays = self.frame_arrays()
        if not frames_only:
            arrays += [*self.observations.values(), *self.next_observations.values(), self.actions, self.rewards]
            arrays += [self.dones, self.timeouts, self.infos, self.ep_start, self.ep_length]
            arrays += [self.final_slot, self.final_owner, self._final_pos, self._last_next_frame]
        return sum(a.nbytes for a in arrays) / (self.buffer_size * self.n_envs)

    @property
    def frame_nbytes(self) -> int:
        """Bytes of one stored item (a uint8 (H, W, 3) frame, or a latent and proprio)."""
        return int(self.frames[0, 0].nbytes)
