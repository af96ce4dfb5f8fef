"""FrameHerReplayBuffer: same samples as SB3's HerReplayBuffer, ~1 frame per transition, trains SAC."""

from __future__ import annotations

import copy
import warnings

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces
from gymnasium.wrappers import TimeLimit
from stable_baselines3.common.vec_env import DummyVecEnv
from stable_baselines3.her.her_replay_buffer import HerReplayBuffer

from pipeline.policy.frame_buffer import FrameHerReplayBuffer
from pipeline.policy.frame_stack import PixelFrameStack
from pipeline.policy.routing import pixel_policy_kwargs

from .test_routing import make_sac

torch.set_num_threads(1)


class ToySquareGoalEnv(gym.Env):
    """2-D point; pixels show a bright square at its position; sparse goal reward.

    Terminates after >= 10 steps once x > 0.5, else ``TimeLimit`` truncates (lengths 10..max steps).
    """

    def __init__(self, size: int = 16) -> None:
        self.size = size
        vec = lambda n: spaces.Box(-np.inf, np.inf, (n,), np.float32)  # noqa: E731
        self.observation_space = spaces.Dict(
            {
                "pixels": spaces.Box(0, 255, (size, size, 3), np.uint8),
                "proprio": vec(10),
                "achieved_goal": vec(3),
                "desired_goal": vec(3),
            }
        )
        self.action_space = spaces.Box(-1, 1, (2,), np.float32)
        self.pos = np.zeros(2, np.float32)
        self.goal = np.zeros(3, np.float32)
        self.t = 0

    def _obs(self) -> dict[str, np.ndarray]:
        img = np.zeros((self.size, self.size, 3), np.uint8)
        r, c = (self.pos * (self.size - 3)).astype(int)
        img[r : r + 3, c : c + 3] = (255, 200, 100)
        img[..., 2] += np.uint8(self.t)  # makes every frame of an episode distinct
        achieved = np.array([*self.pos, 0.0], np.float32)
        proprio = np.zeros(10, np.float32)
        proprio[:2], proprio[2] = self.pos, self.t
        return {"pixels": img, "proprio": proprio, "achieved_goal": achieved, "desired_goal": self.goal.copy()}

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[dict, dict]:
        super().reset(seed=seed)
        self.pos = self.np_random.uniform(0, 1, 2).astype(np.float32)
        self.goal = np.array([*self.np_random.uniform(0, 1, 2), 0.0], np.float32)
        self.t = 0
        return self._obs(), {}

    def step(self, action: np.ndarray) -> tuple[dict, float, bool, bool, dict]:
        self.pos = np.clip(self.pos + 0.1 * np.asarray(action, np.float32), 0, 1)
        self.t += 1
        obs = self._obs()
        reward = float(self.compute_reward(obs["achieved_goal"], self.goal, {}))
        return obs, reward, bool(self.t >= 10 and self.pos[0] > 0.5), False, {}

    def compute_reward(self, achieved: np.ndarray, desired: np.ndarray, info: object) -> np.ndarray:
        return -(np.linalg.norm(achieved - desired, axis=-1) > 0.1).astype(np.float32)


def make_vec_env(k: int, padding: str = "repeat", n_envs: int = 1, size: int = 16, max_steps: int = 12) -> DummyVecEnv:
    env = DummyVecEnv([lambda: PixelFrameStack(TimeLimit(ToySquareGoalEnv(size), max_steps), k, padding)] * n_envs)
    env.seed(0)
    return env


def store_transitions(env: DummyVecEnv, buffers: list, n_steps: int, rng: np.random.Generator) -> None:
    """Step with random actions and add to every buffer exactly as SB3's ``_store_transition`` does."""
    obs = env.reset() if not hasattr(env, "_last_obs_") else env._last_obs_
    for _ in range(n_steps):
        actions = rng.uniform(-1, 1, (env.num_envs, 2)).astype(np.float32)
        new_obs, rewards, dones, infos = env.step(actions)
        next_obs = copy.deepcopy(new_obs)
        for i, done in enumerate(dones):
            if done:
                for key in next_obs:
                    next_obs[key][i] = infos[i]["terminal_observation"][key]
        for buf in buffers:
            buf.add(copy.deepcopy(obs), copy.deepcopy(next_obs), actions, rewards, dones, copy.deepcopy(infos))
        obs = new_obs
    env._last_obs_ = obs


def assert_same_samples(ref: HerReplayBuffer, buf: FrameHerReplayBuffer, seeds: range, batch_size: int = 64) -> None:
    for seed in seeds:
        np.random.seed(seed)
        torch.manual_seed(seed)
        a = ref.sample(batch_size)
        np.random.seed(seed)
        torch.manual_seed(seed)
        b = buf.sample(batch_size)
        for field in ("observations", "next_observations"):
            da, db = getattr(a, field), getattr(b, field)
            assert list(da) == list(db)
            for key in da:
                assert da[key].dtype == db[key].dtype
                assert torch.equal(da[key], db[key]), f"{field}[{key}] differs (seed {seed})"
        for field in ("actions", "rewards", "dones"):
            assert torch.equal(getattr(a, field), getattr(b, field)), f"{field} differs (seed {seed})"


