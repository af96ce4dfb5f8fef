"""The harness's off-policy algorithms: SB3 / sb3-contrib classes plus three constructor options, declared once.

Every algorithm is an SB3 / sb3-contrib class taken as it is, subclassed once with :class:`Harness`:

- ``warmup``: a callable that chooses the first ``learning_starts`` actions instead of SB3's uniform random ones
  (the scripted pusher of :mod:`pipeline.policy.warmup`). Its transitions go to the replay buffer like any
  others, and nothing of the script reaches a network's input.
- ``overlap``: when the envs step in worker processes, each gradient update runs while they step
  (:class:`UpdateWhileStepping`).
- ``target_clip``: the target critic's values are bounded to ``[-1/(1-gamma), 0]`` (:func:`clip_critic_targets`).

No class is made at run time and nothing is attached after construction: ``ALGOS[name](..., warmup=...,
overlap=..., target_clip=...)`` is the whole agent (built by :func:`pipeline.policy.model.build_model`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from sb3_contrib import TQC
from stable_baselines3 import SAC, TD3
from stable_baselines3.common.noise import NormalActionNoise
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.vec_env import SubprocVecEnv, VecEnv, VecEnvWrapper

from pipeline.policy.pixel_update import fused_update
from pipeline.policy.routing import PixelSACPolicy

WarmupActions = Callable[[Any], np.ndarray]
"""``warmup(last_obs)`` -> env actions ``(n_envs, action_dim)``; ``last_obs`` is the agent's current observation
(a script may read the simulator through its own source instead, as the latent agents' does)."""


def uses_worker_processes(venv: VecEnv) -> bool:
    """Whether the innermost VecEnv under ``venv``'s wrappers steps its envs in worker processes."""
    inner = venv
    while hasattr(inner, "venv"):  # VecEnvWrapper chain -> Dummy/SubprocVecEnv
        inner = inner.venv
    return isinstance(inner, SubprocVecEnv)


class UpdateWhileStepping(VecEnvWrapper):
    """Runs ``update()`` after the actions went out to the workers and before their results are collected."""

    def __init__(self, venv: VecEnv, update: Callable[[], None]) -> None:
        super().__init__(venv)
        self.update = update

    def reset(self) -> Any:
        return self.venv.reset()

    def step_wait(self) -> Any:
        self.update()
        return self.venv.step_wait()


class Harness:
    """Mixin for an SB3 off-policy algorithm: scripted warm-up, overlapped updates, target clipping.

    Overlap: :meth:`train` records the request and :class:`UpdateWhileStepping` performs it while the workers step.
    Compared with SB3's loop, each action comes from a policy one update older and the newest transition joins the
    replay one update later (the usual actor-learner lag). Never more than one request waits, and :meth:`learn`
    settles it before returning, so checkpoints (written by callbacks between steps) never miss an update.

    :param warmup: action source while ``num_timesteps < learning_starts`` (None: SB3's uniform random actions)
    :param overlap: defer each update into the next env step (use with worker-process envs)
    :param target_clip: clamp the target critic's values to ``[-1/(1-gamma), 0]``
    """

    def __init__(
        self, *args: Any, warmup: WarmupActions | None = None, overlap: bool = False, target_clip: bool = False,
        **kwargs: Any,
    ) -> None:  # fmt: skip
        self.warmup_actions = warmup
        self.warmup_steps_taken = 0
        """env steps whose action came from the script (counts across ``learn`` calls of this object)"""
        self.overlap = overlap
        self.target_clip = target_clip
        self._pending: tuple[int, int] | None = None
        self._stepping: UpdateWhileStepping | None = None
        super().__init__(*args, **kwargs)

    def _setup_model(self) -> None:
        super()._setup_model()
        if self.target_clip:
            clip_critic_targets(self, self.gamma)

    def _sample_action(self, learning_starts: int, action_noise: Any = None, n_envs: int = 1):
        if self.warmup_actions is None or self.num_timesteps >= learning_starts:
            return super()._sample_action(learning_starts, action_noise, n_envs)
        action = np.asarray(self.warmup_actions(self._last_obs), np.float32).reshape(n_envs, -1)  # (n_envs, act)
        buffer_action = self.policy.scale_action(action)  # [low, high] -> [-1, 1] as SB3 stores it
        self.warmup_steps_taken += n_envs
        return self.policy.unscale_action(buffer_action), buffer_action

    def collect_rollouts(self, env: VecEnv, *args: Any, **kwargs: Any) -> Any:
        if self.overlap:
            if self._stepping is None or self._stepping.venv is not env:
                self._stepping = UpdateWhileStepping(env, self.run_pending_train)
            env = self._stepping
        return super().collect_rollouts(env, *args, **kwargs)

    def train(self, gradient_steps: int, batch_size: int = 64) -> None:
        if not self.overlap:
            return self.update(gradient_steps, batch_size)
        self.run_pending_train()
        self._pending = (gradient_steps, batch_size)

    def update(self, gradient_steps: int, batch_size: int) -> None:
        """The gradient steps themselves: the algorithm's own ``train`` (an algorithm class may do them its way)."""
        super().train(gradient_steps, batch_size)

    def run_pending_train(self) -> None:
        """Run the deferred update, if any."""
        if self._pending is not None:
            gradient_steps, batch_size = self._pending
            self._pending = None
            self.update(gradient_steps, batch_size)

    def learn(self, *args: Any, **kwargs: Any) -> Harness:
        super().learn(*args, **kwargs)
        self.run_pending_train()
        return self

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "_pending", "_stepping", "warmup_actions"]


class HarnessSAC(Harness, SAC):
    """SB3 SAC with the harness's options; a pixel agent runs each encoder once per batch of observations
    (:func:`~pipeline.policy.pixel_update.fused_update`)."""

    def update(self, gradient_steps: int, batch_size: int) -> None:
        if isinstance(self.policy, PixelSACPolicy):
            fused_update(self, gradient_steps, batch_size)
        else:
            super().update(gradient_steps, batch_size)


class HarnessTQC(Harness, TQC):
    """sb3-contrib TQC with the harness's options."""


class HarnessTD3(Harness, TD3):
    """SB3 TD3 with the harness's options."""


ALGOS: dict[str, type[OffPolicyAlgorithm]] = {"sac": HarnessSAC, "tqc": HarnessTQC, "td3": HarnessTD3}
"""``algo`` choices; adding one is a class above, an entry here and its keyword arguments in :func:`algo_kwargs`."""


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
