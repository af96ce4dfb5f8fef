"""The agent's observation as a data flow: per-frame facts in, ``{observation, achieved_goal, desired_goal}`` out.

:class:`ObservationFlow` holds, for ``n`` rows (vectorised envs, or a dataset's episodes), what an observation
remembers across frames, one concern per step:

- **frame stack**: the last ``frame_stack`` latents, each seen through ``obs_space`` (or whole);
- **goal space**: each frame's latent projected to a goal-space point (RIG's ``goal_mode: latent``);
- **occlusion hold**: a point whose keypoints are out of sight keeps the last one in sight (``occluded_goal: hold``);
- **achieved window**: the median of the last ``achieved_window`` points is the achieved goal;
- **input selection**: state, proprio or the latent stack (+ proprio), with an optional noisy object estimate.

The env wrapper (:class:`pipeline.policy.vecenv.GoalObsVecEnv`), the prior-data loader
(:mod:`pipeline.policy.prior`) and the benchmarks feed it; nothing else builds an observation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from gymnasium import spaces

from pipeline.goalspace import GoalSpace
from pipeline.policy.config import VariantConfig
from pipeline.policy.obs_parts import estimate_object, shifted, sighted


@dataclass(frozen=True)
class Frames:
    """What the flow reads of ``m`` frames (one per row): the simulator's observations and the encoder's."""

    raw: dict[str, np.ndarray]
    """``proprio`` ``(m, 10)``, ``state``, ``achieved_goal`` / ``desired_goal`` ``(m, 3)``, ... (the env's keys)"""
    z: np.ndarray | None = None
    """latents ``(m, L)`` (latent variants)"""
    presence: np.ndarray | None = None
    """keypoint presence ``(m, K)`` (``occluded_goal: hold``)"""

    def rows(self, start: int, stop: int, raw: dict[str, np.ndarray]) -> Frames:
        """Rows ``start:stop`` of the encoder's outputs with the simulator's observations ``raw`` of those frames."""
        cut = lambda a: None if a is None else a[start:stop]  # noqa: E731
        return Frames(raw, cut(self.z), cut(self.presence))


class ObservationFlow:
    """Builds the observations of ``n`` rows frame by frame (see the module docstring).

    :param variant: what the agent observes (``obs``, ``frame_stack``, ``proprio``, goals, ``object_estimate``)
    :param n: rows
    :param raw_dims: the simulator observations' sizes (``state``, ``proprio``, ``achieved_goal``, ``desired_goal``)
    :param latent_dim: the encoder's latent size (latent variants)
    :param goal_space: where latent goals live (``goal_mode: latent``)
    :param obs_space: the projection of each latent that the stack holds (default: the whole latent)
    :param seed: seed of the object estimate's errors
    """

    def __init__(
        self,
        variant: VariantConfig,
        n: int,
        raw_dims: dict[str, int],
        latent_dim: int = 0,
        goal_space: GoalSpace | None = None,
        obs_space: GoalSpace | None = None,
        seed: int = 0,
    ) -> None:
        self.variant, self.goal_space, self.obs_space = variant, goal_space, obs_space
        self.latent, self.latent_goals = variant.obs == "latent", variant.goal_mode == "latent"
        self.k = variant.frame_stack if self.latent else 1
        seen = (obs_space.dim if obs_space is not None else latent_dim) if self.latent else 0
        if self.latent:
            obs_dim = self.k * seen + (raw_dims["proprio"] if variant.proprio else 0)
        else:
            obs_dim = raw_dims["proprio" if variant.obs == "proprio" else "state"]
            obs_dim += raw_dims["achieved_goal"] if variant.object_estimate is not None else 0
        goal_dim = goal_space.dim if self.latent_goals else raw_dims["desired_goal"]
        self.true_goals = self.latent_goals and variant.goal_reward == "simulator"  # diagnostic
        self.goal_width = goal_dim if self.true_goals else None
        """leading numbers of each goal the networks read (``goal_reward: simulator`` appends the simulator's
        positions for the reward only; None: all)"""
        full = goal_dim + (raw_dims["desired_goal"] if self.true_goals else 0)  # [point, position]
        box = lambda d: spaces.Box(-np.inf, np.inf, (d,), np.float32)  # noqa: E731
        self.space = spaces.Dict({"observation": box(obs_dim), "achieved_goal": box(full), "desired_goal": box(full)})
        self.w = variant.achieved_window if self.latent_goals else 0
        self.hold = variant.occluded_goal == "hold"
        self.stack = np.zeros((n, self.k, seen), np.float32)  # what the observation stacks of each frame
        self.window = np.zeros((n, self.w, goal_dim), np.float32)  # goal-space points of the last w frames
        self.held = np.zeros((n, goal_dim), np.float32)  # occluded_goal: hold: each row's last point in sight
        self.goal = np.zeros((n, goal_dim), np.float32)  # latent goal mode: each row's goal point
        self.noise_rng = np.random.default_rng([seed, 2])  # the object estimate's errors (diagnostic variants)

    def _seen(self, z: np.ndarray) -> np.ndarray:
        """Latents ``(m, L)`` -> what the stack holds of them, ``(m, L)`` or ``(m, obs_space.dim)``."""
        return z if self.obs_space is None else np.asarray(self.obs_space.project(z), np.float32)

    def points(self, z: np.ndarray) -> np.ndarray:
        """Latents ``(m, L)`` -> goal-space points ``(m, G)``."""
        return np.asarray(self.goal_space.project(z), np.float32)

    def _sighted(self, points: np.ndarray, presence: np.ndarray | None, held: np.ndarray) -> np.ndarray:
        return sighted(points, self.goal_space.in_sight(presence), held) if self.hold else points

    def assemble(
        self, stack: np.ndarray, window: np.ndarray, raw: dict[str, np.ndarray], goal: np.ndarray
    ) -> dict[str, np.ndarray]:
        """The observations of ``m`` rows from their stacks ``(m, k, .)``, goal-space windows ``(m, w, G)``
        (latent goal mode), simulator observations and goal points ``(m, G)``: input selection."""
        if self.latent:
            parts = [stack.reshape(len(stack), -1)]  # (m, k, L) -> (m, k*L)
            if self.variant.proprio:
                parts.append(raw["proprio"])
            obs = np.concatenate(parts, axis=1)
        else:
            obs = raw["proprio" if self.variant.obs == "proprio" else "state"]
            if self.variant.object_estimate is not None:
                estimate = estimate_object(
                    self.variant.object_estimate, self.noise_rng, raw["achieved_goal"], raw["proprio"][:, :3]
                )
                obs = np.concatenate([obs, estimate], axis=1)
        if self.latent_goals:
            achieved, desired = np.median(window, axis=1), goal  # (m, w, G) -> (m, G); goals are stored projected
            if self.true_goals:  # (m, G) -> (m, G + 3): [point, simulator position]
                achieved = np.concatenate([achieved, raw["achieved_goal"]], axis=1)
                desired = np.concatenate([desired, raw["desired_goal"]], axis=1)
        else:
            achieved, desired = raw["achieved_goal"], raw["desired_goal"]
        return {  # copies: goal points are this flow's own array, which the next episode's goal overwrites
            "observation": np.array(obs, np.float32),
            "achieved_goal": np.array(achieved, np.float32),
            "desired_goal": np.array(desired, np.float32),
        }

    def reset(self, frames: Frames) -> dict[str, np.ndarray]:
        """Every row starts an episode at ``frames`` (its stack and window filled with the first frame; a first
        frame out of sight has nothing older to hold). Set latent goals with :meth:`set_goals` first."""
        if self.latent:
            self.stack[:] = self._seen(frames.z)[:, None]  # (n, L) -> (n, k, L) by broadcasting
        if self.w:
            self.held[:] = self.points(frames.z)
            self.window[:] = self.held[:, None]
        return self.assemble(self.stack, self.window, frames.raw, self.goal)

    def terminal(self, i: int, last: Frames) -> dict[str, np.ndarray]:
        """Row ``i``'s observation of the final frame of its episode, ``(d,)`` per key (the flow is unchanged)."""
        stack = self.stack[i][None] if last.z is None else shifted(self.stack[i][None], self._seen(last.z))
        window = self.window[i][None]
        if self.w:
            window = shifted(window, self._sighted(self.points(last.z), last.presence, self.held[i][None]))
        return {k: v[0] for k, v in self.assemble(stack, window, last.raw, self.goal[i][None]).items()}

    def step(self, frames: Frames, restart: np.ndarray) -> dict[str, np.ndarray]:
        """Every row moves on to ``frames``; rows in ``restart`` begin a new episode there (set their latent goals
        with :meth:`set_goals` first, after reading the finished episodes' :meth:`terminal` observations)."""
        if self.latent:
            self.stack = shifted(self.stack, self._seen(frames.z), restart)  # (n, k, L) or (n, k, G)
        if self.w:
            points = self.points(frames.z)  # (n, G)
            if self.hold:
                held = self._sighted(points, frames.presence, self.held)
                held[restart] = points[restart]  # a new episode holds nothing from the last one
                points = self.held = held
            self.window = shifted(self.window, points, restart)  # (n, w, G)
        return self.assemble(self.stack, self.window, frames.raw, self.goal)

    def set_goals(self, rows: np.ndarray, points: np.ndarray) -> None:
        """Latent goal mode: the goal points ``(len(rows), G)`` of episodes that start in ``rows``."""
        self.goal[rows] = points
