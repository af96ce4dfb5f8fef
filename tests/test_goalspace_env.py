"""Latent goals at RL time: no simulator label reaches a latent-goal agent's inputs or rewards, the projected
observation stack, the achieved goal's median window, and the variant rules that tie them to latent goals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline.config import Params
from pipeline.encoders import load_encoder
from pipeline.goalspace.base import LatentGoalSpace
from pipeline.goalspace.keypoints import KeypointGoalSpace
from pipeline.policy.config import VariantConfig
from pipeline.policy.latent_goals import latent_reward
from pipeline.policy.vec_backend import make_fetch_vec_env
from pipeline.policy.vecenv import GoalObsVecEnv

from .conftest import tiny_params_dict
from .policy_helpers import spatial_encoder


class Relabelled:
    """A vec env wrapper that shifts every simulator label of the block (achieved goal, object state, full state)
    and flips the env's own success and reward; the desired goal position is left, as it places the goal image."""

    def __init__(self, venv) -> None:
        self.venv = venv

    def __getattr__(self, name):
        return getattr(self.venv, name)

    def _shift(self, obs):
        return {k: v + 0.37 if k in ("achieved_goal", "object", "state") else v for k, v in obs.items()}

    def reset(self):
        return self._shift(self.venv.reset())

    def step_async(self, actions):
        self.venv.step_async(actions)

    def step_wait(self):
        obs, rewards, dones, infos = self.venv.step_wait()
        for info in infos:
            info["is_success"] = 1.0 - info.get("is_success", 0.0)
            if "terminal_observation" in info:
                info["terminal_observation"] = self._shift(info["terminal_observation"])
        return self._shift(obs), rewards - 5.0, dones, infos

    def env_method(self, name, *args, indices=None, **kwargs):
        if name == "compute_reward":
            return [np.full(len(args[0]), 123.0)]
        return self.venv.env_method(name, *args, indices=indices, **kwargs)


@pytest.mark.parametrize("space", ["latent", "keypoints", "hold"])
def test_no_simulator_label_reaches_latent_goal_inputs_or_rewards(tmp_path: Path, space: str) -> None:
    params = Params.model_validate(tiny_params_dict(tmp_path))
    enc = load_encoder(spatial_encoder(params), device="cpu")
    goal = LatentGoalSpace(8) if space == "latent" else KeypointGoalSpace(8, 4, np.array([1, 2]))
    if space == "hold":  # object permanence, thresholds at the first frame's presence: some frames out of sight
        first = make_fetch_vec_env(params.env, 1, render=True, kind="dummy")
        peaks = enc.encode_presence(first.reset()["pixels"])[1][0, [0, 3]]  # (1, K) -> (2,): peaks that vary
        goal = KeypointGoalSpace(8, 4, np.array([0, 3]), min_presence=peaks)
        first.close()
    kind = "latent" if space == "latent" else "keypoints"
    variant = VariantConfig(obs="latent", encoder="spatial_ae", goal_mode="latent", goal_space=kind, frame_stack=2,
                            occluded_goal="hold" if space == "hold" else "read")  # fmt: skip
    actions = np.random.default_rng(0).uniform(-1, 1, (params.env.max_episode_steps + 4, 2, 4)).astype(np.float32)
    traces = []
    for relabel in (False, True):
        raw = make_fetch_vec_env(params.env, 2, render=True, kind="dummy")
        env = GoalObsVecEnv(Relabelled(raw) if relabel else raw, variant, enc, 0.05, seed=3, goal_space=goal)
        env.seed(5)
        trace = [env.reset()]
        for a in actions:  # crosses an episode end: terminal observations and new goal images
            obs, rewards, dones, infos = env.step(a)
            terms = [infos[i]["terminal_observation"] for i in np.flatnonzero(dones)]
            her = env.env_method("compute_reward", obs["achieved_goal"], obs["desired_goal"], [{}] * 2)[0]
            trace.append((obs, rewards, terms, her))
        traces.append(trace)
        env.close()
    clean, moved = traces
    assert np.array_equal(clean[0]["desired_goal"], moved[0]["desired_goal"])
    for (o1, r1, t1, h1), (o2, r2, t2, h2) in zip(clean[1:], moved[1:]):
        assert all(np.array_equal(o1[k], o2[k]) for k in o1)
        assert np.array_equal(r1, r2) and np.array_equal(h1, h2)
        assert all(np.array_equal(a[k], b[k]) for a, b in zip(t1, t2) for k in a)
    assert clean[1][0]["desired_goal"].shape == (2, goal.dim)


