"""Off-policy algorithms of the harness (one registry), with scripted warm-up, overlap and target clipping.

Every algorithm is an SB3 / sb3-contrib class taken as it is; what the harness adds are mixins:

- :class:`ScriptedWarmup` chooses the first ``learning_starts`` actions with a script instead of SB3's uniform
  random ones. The script reads the simulator's raw state through a callable; the transitions it produces go
  to the replay buffer like any others, and nothing of the script reaches a network's input.
- :class:`~pipeline.policy.overlap.Overlapped` runs each update while worker-process envs step.
- :func:`clip_critic_targets` bounds the target critic's values to ``[-1/(1-gamma), 0]``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import numpy as np
import torch
from sb3_contrib import TQC
from stable_baselines3 import SAC, TD3
from stable_baselines3.common.noise import NormalActionNoise
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm

from pipeline.policy.overlap import Overlapped

ALGOS: dict[str, type[OffPolicyAlgorithm]] = {"sac": SAC, "tqc": TQC, "td3": TD3}
"""``algo`` choices; adding one is an entry here (and its keyword arguments in :func:`algo_kwargs`)."""


class ScriptedWarmup:
    """Mixin: while ``num_timesteps < learning_starts``, act with ``warmup_actions()`` when it is set.

    ``warmup_actions`` returns env actions ``(n_envs, action_dim)`` for the current observations; ``None``
    keeps SB3's uniform random warm-up.
    """

    warmup_actions: Callable[[], np.ndarray] | None = None
    warmup_steps_taken: int = 0
    """env steps whose action came from the script (counts across ``learn`` calls of this object)"""

    def _sample_action(self, learning_starts: int, action_noise: Any = None, n_envs: int = 1):
        if self.warmup_actions is None or self.num_timesteps >= learning_starts:
            return super()._sample_action(learning_starts, action_noise, n_envs)
        action = np.asarray(self.warmup_actions(), np.float32).reshape(n_envs, -1)  # (n_envs, action_dim)
        buffer_action = self.policy.scale_action(action)  # [low, high] -> [-1, 1] as SB3 stores it
        self.warmup_steps_taken += n_envs
        return self.policy.unscale_action(buffer_action), buffer_action


@cache
def algo_class(name: str, overlap: bool = False) -> type[OffPolicyAlgorithm]:
    """The harness class of algorithm ``name`` (warm-up mixin; overlap mixin when asked)."""
    base = ALGOS[name]
    bases = (ScriptedWarmup, Overlapped, base) if overlap else (ScriptedWarmup, base)
    return type(("Overlapped" if overlap else "") + base.__name__, bases, {})


def algo_kwargs(name: str, sac: Any, action_dim: int) -> dict[str, Any]:
    """Keyword arguments of ``name`` beyond those every off-policy algorithm takes (from the ``sac`` block)."""
    if name == "td3":
        noise = NormalActionNoise(np.zeros(action_dim), sac.action_noise * np.ones(action_dim))
        return {"action_noise": noise}
    out: dict[str, Any] = {"ent_coef": sac.ent_coef}
    if name == "tqc":
        out["top_quantiles_to_drop_per_net"] = sac.top_quantiles_to_drop
    return out


def clip_critic_targets(model: OffPolicyAlgorithm, gamma: float) -> torch.utils.hooks.RemovableHandle:
    """Clamp every value the target critic returns to ``[-1/(1-gamma), 0]``, the range of discounted sums of
    rewards in {-1, 0} (HER baselines clip their targets the same way).

    The bound applies to the target network's estimate; for SAC and TQC the entropy bonus
    ``-alpha * log pi`` is added to it afterwards, in SB3's own update, as without clipping. TD3 has no
    such term, so its whole target ``r + gamma * Q'`` stays inside the range.
    """
    low = -1.0 / (1.0 - gamma) if gamma < 1 else -float("inf")

    def hook(_module: torch.nn.Module, _inputs: Any, output: Any) -> Any:
        if isinstance(output, tuple):  # SAC / TD3: one (B, 1) tensor per critic
            return tuple(q.clamp(low, 0.0) for q in output)
        return output.clamp(low, 0.0)  # TQC: (B, n_critics, n_quantiles)

    return model.critic_target.register_forward_hook(hook)
