"""End-to-end pixel SAC+HER variants: CNN extractors, encoder gradient routing, frame-once HER buffer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from stable_baselines3 import SAC
from stable_baselines3.common.vec_env import VecEnv

from pipeline.envs import EnvConfig, FetchPixelEnv
from pipeline.policy.config import VariantConfig
from pipeline.policy.frame_buffer import FrameHerReplayBuffer
from pipeline.policy.frame_stack import PixelFrameStack
from pipeline.policy.routing import make_sac, pixel_policy_kwargs
from pipeline.policy.vec_backend import VecEnvKind, make_vec_env, resolve_vec_env


class PixelGoalObs(gym.ObservationWrapper):
    """Keep what a pixel agent sees: ``pixels`` (H, W, 3), optional ``proprio``, and the vector goals."""

    def __init__(self, env: FetchPixelEnv, proprio: bool) -> None:
        super().__init__(env)
        keys = ["pixels", "achieved_goal", "desired_goal"] + (["proprio"] if proprio else [])
        self.keys = keys
        box = lambda k: spaces.Box(-np.inf, np.inf, env.observation_space[k].shape, np.float32)  # noqa: E731
        self.observation_space = spaces.Dict({k: env.observation_space[k] if k == "pixels" else box(k) for k in keys})

    def observation(self, obs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {k: obs[k] if k == "pixels" else obs[k].astype(np.float32) for k in self.keys}


def make_pixel_env(env_cfg: EnvConfig, variant: VariantConfig) -> gym.Env:
    """One pixel env: frames stacked channel-first ``(3k, H, W)``, oldest first, first frame repeated."""
    return PixelFrameStack(PixelGoalObs(FetchPixelEnv(env_cfg), variant.proprio), variant.frame_stack)


def build_pixel_envs(
    env_cfg: EnvConfig, variant: VariantConfig, n_train: int, n_eval: int, vec_env: VecEnvKind
) -> tuple[VecEnv, VecEnv]:
    """Training and evaluation vec envs of a pixel variant (vector goals only: ``pipeline.policy.rules``);
    ``vec_env``: ``policy.vec_env``."""
    make = lambda: make_pixel_env(env_cfg, variant)  # noqa: E731
    reward = lambda: FetchPixelEnv(env_cfg, render=False)  # noqa: E731
    return (
        make_vec_env(make, n_train, resolve_vec_env(vec_env, n_train, True), reward),
        make_vec_env(make, n_eval, resolve_vec_env(vec_env, n_eval, True), reward),
    )


def build_pixel_model(variant: VariantConfig, env: VecEnv, seed: int, device: str, tb_dir: Path) -> SAC:
    """SB3 SAC for a pixel variant: chosen extractor and routing, :class:`FrameHerReplayBuffer`."""
    sac = variant.sac
    keys = variant.input_keys()
    vector_keys = (["proprio"] if variant.proprio and "observation" in keys else []) + [
        k for k in keys if k != "observation"
    ]
    extractor_kwargs: dict[str, Any] = {
        "coordconv": variant.coordconv,
        "augment": variant.augment,
        "vector_keys": vector_keys,
    }
    return make_sac(
        variant.routing, env,
        policy_kwargs=pixel_policy_kwargs(variant.extractor, list(sac.net_arch), **extractor_kwargs),
        learning_rate=sac.learning_rate, buffer_size=sac.buffer_size, batch_size=sac.batch_size, gamma=sac.gamma,
        tau=sac.tau, learning_starts=sac.learning_starts, train_freq=sac.train_freq, gradient_steps=sac.gradient_steps,
        ent_coef=sac.ent_coef, replay_buffer_class=FrameHerReplayBuffer,
        replay_buffer_kwargs={"n_sampled_goal": variant.her.n_sampled_goal,
                              "goal_selection_strategy": variant.her.goal_selection_strategy,
                              "frame_stack": variant.frame_stack},
        tensorboard_log=str(tb_dir), seed=seed, device=device, verbose=0,
    )  # fmt: skip
