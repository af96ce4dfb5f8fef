"""Keypoint presence and object permanence: a frame whose block keypoint is out of sight keeps the last reading."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from pipeline.config import Params
from pipeline.encoders import LoadedEncoder, load_encoder, save_encoder
from pipeline.encoders.registry import build_encoder
from pipeline.goalspace import load_goal_space
from pipeline.goalspace.config import GoalSpaceConfig
from pipeline.goalspace.keypoints import KeypointGoalSpace, otsu_threshold
from pipeline.nets import frames_to_tensor
from pipeline.policy.config import VariantConfig
from pipeline.policy.latent_goals import latent_reward
from pipeline.policy.vec_backend import make_fetch_vec_env
from pipeline.policy.vecenv import GoalObsVecEnv

from .conftest import tiny_params_dict
from .test_goalspace import K, spatial_encoder, synthetic


def frames(n: int, size: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


@pytest.mark.parametrize("name", ["spatial_ae", "supervised"])
def test_presence_is_each_maps_peak_and_comes_with_the_same_latent(tmp_path: Path, name: str) -> None:
    torch.manual_seed(0)
    cfg = {"num_keypoints": 4, "channels": [8]} | ({"recon_size": 16} if name == "spatial_ae" else {"head_hidden": 8})
    net = build_encoder(name, cfg, 32)
    save_encoder(net, name, cfg, 32, {}, "FetchPush-v4", tmp_path / name)
    enc = load_encoder(tmp_path / name, device="cpu")
    x = frames(300, 32)  # more than one encode batch
    z, presence = enc.encode_presence(x)
    assert enc.has_presence and z.shape == (300, enc.latent_dim) and presence.shape == (300, 4)
    np.testing.assert_allclose(z, enc.encode(x), atol=1e-5)
    with torch.no_grad():
        maps = enc.net.trunk.convs(frames_to_tensor(torch.from_numpy(x[:5])))  # (5, K, h, w)
    np.testing.assert_allclose(presence[:5], maps.flatten(2).amax(-1).numpy(), atol=1e-5)
    assert presence.std(0).min() > 0  # varies with the frame


def test_encoders_without_keypoints_have_no_presence(tmp_path: Path) -> None:
    net = build_encoder("vae", {"latent_dim": 8, "channels": [8, 16]}, 32)
    save_encoder(net, "vae", {"latent_dim": 8, "channels": [8, 16]}, 32, {}, "FetchPush-v4", tmp_path / "vae")
    enc = load_encoder(tmp_path / "vae", device="cpu")
    assert not enc.has_presence
    with pytest.raises(ValueError, match="no keypoint presence"):
        enc.encode_presence(frames(2, 32))


def test_otsu_threshold_splits_two_modes_between_them() -> None:
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.normal(0.2, 0.05, 300), rng.normal(0.9, 0.05, 700)])
    t = otsu_threshold(values)
    assert 0.35 < t < 0.75 and t == otsu_threshold(values)
    assert otsu_threshold(values + 10) == pytest.approx(t + 10, abs=0.01)  # follows the values, no fixed scale


def test_presence_thresholds_are_fitted_without_labels_and_round_trip(tmp_path: Path) -> None:
    data = synthetic()
    rng = np.random.default_rng(1)
    hidden = rng.random(len(data.z)) < 0.2  # frames where the block keypoint's map has no peak
    presence = rng.normal(0.9, 0.03, (len(data.z), K)).astype(np.float32)  # (N, K)
    presence[hidden, 1] = rng.normal(0.3, 0.05, int(hidden.sum()))
    fitted = KeypointGoalSpace.fit(GoalSpaceConfig(), type(data)(**{**data.__dict__, "presence": presence}))
    assert fitted.indices.tolist() == [1] and 0.4 < fitted.min_presence[0] < 0.8
    np.testing.assert_array_equal(fitted.in_sight(presence), ~hidden)
    relabelled = {**data.__dict__, "presence": presence, "object_pos": data.object_pos + 1, "visible": ~hidden}
    again = KeypointGoalSpace.fit(GoalSpaceConfig(), type(data)(**relabelled))
    np.testing.assert_array_equal(again.min_presence, fitted.min_presence)  # the labels play no part
    fitted.save(tmp_path)
    np.testing.assert_array_equal(load_goal_space("keypoints", tmp_path, data.z.shape[1]).min_presence,
                                  fitted.min_presence)  # fmt: skip
    old = KeypointGoalSpace.fit(GoalSpaceConfig(), data)  # fitted before presence was recorded
    assert old.min_presence is None
    with pytest.raises(ValueError, match="presence thresholds"):
        old.in_sight(presence)


class Spy:
    """An encoder that records the presence of every frame it encodes for the wrapper, in call order."""

    def __init__(self, enc: LoadedEncoder) -> None:
        self.enc, self.calls = enc, []

    def __getattr__(self, name):
        return getattr(self.enc, name)

    def encode_presence(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        z, p = self.enc.encode_presence(x)
        self.calls.append(p)
        return z, p


def test_hold_keeps_the_last_point_in_sight_within_an_episode(tmp_path: Path) -> None:
    """With ``occluded_goal: hold`` the achieved goal of a frame in sight is its own point (what the observation
    reads); out of sight it is the previous frame's achieved goal, except on an episode's first frame. Rewards
    and terminal observations follow; the observation is the keypoint as read."""
    params = Params.model_validate(tiny_params_dict(tmp_path))
    enc = load_encoder(spatial_encoder(params), device="cpu")
    variant = VariantConfig(obs="latent", encoder="spatial_ae", goal_mode="latent", goal_space="keypoints",
                            obs_space="keypoints", proprio=False, occluded_goal="hold")  # fmt: skip
    actions = np.random.default_rng(2).uniform(-1, 1, (params.env.max_episode_steps + 5, 2, 4)).astype(np.float32)

    def start(space: KeypointGoalSpace) -> tuple[GoalObsVecEnv, Spy]:
        spy = Spy(enc)
        venv = make_fetch_vec_env(params.env, 2, render=True, kind="dummy")
        env = GoalObsVecEnv(venv, variant, spy, 0.05, seed=3, goal_space=space, obs_space=space)
        env.seed(5)  # the same episodes and frames in both passes
        return env, spy

    # first pass, everything in sight: the threshold goes at the median presence of these very frames
    env, spy = start(KeypointGoalSpace(8, 4, np.array([1]), min_presence=[-np.inf]))
    env.reset()
    for a in actions:
        env.step(a)
    env.close()
    presence = np.concatenate(spy.calls)  # (frames, K)
    k = int(np.argmax([len(np.unique(presence[:, i])) for i in range(4)]))  # the keypoint whose peak varies most
    middle = float(np.median(presence[:, k]))
    space = KeypointGoalSpace(8, 4, np.array([k]), min_presence=[middle])  # about half the frames out of sight
    env, spy = start(space)
    obs = env.reset()
    np.testing.assert_array_equal(obs["achieved_goal"], obs["observation"])  # a first frame holds its own point
    counts = {"held": 0, "read": 0, "terminal": 0, "held_differs": 0}
    for a in actions:  # crosses an episode end
        before = obs
        obs, rewards, dones, infos = env.step(a)
        sight = space.in_sight(spy.calls[-1])  # (2 + terminals,): current frames, then terminal frames
        for i in range(2):
            new = obs["observation"][i]  # the current frame's keypoint as read
            if dones[i]:
                term = infos[i]["terminal_observation"]
                j = 2 + int(np.flatnonzero(dones).tolist().index(i))
                want = term["observation"] if sight[j] else before["achieved_goal"][i]
                np.testing.assert_array_equal(term["achieved_goal"], want)
                np.testing.assert_array_equal(obs["achieved_goal"][i], new)  # the new episode starts afresh
                assert rewards[i] == latent_reward(term["achieved_goal"], term["desired_goal"], 0.05)
                counts["terminal"] += 1
                continue
            want = new if sight[i] else before["achieved_goal"][i]
            np.testing.assert_array_equal(obs["achieved_goal"][i], want)
            counts["read" if sight[i] else "held"] += 1
            counts["held_differs"] += not np.array_equal(want, new)
            assert rewards[i] == latent_reward(obs["achieved_goal"][i], obs["desired_goal"][i], 0.05)
    env.close()
    assert counts["read"] > 3 and counts["held_differs"] > 3 and counts["terminal"] == 2  # both branches ran


def test_hold_needs_keypoint_goals_with_presence_thresholds(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="occluded_goal: hold needs goal_mode: latent and goal_space: keypoints"):
        VariantConfig(obs="latent", encoder="spatial_ae", goal_mode="latent", occluded_goal="hold")
    params = Params.model_validate(tiny_params_dict(tmp_path))
    enc = load_encoder(spatial_encoder(params), device="cpu")
    variant = VariantConfig(obs="latent", encoder="spatial_ae", goal_mode="latent", goal_space="keypoints",
                            occluded_goal="hold")  # fmt: skip
    venv = make_fetch_vec_env(params.env, 1, render=True, kind="dummy")
    with pytest.raises(ValueError, match="presence thresholds"):
        GoalObsVecEnv(venv, variant, enc, 0.05, goal_space=KeypointGoalSpace(8, 4, np.array([1])))
    venv.close()
