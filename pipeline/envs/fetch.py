"""Fetch tasks with pixel observations and the proprio / object split of the state vector."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import mujoco
import numpy as np
from gymnasium import spaces

from pipeline.envs.config import EnvConfig
from pipeline.envs.render import PixelRenderer

OBJECT_JOINT, MOCAP_BODY = "object0:joint", "robot0:mocap"


def place_object(data: mujoco.MjData, pos: np.ndarray) -> None:
    """Move the object's free joint to ``pos`` (orientation kept), with mujoco's own named accessors."""
    data.joint(OBJECT_JOINT).qpos[:3] = pos  # free joint qpos (7,): position (3,) then quaternion (4,)


# Layout of the 25-D Fetch observation (10-D for Reach, which has no object).
PROPRIO_INDEX = np.r_[0:3, 9:11, 20:23, 23:25]
"""grip_pos (3), gripper_state (2), grip_velp (3), gripper_vel (2) -> 10-D proprioception."""
OBJECT_INDEX = np.r_[3:9, 11:20]
"""object_pos (3), object_rel_pos (3), object_rot (3), object_velp (3), object_velr (3) -> 15-D."""
OBJECT_POS = slice(3, 6)
OBJECT_VELP = slice(14, 17)
PROPRIO_DIM = 10


def split_observation(obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split Fetch state vectors ``(..., 25)`` or Reach ``(..., 10)`` into ``(proprio, object_state)``."""
    if obs.shape[-1] == PROPRIO_DIM:  # Reach: everything is the robot
        return obs.copy(), obs[..., :0].copy()
    return obs[..., PROPRIO_INDEX], obs[..., OBJECT_INDEX]


_REGISTERED = False


def make_fetch_env(cfg: EnvConfig) -> gym.Env:
    """Build the gymnasium-robotics task (state observations, ``TimeLimit`` applied)."""
    global _REGISTERED
    if not _REGISTERED:
        from pipeline.quiet import quiet_gymnasium_robotics

        quiet_gymnasium_robotics()
        import gymnasium_robotics

        gym.register_envs(gymnasium_robotics)
        _REGISTERED = True
    return gym.make(cfg.id, max_episode_steps=cfg.max_episode_steps)


