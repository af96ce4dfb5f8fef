"""RIG's latent goals in the policy envs: the reward in batch, the frame history, goal images and HER's hook, the
reward at an episode's end, and goal images that show the block."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.config import Params
from pipeline.policy.config import VariantConfig
from pipeline.policy.latent_goals import latent_reward
from pipeline.policy.obs_parts import shifted
from pipeline.policy.vec_backend import make_fetch_vec_env
from pipeline.policy.vecenv import GoalObsVecEnv

from .policy_helpers import make_encoder, policy_params


def test_latent_reward_batch_equals_loop() -> None:
    rng = np.random.default_rng(0)
    a, d = rng.normal(size=(64, 8)), rng.normal(size=(64, 8))
    d[:10] = a[:10] + 0.01
    thr = 3.5
    batch = latent_reward(a, d, thr)
    loop = np.array([(-1.0 if np.linalg.norm(x - y) > thr else 0.0) for x, y in zip(a, d)])
    assert batch.shape == (64,) and np.array_equal(batch, loop) and (batch == 0).sum() >= 10 and (batch == -1).any()


def test_shifted_history_drops_the_oldest_and_restarts_new_episodes() -> None:
    hist = np.arange(2 * 3 * 2, dtype=np.float32).reshape(2, 3, 2)  # (n=2, k=3, D=2)
    new = np.array([[100, 101], [200, 201]], np.float32)
    out = shifted(hist, new)
    assert np.array_equal(out[:, :2], hist[:, 1:]) and np.array_equal(out[:, 2], new)
    out = shifted(hist, new, np.array([1]))
    assert np.array_equal(out[0], np.concatenate([hist[0, 1:], new[:1]])) and (out[1] == new[1]).all()
    assert np.array_equal(hist, np.arange(12, dtype=np.float32).reshape(2, 3, 2))  # the input is untouched


def test_latent_goal_env_observations_and_her_hook(tmp_path: Path) -> None:
    from pipeline.encoders import load_encoder

    params = Params.model_validate(policy_params(tmp_path))
    enc = load_encoder(make_encoder(params), device="cpu")
    variant = VariantConfig(obs="latent", encoder="vae", goal_mode="latent", frame_stack=3)
    env = GoalObsVecEnv(make_fetch_vec_env(params.env, 2, render=True), variant, enc, latent_threshold=1.0)
    obs = env.reset()
    assert obs["observation"].shape == (2, 3 * 8 + 10) and obs["desired_goal"].shape == (2, 8)
    assert not np.allclose(obs["achieved_goal"], obs["desired_goal"])  # goal image differs from the scene
    first = obs
    for t in range(params.env.max_episode_steps):
        before = obs
        obs, rewards, dones, infos = env.step(np.zeros((2, 4), np.float32))
    assert dones.all()
    term = infos[0]["terminal_observation"]
    # the finished episode's goal stays in its observations: the new episode's goal image overwrites no array
    np.testing.assert_array_equal(term["desired_goal"], first["desired_goal"][0])
    np.testing.assert_array_equal(before["desired_goal"], first["desired_goal"])
    assert not np.allclose(obs["desired_goal"], first["desired_goal"])  # the new episodes have new goal images
    assert term["observation"].shape == (3 * 8 + 10,) and term["achieved_goal"].shape == (8,)
    her = env.env_method("compute_reward", obs["achieved_goal"], obs["desired_goal"], [{}] * 2, indices=[0])[0]
    assert np.array_equal(her, latent_reward(obs["achieved_goal"], obs["desired_goal"], 1.0))
    env.close()


def test_latent_reward_of_an_episode_end_is_about_its_terminal_frame(tmp_path: Path) -> None:
    """The last step's reward compares the terminal frame with the finished episode's goal, not the next episode's
    first frame with its new goal (what the returned observation holds). Two identical runs: the first measures
    both distances, the second puts the threshold between them so that only the right pair passes."""
    from pipeline.encoders import load_encoder

    params = Params.model_validate(policy_params(tmp_path))
    enc = load_encoder(make_encoder(params), device="cpu")
    variant = VariantConfig(obs="latent", encoder="vae", goal_mode="latent")

    def last_step(threshold: float) -> tuple[np.ndarray, dict, dict]:
        env = GoalObsVecEnv(make_fetch_vec_env(params.env, 1, render=True, kind="dummy"), variant, enc, threshold)
        env.seed(3)
        env.reset()
        for _ in range(params.env.max_episode_steps):
            obs, rewards, dones, infos = env.step(np.zeros((1, 4), np.float32))
        env.close()
        assert dones.all()
        return rewards, obs, infos[0]["terminal_observation"]

    _, obs, term = last_step(1.0)
    d_term = float(np.linalg.norm(term["achieved_goal"] - term["desired_goal"]))
    d_next = float(np.linalg.norm(obs["achieved_goal"][0] - obs["desired_goal"][0]))
    assert abs(d_term - d_next) > 1e-4  # the two pairs are told apart by a threshold between them
    rewards, _, term2 = last_step((d_term + d_next) / 2)
    np.testing.assert_array_equal(term2["achieved_goal"], term["achieved_goal"])  # the runs are identical
    assert rewards[0] == (0.0 if d_term < d_next else -1.0)


def test_goal_image_redraws_the_arm_until_the_block_is_seen() -> None:
    from pipeline.envs import EnvConfig, FetchPixelEnv

    env = FetchPixelEnv(EnvConfig(image_size=32))
    obs, _ = env.reset(seed=0)
    goal = obs["desired_goal"]
    over = goal - env.fetch.initial_gripper_xpos + np.array([0.0, 0.0, 0.03])  # the gripper just above the goal
    far = np.array([0.0, 0.3, 0.15])  # the gripper off to one side
    before = env.renderer.render(env.fetch.data)
    hidden = env.render_goal(goal, over)
    assert env.goal_visibility == 1.0  # one pose, min_visible 0: not looked at
    env.render_goal(goal, over, min_visible=1e-9)
    assert env.goal_visibility < 0.5  # that pose hides most of the block
    frame = env.render_goal(goal, np.stack([over, far]), min_visible=0.9)
    assert env.goal_visibility >= 0.9 and not np.array_equal(frame, hidden)
    np.testing.assert_array_equal(frame, env.render_goal(goal, far))  # the second candidate was kept
    np.testing.assert_array_equal(env.renderer.render(env.fetch.data), before)  # the scene is restored
    env.close()
