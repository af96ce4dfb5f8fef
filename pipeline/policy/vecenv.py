"""Goal-conditioned observations for SB3 from vectorised pixel Fetch envs: state or frozen-encoder latents.

For latent variants every vectorised step renders the frames (in the envs) and encodes them in one batched encoder
call (terminal frames of finished episodes included), so the replay buffer only ever sees small latent vectors.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper

from pipeline.encoders import LoadedEncoder
from pipeline.goalspace import GoalSpace, LatentGoalSpace
from pipeline.policy.config import VariantConfig
from pipeline.policy.latent_goals import latent_reward
from pipeline.policy.obs_parts import ARM_BOX, GOAL_POSE_TRIES
from pipeline.policy.observation import Frames, ObservationFlow


class GoalObsVecEnv(VecEnvWrapper):
    """Map :class:`FetchPixelEnv` observations to ``{observation, achieved_goal, desired_goal}``.

    ``state``: observation = full state vector; ``proprio``: the 10-D proprioception only; ``latent``:
    observation = stacked latents of the last ``frame_stack`` frames (+ proprio). Goals are the simulator's
    positions (``vector``) or, in RIG's ``latent`` mode, the goal-space projections of the current frame's latent
    and of a goal image's (the object at the goal, the arm at a pose drawn independently of the episode); HER's
    ``compute_reward`` is then the thresholded distance between projections. No simulator label enters the
    observation or the reward in latent goal mode: the desired goal position only places the block in the goal image.

    :param venv: vectorised :class:`FetchPixelEnv` (rendering on for latent variants)
    :param variant: the variant's params
    :param encoder: frozen encoder (latent variants)
    :param latent_threshold: success radius in the goal space (latent goal mode)
    :param seed: seed of the prior-goal sampler and of the goal images' arm poses (reseeded by :meth:`seed`)
    :param goal_space: where latent goals are compared (default: the whole latent)
    :param obs_space: the projection of each latent that the observation stacks (default: the whole latent)
    """

    def __init__(
        self,
        venv: VecEnv,
        variant: VariantConfig,
        encoder: LoadedEncoder | None = None,
        latent_threshold: float | None = None,
        seed: int = 0,
        goal_space: GoalSpace | None = None,
        obs_space: GoalSpace | None = None,
    ) -> None:
        self.variant, self.encoder, self.obs_space = variant, encoder, obs_space
        self.latent = variant.obs == "latent"
        if self.latent and encoder is None:
            raise ValueError("latent variants need an encoder")
        if variant.goal_mode == "latent" and goal_space is None:
            goal_space = LatentGoalSpace(encoder.latent_dim)
        self.goal_space = goal_space
        self.threshold = latent_threshold
        self.rng = np.random.default_rng(seed)
        raw = venv.observation_space
        dims = {k: raw[k].shape[0] for k in ("state", "proprio", "achieved_goal", "desired_goal") if k in raw.spaces}
        self.flow = ObservationFlow(
            variant, venv.num_envs, dims, encoder.latent_dim if encoder else 0, goal_space, obs_space, seed
        )
        self.goal_width = self.flow.goal_width
        self.stack_width = self.flow.stack.shape[2]
        """numbers each stacked frame adds to the observation (latent variants: the latent or its projection)"""
        self.hold = self.flow.hold
        if self.hold and (getattr(goal_space, "min_presence", None) is None or not encoder.has_presence):
            raise ValueError(
                "occluded_goal: hold needs a keypoint encoder and its keypoint goal space fitted with presence "
                "thresholds (rerun python -m pipeline.goalspace)"
            )
        super().__init__(venv, observation_space=self.flow.space)
        self._raw: dict[str, np.ndarray] = {}
        size = raw["pixels"].shape if "pixels" in raw.spaces else (0, 0, 3)
        self.goal_frames = np.zeros((venv.num_envs, *size), np.uint8)
        """latent goal mode: the current goal image of each env"""

    def _encode(self, frames: np.ndarray) -> np.ndarray:
        return self.encoder.encode(frames) if len(frames) else np.zeros((0, self.encoder.latent_dim), np.float32)

    def _frames(self, raw: dict[str, np.ndarray], pixels: np.ndarray | None = None) -> Frames:
        """What the flow reads of these frames (``pixels``: the frames to encode, default ``raw["pixels"]``): one
        batched encoder call, with keypoint presence for ``occluded_goal: hold``."""
        if not self.latent:
            return Frames(raw)
        pixels = raw["pixels"] if pixels is None else pixels
        z, presence = self.encoder.encode_presence(pixels) if self.hold else (self._encode(pixels), None)
        return Frames(raw, z, presence)

    def _new_goals(self, raw: dict[str, np.ndarray], envs: np.ndarray) -> None:
        """Set the latent goal of episodes that just started in ``envs``."""
        if self.variant.goal_mode != "latent" or len(envs) == 0:
            return
        arm = self.rng.uniform(ARM_BOX[0], ARM_BOX[1], (len(envs), GOAL_POSE_TRIES, 3))  # candidate gripper offsets
        see = self.variant.goal_min_visible
        frames = np.stack(
            [self.venv.env_method("render_goal", raw["desired_goal"][i], arm[j], min_visible=see, indices=[i])[0]
             for j, i in enumerate(envs)]
        )  # fmt: skip
        self.goal_frames[envs] = frames  # what the goal images look like (rollout pictures)
        goals = self._encode(frames)  # (len(envs), L)
        prior = self.rng.random(len(envs)) < self.variant.prior_goal_fraction
        goals[prior] = self.rng.standard_normal((int(prior.sum()), goals.shape[1]))
        self.flow.set_goals(envs, self.flow.points(goals))  # (len(envs), L) -> (len(envs), G)

    def seed(self, seed: int | None = None):
        """Seed the envs and, from the same seed, the goal images' arm poses and prior goals (fixed eval goals)."""
        if seed is not None:
            self.rng = np.random.default_rng([seed, 1])
            self.flow.noise_rng = np.random.default_rng([seed, 2])
        return self.venv.seed(seed)

    def raw_observations(self) -> dict[str, np.ndarray]:
        """The simulator's latest observations of every env (``proprio``, goals, ``state``, ...), for the scripted
        warm-up's choice of actions only: nothing here reaches the agent's observation unless the variant's
        ``obs`` says so."""
        return self._raw

    def reset(self) -> dict[str, np.ndarray]:
        raw = self.venv.reset()
        self._raw = raw
        frames = self._frames(raw)
        self._new_goals(raw, np.arange(self.num_envs))
        return self.flow.reset(frames)

    def step_wait(self):
        raw, rewards, dones, infos = self.venv.step_wait()
        self._raw = raw
        n, done_idx = self.num_envs, np.flatnonzero(dones)
        terminal = [infos[i]["terminal_observation"] for i in done_idx]
        pixels = None  # the frames to encode: current, then terminal (latent variants)
        if terminal and self.latent:
            pixels = np.concatenate([raw["pixels"], np.stack([t["pixels"] for t in terminal])])
        both = self._frames(raw, pixels)  # one batched encoder call for current + terminal frames
        now = both.rows(0, n, raw)
        for j, i in enumerate(done_idx):  # the finished episodes' last observations, with their old goals
            last = both.rows(n + j, n + j + 1, {k: v[None] for k, v in terminal[j].items()})
            infos[i]["terminal_observation"] = self.flow.terminal(int(i), last)
        self._new_goals(raw, done_idx)
        obs = self.flow.step(now, done_idx)
        if self.variant.goal_mode == "latent" and not self.flow.true_goals:  # the env's reward is about positions
            achieved, desired = obs["achieved_goal"].copy(), obs["desired_goal"].copy()  # (n, G) each
            for i in done_idx:  # an episode's last reward is about its terminal frame and goal, not the next episode's
                achieved[i] = infos[i]["terminal_observation"]["achieved_goal"]
                desired[i] = infos[i]["terminal_observation"]["desired_goal"]
            rewards = latent_reward(achieved, desired, self.threshold)
        return obs, rewards, dones, infos

    # --- HER hook ---------------------------------------------------------------------------------
    def env_method(self, method_name: str, *method_args: Any, indices=None, **method_kwargs: Any) -> list[Any]:
        if method_name == "compute_reward" and self.variant.goal_mode == "latent":
            achieved, desired = method_args[0], method_args[1]
            if self.flow.true_goals:  # the simulator positions, after the goals' first goal_width numbers
                w = self.goal_width
                method_args = (achieved[..., w:], desired[..., w:], *method_args[2:])
                return self.venv.env_method(method_name, *method_args, indices=indices, **method_kwargs)
            return [latent_reward(achieved, desired, self.threshold)]
        return self.venv.env_method(method_name, *method_args, indices=indices, **method_kwargs)
