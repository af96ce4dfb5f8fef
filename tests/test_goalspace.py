"""Goal spaces for latent (RIG) goals: label-free keypoint selection, the distance head, the stage, and that no
simulator label reaches a latent-goal agent's inputs or rewards at RL time."""

from __future__ import annotations

import json
import typing
from pathlib import Path

import numpy as np
import pytest
import torch

from pipeline.config import Params
from pipeline.encoders import load_encoder, save_encoder
from pipeline.encoders.registry import build_encoder
from pipeline.goalspace import GOAL_SPACES, load_goal_space
from pipeline.goalspace.base import LatentGoalSpace
from pipeline.goalspace.config import GoalSpaceConfig
from pipeline.goalspace.data import FitData
from pipeline.goalspace.head import DistanceHeadGoalSpace
from pipeline.goalspace.keypoints import KeypointGoalSpace, keypoint_xy, select_object_keypoints
from pipeline.goalspace.stage import fit_goal_spaces
from pipeline.policy.config import VariantConfig
from pipeline.policy.fields import GoalSpaceName
from pipeline.policy.latent_goals import latent_reward
from pipeline.policy.vec_backend import make_fetch_vec_env
from pipeline.policy.vecenv import GoalObsVecEnv

from .conftest import tiny_params_dict

K = 5


def synthetic(seed: int = 0, episodes: int = 40, steps: int = 30) -> FitData:
    """Keypoints of a made-up scene: 0 and 3 follow an arm (random walk in every episode), 1 a block (one place per
    episode, slight jitter), 2 and 4 the static background (jitter only)."""
    rng = np.random.default_rng(seed)
    n = episodes * steps
    xy = rng.normal(0, 0.005, (n, K, 2))  # (N, K, 2) jitter
    arm = np.cumsum(rng.normal(0, 0.05, (episodes, steps, 2)), axis=1).reshape(n, 2)  # (E, T, 2) -> (N, 2)
    xy[:, 0] += arm
    xy[:, 3] += 0.8 * arm + 0.1
    obj = np.repeat(rng.uniform(-0.15, 0.15, (episodes, 3)) * [1, 1, 0], steps, axis=0).astype(np.float32)  # (N, 3)
    xy[:, 1] += 3 * obj[:, :2]  # the block's keypoint: one place per episode
    z = np.concatenate([xy[..., 0], xy[..., 1], rng.normal(size=(n, 3))], axis=1).astype(np.float32)  # (N, 2K + 3)
    return FitData(z, np.repeat(np.arange(episodes), steps), obj, np.ones(n, np.float32), "spatial_ae",
                   {"num_keypoints": K})  # fmt: skip


def test_keypoint_selection_picks_the_block_without_labels_and_is_deterministic() -> None:
    data = synthetic()
    xy = keypoint_xy(data.z, K)
    assert select_object_keypoints(xy, data.episodes, 1).tolist() == [1]
    assert select_object_keypoints(xy, data.episodes, 2).tolist() == [0, 1]  # next best: the arm, not background
    again = synthetic()
    assert np.array_equal(select_object_keypoints(keypoint_xy(again.z, K), again.episodes, 2),
                          select_object_keypoints(xy, data.episodes, 2))  # fmt: skip
    space = KeypointGoalSpace.fit(GoalSpaceConfig(keypoints={"count": 1}), data)
    assert space.dim == 2 and np.array_equal(space.project(data.z), data.z[:, [1, K + 1]])
    assert KeypointGoalSpace.fit(GoalSpaceConfig(), FitData(**{**data.__dict__, "encoder_name": "vae"})) is None


def fitted_spaces(data: FitData) -> dict[str, object]:
    cfg = GoalSpaceConfig(distance_head={"steps": 50, "hidden": 16})
    return {name: kind.fit(cfg, data) for name, kind in GOAL_SPACES.items()}


