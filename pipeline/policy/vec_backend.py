"""How the envs are vectorised: in this process or in worker processes, and HER's rewards answered locally."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, Literal

import gymnasium as gym
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecEnv, VecEnvWrapper

from pipeline.envs import EnvConfig, FetchPixelEnv

VecEnvKind = Literal["auto", "dummy", "subproc"]


def resolve_vec_env(kind: VecEnvKind, n_envs: int, render: bool) -> Literal["dummy", "subproc"]:
    """``auto``: envs that render step in worker processes when the machine has a core besides the learner's
    (the SAC update then runs while they render: :class:`pipeline.policy.agent.UpdateWhileStepping`); otherwise in
    this process. Envs that only simulate always stay in-process: a physics step is cheaper than a pipe round trip."""
    if kind != "auto":
        return kind
    return "subproc" if render and (os.cpu_count() or 1) >= 2 else "dummy"


class LocalRewardVecEnv(VecEnvWrapper):
    """Answer ``env_method("compute_reward", ...)`` from an env in this process, not through the workers' pipes.

    HER relabelling calls ``compute_reward`` on every sampled batch; in a :class:`SubprocVecEnv` that is a
    pickled round trip (goals and 256 info dicts) per gradient step. The task's reward is a pure function
    of the goals, so a non-rendering copy of the env here computes the same values.
    """

    def __init__(self, venv: VecEnv, reward_env: gym.Env) -> None:
        super().__init__(venv)
        self.reward_env = reward_env

    def reset(self):
        return self.venv.reset()

    def step_wait(self):
        return self.venv.step_wait()

    def env_method(self, method_name: str, *method_args: Any, indices=None, **method_kwargs: Any) -> list[Any]:
        if method_name == "compute_reward":
            n = len(self.venv._get_indices(indices))  # one answer per addressed env, as the workers would give
            return [self.reward_env.compute_reward(*method_args, **method_kwargs)] * n
        return self.venv.env_method(method_name, *method_args, indices=indices, **method_kwargs)

    def close(self) -> None:
        self.reward_env.close()
        self.venv.close()


def make_vec_env(
    make: Callable[[], gym.Env], n_envs: int, kind: Literal["dummy", "subproc"], make_reward_env: Callable[[], gym.Env]
) -> VecEnv:
    """``n_envs`` copies of ``make()`` in this process (``dummy``) or one worker process each (``subproc``;
    ``compute_reward`` then runs in this process on ``make_reward_env()``, see :class:`LocalRewardVecEnv`)."""
    if kind == "subproc":
        return LocalRewardVecEnv(SubprocVecEnv([make] * n_envs), make_reward_env())
    return DummyVecEnv([make] * n_envs)


def make_fetch_vec_env(env_cfg: EnvConfig, n_envs: int, render: bool, kind: VecEnvKind = "auto") -> VecEnv:
    """``n_envs`` Fetch envs, rendering ones stepped in parallel worker processes (see :func:`resolve_vec_env`)."""
    return make_vec_env(
        lambda: FetchPixelEnv(env_cfg, render=render),
        n_envs,
        resolve_vec_env(kind, n_envs, render),
        lambda: FetchPixelEnv(env_cfg, render=False),
    )
