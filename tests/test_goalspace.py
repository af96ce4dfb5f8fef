"""Goal spaces for latent (RIG) goals: label-free keypoint selection, the distance head and the stage (what a
latent-goal agent's env reads at RL time: ``test_goalspace_env.py``)."""

from __future__ import annotations

import json
import typing
from pathlib import Path

import numpy as np
import pytest

from pipeline.config import Params
from pipeline.goalspace import GOAL_SPACES, load_goal_space
from pipeline.goalspace.config import GoalSpaceConfig
from pipeline.goalspace.data import FitData
from pipeline.goalspace.head import DistanceHeadGoalSpace
from pipeline.goalspace.keypoints import KeypointGoalSpace, keypoint_xy, select_object_keypoints
from pipeline.goalspace.stage import fit_goal_spaces
from pipeline.policy.config import VariantConfig
from pipeline.policy.fields import GoalSpaceName

from .conftest import tiny_params_dict
from .policy_helpers import spatial_encoder

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
