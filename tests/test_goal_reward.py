"""``goal_reward: simulator``: a RIG agent's goal input with the simulator's reward (a diagnostic that uses labels).

The goals carry ``[goal-space point, simulator position]``; rewards and HER's relabelled rewards come from the
positions, and the networks read the points only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from pipeline.config import Params
from pipeline.encoders import load_encoder
from pipeline.goalspace.keypoints import KeypointGoalSpace
from pipeline.policy.config import VariantConfig
from pipeline.policy.normalize import VectorInputs
from pipeline.policy.vec_backend import make_fetch_vec_env
from pipeline.policy.vecenv import GoalObsVecEnv

from .conftest import tiny_params_dict
from .test_goalspace import spatial_encoder


def true_reward(achieved: np.ndarray, desired: np.ndarray, radius: float = 0.05) -> np.ndarray:
    """Fetch's sparse reward on positions ``(..., 3)``."""
    return -(np.linalg.norm(achieved - desired, axis=-1) > radius).astype(np.float32)


def diagnostic_env(tmp_path: Path) -> tuple[Params, Any, KeypointGoalSpace, VariantConfig, GoalObsVecEnv]:
    """A ``goal_reward: simulator`` env on a tiny spatial AE: 2 envs, keypoint goals, reward threshold 1e-6."""
    params = Params.model_validate(tiny_params_dict(tmp_path))
    enc = load_encoder(spatial_encoder(params), device="cpu")
    space = KeypointGoalSpace(8, 4, np.array([1, 2]))
    variant = VariantConfig(obs="latent", encoder="spatial_ae", goal_mode="latent", goal_space="keypoints",
                            goal_reward="simulator", frame_stack=2)  # fmt: skip
    env = GoalObsVecEnv(make_fetch_vec_env(params.env, 2, render=True, kind="dummy"), variant, enc, 1e-6, seed=3,
                        goal_space=space)  # fmt: skip
    return params, enc, space, variant, env


def test_goals_append_positions_and_rewards_follow_them(tmp_path: Path) -> None:
    params, enc, space, variant, env = diagnostic_env(tmp_path)
    G = space.dim
    assert env.observation_space["desired_goal"].shape == (G + 3,)
    assert env.goal_width == G
    env.seed(5)
    obs = env.reset()
    rng = np.random.default_rng(2)
    for _ in range(params.env.max_episode_steps + 2):  # crosses an episode end
        obs, rewards, dones, infos = env.step(rng.uniform(-1, 1, (2, 4)).astype(np.float32))
        raw = env.raw_observations()
        live = ~dones  # after an episode end the new episode's goal is in raw
        np.testing.assert_array_equal(obs["achieved_goal"][:, -3:][live], raw["achieved_goal"][live].astype(np.float32))
        np.testing.assert_array_equal(obs["desired_goal"][:, -3:][live], raw["desired_goal"][live].astype(np.float32))
        np.testing.assert_allclose(obs["achieved_goal"][:, :G], space.project(enc.encode(raw["pixels"])), atol=1e-5)
        np.testing.assert_array_equal(rewards[live], true_reward(raw["achieved_goal"], raw["desired_goal"])[live])
    # HER's hook: relabelled goals are rewarded on their positions, whatever their points say (threshold 1e-6)
    a, d = obs["achieved_goal"].copy(), obs["desired_goal"].copy()
    d[:, -3:] = a[:, -3:] + np.array([[0.01, 0, 0], [0.2, 0, 0]])
    d[:, :G] = a[:, :G] + 5.0
    (her,) = env.env_method("compute_reward", a, d, [{}, {}], indices=[0])
    np.testing.assert_array_equal(her, [0.0, -1.0])
    env.close()


def test_networks_read_the_points_only() -> None:
    """Under ``goal_width`` the extractor's output is blind to the appended positions, and sized without them."""
    from gymnasium import spaces

    box = lambda n: spaces.Box(-np.inf, np.inf, (n,), np.float32)  # noqa: E731
    space = spaces.Dict({"observation": box(6), "achieved_goal": box(4 + 3), "desired_goal": box(4 + 3)})
    ext = VectorInputs(space, keys=("observation", "desired_goal"), goal_width=4)
    assert ext.features_dim == 6 + 4
    batch = {k: torch.randn(5, s.shape[0]) for k, s in space.spaces.items()}
    ext.update({k: v.numpy() for k, v in batch.items()})
    before = ext(batch)
    batch["desired_goal"][:, 4:] += 10.0
    batch["achieved_goal"] += 3.0
    torch.testing.assert_close(ext(batch), before)
    batch["desired_goal"][:, :4] += 1.0
    assert not torch.allclose(ext(batch), before)


def test_goal_reward_needs_latent_goals() -> None:
    with pytest.raises(ValueError, match="goal_reward: simulator needs goal_mode: latent"):
        VariantConfig(obs="latent", encoder="vae", goal_reward="simulator")


def test_build_model_reads_the_points_only(tmp_path: Path) -> None:
    """End to end: ``build_model`` sizes the networks from the env's ``goal_width``; moving the appended simulator
    positions in an observation leaves the actor's action and the critic's values unchanged."""
    from pipeline.policy.build import build_model

    _, _, space, variant, env = diagnostic_env(tmp_path)
    model = build_model(variant, env, 0, "cpu", tmp_path / "tb")
    G = space.dim
    ext = model.actor.features_extractor
    assert ext.features_dim == env.observation_space["observation"].shape[0] + G  # observation + the goal's points
    env.seed(1)
    obs = env.reset()
    moved = {k: v.copy() for k, v in obs.items()}
    for key in ("achieved_goal", "desired_goal"):
        moved[key][:, G:] += 0.3  # (n, G + 3): only the positions move
    before, _ = model.predict(obs, deterministic=True)
    after, _ = model.predict(moved, deterministic=True)
    np.testing.assert_array_equal(after, before)
    with torch.no_grad():
        t, _ = model.policy.obs_to_tensor(obs)
        m, _ = model.policy.obs_to_tensor(moved)
        act = torch.as_tensor(before)
        for q, q_moved in zip(model.critic(t, act), model.critic(m, act)):
            torch.testing.assert_close(q_moved, q)
    moved["desired_goal"][:, :G] += 1.0  # the points do reach the actor
    changed, _ = model.predict(moved, deterministic=True)
    assert not np.array_equal(changed, before)
    env.close()
