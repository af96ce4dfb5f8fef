"""Overlap SAC's gradient updates with env steps that run in worker processes.

SB3's off-policy loop takes turns: step the envs (for latent agents: physics, rendering, encoding),
then run the gradient update, then step again. When the envs live in worker processes the update
can run while the workers render: :class:`Overlapped` (a mixin for any SB3 off-policy algorithm) defers
each update request, and the env
wrapper (:class:`~pipeline.policy.vecenv.GoalObsVecEnv`, ``before_wait`` hook) runs it between
sending actions to the workers and collecting their results.
"""

from __future__ import annotations

from typing import Any

from stable_baselines3.common.vec_env import SubprocVecEnv, VecEnv


def uses_worker_processes(venv: VecEnv) -> bool:
    """Whether the innermost VecEnv under ``venv``'s wrappers steps its envs in worker processes."""
    inner = venv
    while hasattr(inner, "venv"):  # VecEnvWrapper chain -> Dummy/SubprocVecEnv
        inner = inner.venv
    return isinstance(inner, SubprocVecEnv)


class Overlapped:
    """Mixin for an off-policy algorithm: gradient updates run while the next env step is computed in workers.

    :meth:`train` records the request; :meth:`run_pending_train` (called by the env wrapper after the
    actions went out, before the results come back) performs it. Compared with SB3's loop, each action
    comes from a policy one update older and the newest transition joins the replay one update later,
    the usual actor-learner lag. Never more than one request waits, and :meth:`learn` settles it before
    returning, so checkpoints (written by callbacks between steps) never miss an update.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._pending: tuple[int, int] | None = None
        super().__init__(*args, **kwargs)

    def train(self, gradient_steps: int, batch_size: int = 64) -> None:
        self.run_pending_train()
        self._pending = (gradient_steps, batch_size)

    def run_pending_train(self) -> None:
        """Run the deferred update, if any."""
        if self._pending is not None:
            gradient_steps, batch_size = self._pending
            self._pending = None
            super().train(gradient_steps, batch_size)

    def learn(self, *args: Any, **kwargs: Any) -> Overlapped:
        super().learn(*args, **kwargs)
        self.run_pending_train()
        return self

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "_pending"]