class FetchPixelEnv(gym.Wrapper):
    """Fetch task whose observation adds the rendered frame and the state split.

    Observation (Dict): ``pixels`` uint8 (H, W, 3), ``proprio`` (10,), ``object`` (15,) or (0,),
    ``state`` (the original 25-D/10-D vector), ``achieved_goal`` (3,), ``desired_goal`` (3,).
    The goal marker is hidden unless ``cfg.show_goal``.

    :param cfg: env params
    :param render: render a frame per step (off for state-only use)
    """

    def __init__(self, cfg: EnvConfig, render: bool = True) -> None:
        super().__init__(make_fetch_env(cfg))
        self.cfg = cfg
        self.fetch = self.env.unwrapped
        self.renderer = PixelRenderer(self.fetch.model, cfg) if render else None
        self._object_geom: int | None = None
        self.goal_visibility = float("nan")
        """share of the object in view in the last :meth:`render_goal` image (1.0 when it did not look)"""
        state_space = self.env.observation_space["observation"]
        n = state_space.shape[0]
        goal_space = self.env.observation_space["desired_goal"]
        obs_spaces: dict[str, spaces.Space] = {
            "proprio": spaces.Box(-np.inf, np.inf, (PROPRIO_DIM,), np.float64),
            "object": spaces.Box(-np.inf, np.inf, (n - PROPRIO_DIM,), np.float64),
            "state": state_space,
            "achieved_goal": goal_space,
            "desired_goal": goal_space,
        }
        if render:
            obs_spaces["pixels"] = spaces.Box(0, 255, (cfg.image_size, cfg.image_size, 3), np.uint8)
        self.observation_space = spaces.Dict(obs_spaces)

    def _convert(self, obs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        proprio, obj = split_observation(obs["observation"])
        out = {
            "proprio": proprio,
            "object": obj,
            "state": obs["observation"],
            "achieved_goal": obs["achieved_goal"],
            "desired_goal": obs["desired_goal"],
        }
        if self.renderer is not None:
            out["pixels"] = self.renderer.render(self.fetch.data)
        return out

    def reset(self, **kwargs: Any) -> tuple[dict[str, np.ndarray], dict]:
        obs, info = self.env.reset(**kwargs)
        return self._convert(obs), info

    def step(self, action: np.ndarray):
        obs, reward, terminated, truncated, info = self.env.step(action)
        info["goal_distance"] = float(np.linalg.norm(obs["achieved_goal"] - obs["desired_goal"]))
        return self._convert(obs), reward, terminated, truncated, info

    def compute_reward(self, achieved_goal: np.ndarray, desired_goal: np.ndarray, info: Any) -> np.ndarray:
        """The task's own (vectorised) reward."""
        return self.fetch.compute_reward(achieved_goal, desired_goal, info)

    @property
    def gripper_pos(self) -> np.ndarray:
        """World position of the grip site (metres)."""
        return self.fetch.data.site("robot0:grip").xpos.copy()

    def object_visibility(self) -> float:
        """Share of the object the camera sees now, 0 (hidden, e.g. behind the arm) .. 1; NaN without an object."""
        if not self.cfg.has_object:
            return float("nan")
        if self._object_geom is None:
            model = self.fetch.model
            self._object_geom = int(np.flatnonzero(model.geom_bodyid == model.body("object0").id)[0])
        return self.renderer.visible_fraction(self.fetch.data, self._object_geom)

    def render_with_object_at(self, pos: np.ndarray) -> np.ndarray:
        """Frame with the object moved to ``pos`` (e.g. a goal image), simulation state restored after."""
        if not self.cfg.has_object:
            raise ValueError(f"{self.cfg.id} has no object to place")
        model, data = self.fetch.model, self.fetch.data
        saved = np.empty(mujoco.mj_stateSize(model, mujoco.mjtState.mjSTATE_INTEGRATION))
        mujoco.mj_getState(model, data, saved, mujoco.mjtState.mjSTATE_INTEGRATION)
        place_object(data, pos)
        mujoco.mj_forward(model, data)
        frame = self.renderer.render(data)
        mujoco.mj_setState(model, data, saved, mujoco.mjtState.mjSTATE_INTEGRATION)
        mujoco.mj_forward(model, data)
        return frame

    def render_goal(
        self, pos: np.ndarray, arm_offsets: np.ndarray, settle_steps: int = 10, min_visible: float = 0.0
    ) -> np.ndarray:
        """Goal image: the object at ``pos`` and the gripper moved to its initial position + an offset that the
        caller draws independently of the episode; the simulation state is restored after.

        ``arm_offsets`` is one offset ``(3,)`` or candidates ``(m, 3)`` tried in order: the first pose that leaves
        at least ``min_visible`` of the object in view is kept (else the most visible one), so a goal image shows
        its block, as a person choosing a goal photo would; the share seen is left in :attr:`goal_visibility`."""
        if not self.cfg.has_object:
            raise ValueError(f"{self.cfg.id} has no object to place")
        model, data = self.fetch.model, self.fetch.data
        mocap = int(model.body(MOCAP_BODY).mocapid[0])  # the gripper's mocap body
        spec = mujoco.mjtState.mjSTATE_INTEGRATION | mujoco.mjtState.mjSTATE_WARMSTART  # mj_step moves both
        saved = np.empty(mujoco.mj_stateSize(model, spec))
        mujoco.mj_getState(model, data, saved, spec)
        best, best_vis = None, -1.0
        for offset in np.asarray(arm_offsets, np.float64).reshape(-1, 3):  # (3,) or (m, 3) -> (m, 3)
            mujoco.mj_setState(model, data, saved, spec)
            data.mocap_pos[mocap] = self.fetch.initial_gripper_xpos + offset
            mujoco.mj_step(model, data, nstep=settle_steps * self.fetch.n_substeps)  # the arm follows the mocap
            place_object(data, pos)  # placed after the arm moved, so the move cannot push it
            mujoco.mj_forward(model, data)
            vis = self.object_visibility() if min_visible > 0 else 1.0
            if vis > best_vis:
                best, best_vis = self.renderer.render(data), vis
            if vis >= min_visible:
                break
        self.goal_visibility = best_vis
        mujoco.mj_setState(model, data, saved, spec)
        mujoco.mj_forward(model, data)
        return best

    def close(self) -> None:
        if self.renderer is not None:
            self.renderer.close()
        super().close()
