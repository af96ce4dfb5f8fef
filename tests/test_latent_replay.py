"""Latent stacks stored once: the replay of a latent variant keeps one latent (and proprio) per frame, and its
samples equal SB3's ``HerReplayBuffer``'s, which stores every stack twice per transition."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium.wrappers import TimeLimit
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv, VecEnvWrapper
from stable_baselines3.her.her_replay_buffer import HerReplayBuffer

from pipeline.policy.checkpoint import replay_bytes_per_transition
from pipeline.policy.config import VariantConfig
from pipeline.policy.frame_buffer import FrameHerReplayBuffer
from pipeline.policy.observation import Frames, ObservationFlow

from .test_frame_buffer import ToySquareGoalEnv, assert_same_samples, store_transitions

LATENT = 16


PROJECTION = np.random.default_rng(0).standard_normal((16 * 16 * 3, LATENT)).astype(np.float32) / 1e3


def toy_latents(pixels: np.ndarray) -> np.ndarray:
    """A stand-in encoder: ``(m, 16, 16, 3)`` frames -> ``(m, 16)`` (a fixed random projection)."""
    return pixels.reshape(len(pixels), -1).astype(np.float32) @ PROJECTION  # (m, 768) -> (m, 16)


class ToyLatentVecEnv(VecEnvWrapper):
    """The toy env's frames through :class:`ObservationFlow`, as a latent variant's env wrapper feeds it."""

    def __init__(self, venv: VecEnv, variant: VariantConfig) -> None:
        dims = {k: venv.observation_space[k].shape[0] for k in ("proprio", "achieved_goal", "desired_goal")}
        self.flow = ObservationFlow(variant, venv.num_envs, dims, LATENT)
        super().__init__(venv, observation_space=self.flow.space)

    def reset(self) -> dict[str, np.ndarray]:
        raw = self.venv.reset()
        return self.flow.reset(Frames(raw, toy_latents(raw["pixels"])))

    def step_wait(self):
        raw, rewards, dones, infos = self.venv.step_wait()
        for i in np.flatnonzero(dones):
            last = infos[i]["terminal_observation"]
            t_raw = {k: v[None] for k, v in last.items()}
            infos[i]["terminal_observation"] = self.flow.terminal(int(i), Frames(t_raw, toy_latents(t_raw["pixels"])))
        return self.flow.step(Frames(raw, toy_latents(raw["pixels"])), np.flatnonzero(dones)), rewards, dones, infos


def latent_env(k: int, n_envs: int) -> ToyLatentVecEnv:
    venv = DummyVecEnv([lambda: TimeLimit(ToySquareGoalEnv(16), 12)] * n_envs)
    venv.seed(0)
    return ToyLatentVecEnv(venv, VariantConfig(obs="latent", encoder="vae", frame_stack=k))


@pytest.mark.parametrize("k, n_envs, strategy", [(3, 1, "future"), (8, 2, "future"), (2, 2, "final")])
def test_latent_stacks_stored_once_sample_like_sb3(k: int, n_envs: int, strategy: str) -> None:
    env = latent_env(k, n_envs)
    space, kw = env.observation_space, {"n_envs": n_envs, "goal_selection_strategy": strategy, "n_sampled_goal": 4}
    ref = HerReplayBuffer(400, space, env.action_space, env, **kw)
    buf = FrameHerReplayBuffer(400, space, env.action_space, env, frame_stack=k, latent_dim=LATENT,
                               check_stacks=True, **kw)  # fmt: skip
    store_transitions(env, [ref, buf], 150, np.random.default_rng(0))
    assert buf.frames.shape == (400 // n_envs, n_envs, LATENT + 10)  # one latent + proprio per frame
    assert_same_samples(ref, buf, range(5))
    assert_same_samples(ref, buf, range(5), batch_size=1)


def test_eight_stacked_latents_take_under_400_bytes_a_transition() -> None:
    """At 8 frames of 16-D latents + 10-D proprio, SB3's buffer holds 2 x 138 floats of observation per
    transition; this one a 26-float item and the goals."""
    env = latent_env(8, 2)
    space = env.observation_space
    ref = HerReplayBuffer(1000, space, env.action_space, env, n_envs=2)
    buf = FrameHerReplayBuffer(1000, space, env.action_space, env, n_envs=2, frame_stack=8, latent_dim=LATENT,
                               final_frame_fraction=0.1)  # fmt: skip
    before, after = replay_bytes_per_transition(ref), replay_bytes_per_transition(buf)
    assert before > 1100, before
    assert after <= 400, after


def test_check_stacks_refuses_a_stack_of_another_size() -> None:
    env = latent_env(3, 1)
    buf = FrameHerReplayBuffer(100, env.observation_space, env.action_space, env, frame_stack=2,
                               latent_dim=LATENT + 8, check_stacks=True)  # fmt: skip
    with pytest.raises(ValueError, match="differ"):
        store_transitions(env, [buf], 3, np.random.default_rng(0))
