"""Goal-conditioned observations for SB3 from vectorised pixel Fetch envs: state or frozen-encoder latents.

For latent variants every vectorised step renders the frames (in the envs) and encodes them in one batched encoder
call (terminal frames of finished episodes included), so the replay buffer only ever sees small latent vectors.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper

from pipeline.encoders import LoadedEncoder
from pipeline.goalspace import GoalSpace, LatentGoalSpace
from pipeline.policy.config import VariantConfig
from pipeline.policy.latent_goals import latent_reward
from pipeline.policy.obs_parts import ARM_BOX, GOAL_POSE_TRIES, estimate_object, shifted, sighted


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
        self.noise_rng = np.random.default_rng([seed, 2])  # the object estimate's errors (diagnostic variants)
        raw = venv.observation_space
        self.k = variant.frame_stack if self.latent else 1
        seen = (obs_space.dim if obs_space is not None else encoder.latent_dim) if self.latent else 0
        if self.latent:
            obs_dim = self.k * seen + (raw["proprio"].shape[0] if variant.proprio else 0)
        else:
            obs_dim = raw["proprio" if variant.obs == "proprio" else "state"].shape[0]
            obs_dim += raw["achieved_goal"].shape[0] if variant.object_estimate is not None else 0
        goal_dim = goal_space.dim if variant.goal_mode == "latent" else raw["desired_goal"].shape[0]
        self.true_goals = variant.goal_mode == "latent" and variant.goal_reward == "simulator"  # diagnostic
        self.goal_width = goal_dim if self.true_goals else None
        """leading numbers of each goal the networks read (``goal_reward: simulator`` appends the simulator's
        positions for the reward only; None: all)"""
        full = goal_dim + (raw["desired_goal"].shape[0] if self.true_goals else 0)  # [point, position]
        box = lambda n: spaces.Box(-np.inf, np.inf, (n,), np.float32)  # noqa: E731
        space = spaces.Dict({"observation": box(obs_dim), "achieved_goal": box(full), "desired_goal": box(full)})
        super().__init__(venv, observation_space=space)
        n = venv.num_envs
        self._stack = np.zeros((n, self.k, seen), np.float32)  # what the observation stacks of each frame
        self._goal = np.zeros((n, goal_dim), np.float32)
        self.w = variant.achieved_window if variant.goal_mode == "latent" else 0
        self._window = np.zeros((n, self.w, goal_dim), np.float32)  # goal-space points of the last w frames
        self.hold = variant.occluded_goal == "hold"
        if self.hold and (getattr(goal_space, "min_presence", None) is None or not encoder.has_presence):
            raise ValueError(
                "occluded_goal: hold needs a keypoint encoder and its keypoint goal space fitted with presence "
                "thresholds (rerun python -m pipeline.goalspace)"
            )
        self._held = np.zeros((n, goal_dim), np.float32)  # occluded_goal: hold: each env's last point in sight
        self._raw: dict[str, np.ndarray] = {}
        size = venv.observation_space["pixels"].shape if "pixels" in venv.observation_space.spaces else (0, 0, 3)
        self.goal_frames = np.zeros((n, *size), np.uint8)
        """latent goal mode: the current goal image of each env"""

    # --- observation building -------------------------------------------------------------------
    def _encode(self, frames: np.ndarray) -> np.ndarray:
        return self.encoder.encode(frames) if len(frames) else np.zeros((0, self.encoder.latent_dim), np.float32)

    def _encode_presence(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Latents ``(m, L)`` and, for ``occluded_goal: hold``, keypoint presence ``(m, K)`` (else None)."""
        return self.encoder.encode_presence(frames) if self.hold else (self._encode(frames), None)

    def _sighted(self, points: np.ndarray, presence: np.ndarray, held: np.ndarray) -> np.ndarray:
        return sighted(points, self.goal_space.in_sight(presence), held)

    def _seen(self, z: np.ndarray) -> np.ndarray:
        """Latents ``(m, L)`` -> what the observation stacks of them, ``(m, L)`` or ``(m, obs_space.dim)``."""
        return z if self.obs_space is None else np.asarray(self.obs_space.project(z), np.float32)

    def _points(self, z: np.ndarray) -> np.ndarray:
        """Latents ``(m, L)`` -> goal-space points ``(m, G)`` (latent goal mode)."""
        return np.asarray(self.goal_space.project(z), np.float32)

    def _object_estimate(self, pos: np.ndarray, gripper: np.ndarray) -> np.ndarray:
        """Block positions ``(m, 3)`` as the variant's ``object_estimate`` error model reads them."""
        return estimate_object(self.variant.object_estimate, self.noise_rng, pos, gripper)

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
        self._goal[envs] = self.goal_space.project(goals)  # (len(envs), L) -> (len(envs), G)

    def seed(self, seed: int | None = None):
        """Seed the envs and, from the same seed, the goal images' arm poses and prior goals (fixed eval goals)."""
        if seed is not None:
            self.rng = np.random.default_rng([seed, 1])
            self.noise_rng = np.random.default_rng([seed, 2])
        return self.venv.seed(seed)

    def _assemble(
        self, stack: np.ndarray, window: np.ndarray, raw: dict[str, np.ndarray], goal: np.ndarray
    ) -> dict[str, np.ndarray]:
        """The observation dict of ``m`` envs from their stacks ``(m, k, .)``, goal-space windows ``(m, w, G)``
        (latent goal mode), simulator observations and goals ``(m, G)``."""
        if self.latent:
            parts = [stack.reshape(len(stack), -1)]  # (n, k, L) -> (n, k*L)
            if self.variant.proprio:
                parts.append(raw["proprio"])
            obs = np.concatenate(parts, axis=1)
        else:
            obs = raw["proprio" if self.variant.obs == "proprio" else "state"]
            if self.variant.object_estimate is not None:
                obs = np.concatenate([obs, self._object_estimate(raw["achieved_goal"], raw["proprio"][:, :3])], axis=1)
        if self.variant.goal_mode == "latent":
            achieved, desired = np.median(window, axis=1), goal  # (n, w, G) -> (n, G); goals are stored projected
            if self.true_goals:  # (n, G) -> (n, G + 3): [point, simulator position]
                achieved = np.concatenate([achieved, raw["achieved_goal"]], axis=1)
                desired = np.concatenate([desired, raw["desired_goal"]], axis=1)
        else:
            achieved, desired = raw["achieved_goal"], raw["desired_goal"]
        return {  # copies: latent goals are this wrapper's own array, which the next episode's goal overwrites
            "observation": np.array(obs, np.float32),
            "achieved_goal": np.array(achieved, np.float32),
            "desired_goal": np.array(desired, np.float32),
        }

    def raw_observations(self) -> dict[str, np.ndarray]:
        """The simulator's latest observations of every env (``proprio``, goals, ``state``, ...), for the scripted
        warm-up's choice of actions only: nothing here reaches the agent's observation unless the variant's
        ``obs`` says so."""
        return self._raw

    def reset(self) -> dict[str, np.ndarray]:
        raw = self.venv.reset()
        self._raw = raw
        everyone = np.arange(self.num_envs)
        z = None
        if self.latent:
            z = self._encode(raw["pixels"])
            self._stack[:] = self._seen(z)[:, None]
        if self.w:
            self._held[:] = self._points(z)  # a first frame out of sight has nothing older to hold
            self._window[:] = self._held[:, None]
        self._new_goals(raw, everyone)
        return self._assemble(self._stack, self._window, raw, self._goal)

    def step_wait(self):
        raw, rewards, dones, infos = self.venv.step_wait()
        self._raw = raw
        done_idx = np.flatnonzero(dones)
        terminal = [infos[i]["terminal_observation"] for i in done_idx]
        z = z_term = pp = None
        if self.latent:
            frames = (
                np.concatenate([raw["pixels"], np.stack([t["pixels"] for t in terminal])])
                if terminal
                else raw["pixels"]
            )
            zz, pp = self._encode_presence(frames)  # one batched call for current + terminal frames
            z, z_term = zz[: self.num_envs], zz[self.num_envs :]
        # terminal observations: the stack shifted by the terminal latent (latent variants), the old goal
        for j, i in enumerate(done_idx):
            t_raw = {k: v[None] for k, v in terminal[j].items()}
            t_z = None if z_term is None else z_term[j][None]
            t_stack = self._stack[i][None] if t_z is None else shifted(self._stack[i][None], self._seen(t_z))
            t_window = self._window[i][None]
            if self.w:
                t_point = self._points(t_z)  # (1, G)
                if self.hold:
                    t_point = self._sighted(t_point, pp[self.num_envs + j][None], self._held[i][None])
                t_window = shifted(t_window, t_point)
            infos[i]["terminal_observation"] = {
                k: v[0] for k, v in self._assemble(t_stack, t_window, t_raw, self._goal[i][None]).items()
            }
        if self.latent:
            self._stack = shifted(self._stack, self._seen(z), done_idx)  # (n, k, L) or (n, k, G)
        if self.w:
            points = self._points(z)  # (n, G)
            if self.hold:
                sighted = self._sighted(points, pp[: self.num_envs], self._held)
                sighted[done_idx] = points[done_idx]  # a new episode holds nothing from the last one
                points = self._held = sighted
            self._window = shifted(self._window, points, done_idx)  # (n, w, G)
        self._new_goals(raw, done_idx)
        obs = self._assemble(self._stack, self._window, raw, self._goal)
        if self.variant.goal_mode == "latent" and not self.true_goals:  # the env's reward is about positions
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
            if self.true_goals:  # the simulator positions, after the goals' first goal_width numbers
                w = self.goal_width
                method_args = (achieved[..., w:], desired[..., w:], *method_args[2:])
                return self.venv.env_method(method_name, *method_args, indices=indices, **method_kwargs)
            return [latent_reward(achieved, desired, self.threshold)]
        return self.venv.env_method(method_name, *method_args, indices=indices, **method_kwargs)