def test_goal_distance_is_batched_and_equals_a_loop() -> None:
    data = synthetic()
    za, zb = data.z[:24].reshape(4, 6, -1), data.z[100:124].reshape(4, 6, -1)  # (24, L) -> (4, 6, L)
    for name, space in fitted_spaces(data).items():
        batched = space.distance(za, zb)  # (4, 6)
        loop = np.array([[np.linalg.norm(space.project(za[i, j]) - space.project(zb[i, j])) for j in range(6)]
                         for i in range(4)])  # fmt: skip
        assert batched.shape == (4, 6)
        np.testing.assert_allclose(batched, loop, rtol=1e-5, atol=1e-6, err_msg=name)


def test_distance_head_learns_block_distance_and_round_trips(tmp_path: Path) -> None:
    data = synthetic()
    head = DistanceHeadGoalSpace.fit(GoalSpaceConfig(distance_head={"steps": 400}), data)
    i, j = np.arange(0, 1200, 7), np.arange(600, 1800, 7) % 1200
    true = np.linalg.norm(data.object_pos[i] - data.object_pos[j], axis=1) / 0.1
    err = np.abs(head.distance(data.z[i], data.z[j]) - true).mean()
    assert err < 0.5 * np.abs(true - true.mean()).mean()  # far better than a constant
    head.save(tmp_path)
    back = load_goal_space("distance_head", tmp_path, data.z.shape[1])
    np.testing.assert_array_equal(back.project(data.z[:50]), head.project(data.z[:50]))
    with pytest.raises(ValueError, match="latent_dim|size"):
        load_goal_space("distance_head", tmp_path, data.z.shape[1] + 1)


def test_variant_goal_space_names_are_the_registry() -> None:
    assert set(typing.get_args(GoalSpaceName)) == set(GOAL_SPACES)
    with pytest.raises(ValueError, match="goal_mode: latent"):
        VariantConfig(obs="latent", encoder="spatial_ae", goal_space="keypoints")


def spatial_encoder(params: Params) -> Path:
    torch.manual_seed(0)
    cfg = {"num_keypoints": 4, "channels": [8], "recon_size": 16}
    net = build_encoder("spatial_ae", cfg, params.env.image_size)
    out = params.paths.encoders / "spatial_ae"
    save_encoder(net, "spatial_ae", cfg, params.env.image_size, params.env.camera_dict(), params.env.id, out)
    return out


def test_stage_fits_scores_and_publishes(tiny_dataset: Path, tmp_path: Path) -> None:
    p = tiny_params_dict(tmp_path)
    p["env"].update(image_size=32, max_episode_steps=20)
    p["paths"]["dataset"] = str(tiny_dataset)
    params = Params.model_validate(p)
    enc = spatial_encoder(params)
    out = params.paths.goal_spaces / "spatial_ae"
    cfg = GoalSpaceConfig(distance_head={"steps": 20}, keypoints={"count": 2}, eval_pairs=200)
    metrics = fit_goal_spaces(cfg, enc, tiny_dataset, 0.34, 0, out)
    assert set(metrics["spaces"]) == {"latent", "keypoints", "distance_head"}
    assert json.loads((out / "metrics.json").read_text()) == metrics
    assert not out.with_name("spatial_ae.partial").exists()
    kp = metrics["spaces"]["keypoints"]
    assert kp["dim"] == 4 and len(kp["keypoints"]) == 2 and not kp["uses_labels"]
    assert 0 <= kp["in_sight_block_shown"] <= 1 and 0 <= kp["in_sight_block_hidden"] <= 1  # presence thresholds
    assert load_goal_space("keypoints", out, 8).min_presence.shape == (2,)
    assert metrics["spaces"]["distance_head"]["uses_labels"]
    assert all(-1 <= m["rho_object"] <= 1 for m in metrics["spaces"].values())
    assert fit_goal_spaces(cfg, enc, tiny_dataset, 0.34, 0, out)["spaces"]["keypoints"] == kp  # deterministic
    for name in metrics["spaces"]:
        assert load_goal_space(name, out, 8).dim == metrics["spaces"][name]["dim"]


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