def test_obs_space_stacks_projected_latents(tmp_path: Path) -> None:
    """``obs_space``: the observation stacks the goal-space projection of each frame's latent, terminal ones too."""
    params = Params.model_validate(tiny_params_dict(tmp_path))
    enc = load_encoder(spatial_encoder(params), device="cpu")
    space = KeypointGoalSpace(8, 4, np.array([1, 2]))
    actions = np.random.default_rng(1).uniform(-1, 1, (params.env.max_episode_steps + 3, 2, 4)).astype(np.float32)
    traces = []
    for obs_space in ("latent", "keypoints"):
        variant = VariantConfig(obs="latent", encoder="spatial_ae", frame_stack=2, obs_space=obs_space)
        raw = make_fetch_vec_env(params.env, 2, render=True, kind="dummy")
        env = GoalObsVecEnv(raw, variant, enc, seed=3, obs_space=space if obs_space == "keypoints" else None)
        env.seed(5)
        trace = [env.reset()["observation"]]
        for a in actions:  # crosses an episode end
            obs, _, dones, infos = env.step(a)
            trace += [
                obs["observation"],
                *[infos[i]["terminal_observation"]["observation"][None] for i in np.flatnonzero(dones)],
            ]
        traces.append(trace)
        assert env.observation_space["observation"].shape == (
            2 * (enc.latent_dim if obs_space == "latent" else space.dim) + 10,
        )
        env.close()
    L, G = enc.latent_dim, space.dim
    assert len(traces[0]) == len(traces[1]) > params.env.max_episode_steps
    for whole, seen in zip(*traces):
        assert seen.shape[1] == 2 * G + 10
        np.testing.assert_array_equal(seen[:, :G], space.project(whole[:, :L]))  # older frame
        np.testing.assert_array_equal(seen[:, G : 2 * G], space.project(whole[:, L : 2 * L]))  # newest frame
        np.testing.assert_array_equal(seen[:, 2 * G :], whole[:, 2 * L :])  # proprio


@pytest.mark.parametrize("window", [1, 3])
def test_achieved_goal_is_the_median_of_the_last_frames_points(tmp_path: Path, window: int) -> None:
    """``achieved_window``: the achieved goal (and so the latent reward and HER's relabelled goals) is the
    per-coordinate median of the goal-space points of the last ``window`` frames, terminal observations too."""
    params = Params.model_validate(tiny_params_dict(tmp_path))
    enc = load_encoder(spatial_encoder(params), device="cpu")
    space = KeypointGoalSpace(8, 4, np.array([1, 2]))
    variant = VariantConfig(obs="latent", encoder="spatial_ae", goal_mode="latent", goal_space="keypoints",
                            obs_space="keypoints", frame_stack=3, achieved_window=window, proprio=False)  # fmt: skip
    raw = make_fetch_vec_env(params.env, 2, render=True, kind="dummy")
    env = GoalObsVecEnv(raw, variant, enc, 0.05, seed=3, goal_space=space, obs_space=space)
    env.seed(5)
    G = space.dim
    actions = np.random.default_rng(2).uniform(-1, 1, (params.env.max_episode_steps + 3, 2, 4)).astype(np.float32)
    seen = [env.reset()]
    for a in actions:  # crosses an episode end
        obs, rewards, dones, infos = env.step(a)
        np.testing.assert_array_equal(rewards, latent_reward(obs["achieved_goal"], obs["desired_goal"], 0.05))
        seen += [obs, *[infos[i]["terminal_observation"] for i in np.flatnonzero(dones)]]
    env.close()
    for o in seen:
        points = np.atleast_2d(o["observation"]).reshape(-1, 3, G)  # (m, 3*G) -> (m, frames, G), oldest first
        np.testing.assert_allclose(np.atleast_2d(o["achieved_goal"]), np.median(points[:, 3 - window :], axis=1))


def test_achieved_window_needs_latent_goals() -> None:
    with pytest.raises(ValueError, match="achieved_window: 3 needs goal_mode: latent"):
        VariantConfig(obs="latent", encoder="vae", achieved_window=3)


def test_obs_space_needs_latent_obs() -> None:
    with pytest.raises(ValueError, match="obs_space: keypoints needs obs: latent"):
        VariantConfig(obs="proprio", obs_space="keypoints")
    VariantConfig(obs="latent", encoder="supervised", obs_space="distance_head", prior_data=True)  # one flow: allowed
    v = VariantConfig(obs="latent", encoder="supervised", obs_space="distance_head")
    assert v.fitted_spaces() == {"distance_head"}
    assert VariantConfig(obs="latent", encoder="supervised").fitted_spaces() == set()