@pytest.mark.parametrize(
    "k, padding, strategy, copy_info",
    [
        (3, "repeat", "future", False),
        (2, "zero", "future", True),
        (3, "repeat", "final", False),
        (1, "repeat", "episode", False),
    ],
)
def test_matches_sb3_her_buffer(k: int, padding: str, strategy: str, copy_info: bool) -> None:
    n_envs, buffer_size = 2, 2 * 150
    env = make_vec_env(k, padding, n_envs)
    kwargs = dict(env=env, n_envs=n_envs, n_sampled_goal=4, goal_selection_strategy=strategy, copy_info_dict=copy_info)
    ref = HerReplayBuffer(buffer_size, env.observation_space, env.action_space, **kwargs)
    buf = FrameHerReplayBuffer(
        buffer_size,
        env.observation_space,
        env.action_space,
        frame_stack=k,
        padding=padding,
        check_stacks=True,
        **kwargs,
    )
    rng = np.random.default_rng(0)
    store_transitions(env, [ref, buf], 100, rng)  # not full yet
    assert_same_samples(ref, buf, range(3))
    store_transitions(env, [ref, buf], 180, rng)  # wrapped: old episodes overwritten
    assert buf.full and ref.full
    assert np.array_equal(ref.ep_length, buf.ep_length) and buf.n_dropped_episodes == 0
    assert (buf.dones * (1 - buf.timeouts)).any() and buf.timeouts.any()  # both terminations and timeouts
    assert_same_samples(ref, buf, range(3, 8))
    store_transitions(env, [ref, buf], 3, rng)  # mid-episode
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref.truncate_last_trajectory()
        buf.truncate_last_trajectory()
    assert_same_samples(ref, buf, range(8, 10))

    # memory: <= 1.1 frames + the small vectors per transition (SB3 stores 2k frames)
    frame = buf.frame_nbytes
    assert buf.bytes_per_transition(frames_only=True) <= 1.1 * frame
    vectors = (
        2 * 4 * (10 + 3 + 3) + 4 * 2 + 4 * 3 + 8 * 3 + 8 + 8 + 1
    )  # obs/next vecs, action, r/d/timeout, ep/info/slot
    assert buf.bytes_per_transition() <= 1.1 * frame + vectors
    ref_pixels = ref.observations["pixels"].nbytes + ref.next_observations["pixels"].nbytes
    assert ref_pixels / buffer_size == 2 * k * frame


def test_check_stacks_detects_wrong_padding() -> None:
    env = make_vec_env(2, "zero")
    buf = FrameHerReplayBuffer(
        100, env.observation_space, env.action_space, env, frame_stack=2, padding="repeat", check_stacks=True
    )
    with pytest.raises(ValueError, match="frame stack"):
        store_transitions(env, [buf], 2, np.random.default_rng(0))


def test_small_final_ring_drops_episodes_instead_of_corrupting() -> None:
    env = make_vec_env(2)
    buf = FrameHerReplayBuffer(
        100, env.observation_space, env.action_space, env, frame_stack=2, final_frame_fraction=0.02
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        store_transitions(env, [buf], 150, np.random.default_rng(0))
    assert buf.n_dropped_episodes > 0
    live = buf.ep_length[:, 0] > 0
    # the live episodes' final frames all still sit in the ring
    finals = np.flatnonzero(live & (buf.final_slot[:, 0] >= 0))
    assert len(finals) >= 1 and (buf.final_owner[buf.final_slot[finals, 0], 0] == finals).all()
    assert buf.sample(16).observations["pixels"].shape == (16, 6, 16, 16)


@pytest.mark.parametrize(
    "extractor, routing, size, extra",
    [
        ("nature", "separate", 36, {}),
        ("manip", "critic", 16, dict(augment=True, coordconv=True)),
        ("manip_ss", "shared", 16, dict(augment=True)),
    ],
)
def test_sac_her_trains_end_to_end(extractor: str, routing: str, size: int, extra: dict) -> None:
    env = make_vec_env(2, size=size)
    model = make_sac(
        routing,
        env,
        pixel_policy_kwargs(extractor, net_arch=[32, 32], feature_dim=16, **extra),
        replay_buffer_class=FrameHerReplayBuffer,
        replay_buffer_kwargs=dict(n_sampled_goal=4, goal_selection_strategy="future", frame_stack=2),
        buffer_size=1000,
        learning_starts=100,
        batch_size=32,
        seed=0,
        device="cpu",
    )
    before = [p.detach().clone() for p in model.policy.parameters()]
    model.learn(total_timesteps=160)
    assert isinstance(model.replay_buffer, FrameHerReplayBuffer)
    assert model._n_updates >= 50
    assert any(not torch.equal(p, b) for p, b in zip(model.policy.parameters(), before, strict=True))
    assert model.replay_buffer.bytes_per_transition(frames_only=True) <= 1.1 * model.replay_buffer.frame_nbytes
    assert np.isfinite(model.logger.name_to_value.get("train/critic_loss", 0.0))
    obs = env.reset()
    actions, _ = model.predict(obs, deterministic=True)
    assert actions.shape == (1, 2)
