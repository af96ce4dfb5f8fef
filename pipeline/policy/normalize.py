"""Observation and goal normalisation inside the agent (HER baselines' normaliser, as torch buffers).

The replay buffer stores raw observations, so HER relabels and ``compute_reward`` runs on raw goals;
networks see ``clip((x - mean) / std, -5, 5)`` at their input. The statistics are torch buffers of the
features extractor, so they travel in ``policy.state_dict()`` (checkpoints restore them) and SB3 copies
them into the target networks with the other ``running_*`` buffers at every update. They change only in
:class:`NormalizerUpdate`, a callback that sees the transitions collected during ``learn()``: evaluation
(``model.predict`` outside ``learn``) never moves them.
"""

from __future__ import annotations

from collections.abc import Sequence

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn

GOAL_KEYS = ("achieved_goal", "desired_goal")
"""Both goal keys share one normaliser: relabelled desired goals are achieved goals (as in HER baselines)."""


def norm_group(key: str) -> str:
    """Which normaliser a dict key uses."""
    return "goal" if key in GOAL_KEYS else key


class RunningNorm(nn.Module):
    """Running mean / variance of a ``dim``-vector (Chan et al.'s parallel update, float64).

    :param clip: normalised values are clipped to ``[-clip, clip]``
    :param min_std: std floor, so constant inputs (e.g. a resting block's rotation) do not blow up
    """

    def __init__(self, dim: int, clip: float = 5.0, min_std: float = 1e-2) -> None:
        super().__init__()
        self.clip, self.min_std = clip, min_std
        # names start with ``running_``: SB3 hard-copies such buffers into the target networks
        self.register_buffer("running_mean", torch.zeros(dim, dtype=torch.float64))
        self.register_buffer("running_var", torch.ones(dim, dtype=torch.float64))
        self.register_buffer("running_count", torch.zeros((), dtype=torch.float64))

    @torch.no_grad()
    def update(self, x: torch.Tensor) -> None:
        """Fold a batch ``(n, dim)`` into the statistics."""
        x = x.to(self.running_mean.device, torch.float64).reshape(-1, self.running_mean.shape[0])  # (n, dim)
        n = x.shape[0]
        if n == 0:
            return
        mean, var = x.mean(0), x.var(0, unbiased=False)
        total = self.running_count + n
        delta = mean - self.running_mean
        m2 = self.running_var * self.running_count + var * n + delta**2 * self.running_count * n / total
        self.running_mean += delta * n / total
        self.running_var.copy_(m2 / total)
        self.running_count.copy_(total)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        std = self.running_var.sqrt().clamp_min(self.min_std)
        return ((x - self.running_mean) / std).clamp(-self.clip, self.clip).to(x.dtype)


class VectorInputs(BaseFeaturesExtractor):
    """Concatenate the chosen keys of a dict of flat vectors, each normalised (or passed through).

    :param keys: which observation keys reach the network, in this order (e.g. leaving out ``achieved_goal``)
    :param normalize: running mean/std normalisation per input, clipped to ``+-clip``
    :param goal_width: only the first this many numbers of each goal key reach the network (default: all; the
        ``goal_reward: simulator`` diagnostic appends the simulator's positions to its goals for the reward only)
    """

    def __init__(
        self,
        observation_space: gym.spaces.Dict,
        keys: Sequence[str] = ("observation", "achieved_goal", "desired_goal"),
        normalize: bool = True,
        clip: float = 5.0,
        goal_width: int | None = None,
    ) -> None:
        unknown = [k for k in keys if k not in observation_space.spaces]
        if unknown:
            raise ValueError(f"inputs {unknown} not in the observation {list(observation_space.spaces)}")
        dims = {k: int(np.prod(observation_space[k].shape)) for k in keys}
        self.widths = {k: goal_width if goal_width is not None and k.endswith("_goal") else dims[k] for k in keys}
        dims = self.widths
        super().__init__(observation_space, features_dim=sum(dims.values()))
        self.keys = tuple(keys)
        self.norms = nn.ModuleDict()
        if normalize:
            for k in observation_space.spaces:  # every key keeps statistics, used or not (one layout for all)
                self.norms[norm_group(k)] = RunningNorm(int(np.prod(observation_space[k].shape)), clip)

    def forward(self, observations: dict[str, torch.Tensor]) -> torch.Tensor:
        parts = []
        for k in self.keys:
            x = observations[k].flatten(1)  # (B, ...) -> (B, d)
            x = self.norms[norm_group(k)](x) if self.norms else x
            parts.append(x[:, : self.widths[k]])  # (B, d) -> (B, width): goal_width drops the reward-only part
        return torch.cat(parts, dim=1)  # (B, sum d)

    @torch.no_grad()
    def update(self, obs: dict[str, np.ndarray]) -> None:
        """Fold a batch of raw observations into every normaliser (both goal keys into the goal one)."""
        groups: dict[str, list[np.ndarray]] = {}
        for k, v in obs.items():
            groups.setdefault(norm_group(k), []).append(np.asarray(v).reshape(len(v), -1))  # (n, ...) -> (n, d)
        for name, norm in self.norms.items():
            norm.update(torch.from_numpy(np.concatenate(groups[name])))


def normalizers(policy: nn.Module) -> list[VectorInputs]:
    """Every normalising extractor of a policy (actor, critic and their targets each own one)."""
    return [m for m in policy.modules() if isinstance(m, VectorInputs) and m.norms]


class NormalizerUpdate(BaseCallback):
    """After every vectorised env step of ``learn()``, fold the new raw observations into the statistics."""

    def _on_training_start(self) -> None:
        self._targets = normalizers(self.model.policy)
        last = self.model._last_obs
        if isinstance(last, dict) and self.num_timesteps == 0:
            self._fold(last)  # the first observations of the run

    def _fold(self, obs: dict[str, np.ndarray]) -> None:
        for m in self._targets:
            m.update(obs)

    def _on_step(self) -> bool:
        if self._targets:
            self._fold(self.locals["new_obs"])
        return True
