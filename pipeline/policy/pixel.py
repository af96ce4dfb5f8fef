"""End-to-end pixel SAC+HER variants: their envs (frames stacked channel-first) and networks (CNN extractor,
encoder gradient routing); the agent is built by :func:`pipeline.policy.model.build_model`."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.vec_env import VecEnv
from stable_baselines3.sac.policies import SACPolicy

from pipeline.envs import EnvConfig, FetchPixelEnv
from pipeline.policy.config import VariantConfig
from pipeline.policy.frame_stack import PixelFrameStack
from pipeline.policy.routing import encoder_modules, pixel_policy_kwargs, routed_policy
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


def pixel_networks(variant: VariantConfig) -> tuple[type[SACPolicy], dict[str, Any]]:
    """The SAC policy class and ``policy_kwargs`` of a pixel variant: its extractor, and the encoder routing."""
    keys = variant.input_keys()
    vector_keys = (["proprio"] if variant.proprio and "observation" in keys else []) + [
        k for k in keys if k != "observation"
    ]
    extractor_kwargs: dict[str, Any] = {
        "coordconv": variant.coordconv,
        "augment": variant.augment,
        "vector_keys": vector_keys,
    }
    return routed_policy(
        variant.routing, pixel_policy_kwargs(variant.extractor, list(variant.sac.net_arch), **extractor_kwargs)
    )


def compile_encoders(model: Any) -> None:
    """``torch.compile`` each distinct image encoder of a pixel agent (actor's, critic's, target's) in place: its
    ``forward`` is replaced, so parameters, ``state_dict`` keys and checkpoints stay those of the eager module."""
    # acting, updating, the target and evaluation call an encoder in ~5 (grad mode, batch, train/eval) combinations,
    # each a graph its instances share; room for them all under dynamo's default limit of 8 recompiles, and more
    torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, 16)
    found = [*encoder_modules(model).values(), model.critic_target.features_extractor]
    for module in {id(m): m for m in found}.values():
        module.forward = torch.compile(module.forward)
