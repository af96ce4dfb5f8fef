"""Rollout pictures: deterministic evaluation episodes as a GIF, what the agent's camera sees beside its goal.

``python -m pipeline.policy.rollout --variant NAME --seed S [--episodes N]`` draws them from a run's checkpoint;
the policy stage writes ``runs/<variant>/<seed>/rollout.gif`` at the end of a run (``policy.rollout_episodes``).
The goal panel is the goal image a latent-goal agent is given, or, for vector goals, the scene with the block
placed at the goal (the agent itself is given the position, not this picture).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image
from stable_baselines3.common.base_class import BaseAlgorithm

from pipeline.cli import base_parser, run_stage
from pipeline.config import load_params
from pipeline.envs import EnvConfig
from pipeline.io import partial_path
from pipeline.policy.config import VariantConfig
from pipeline.policy.evaluate import EVAL_SEED_BASE
from pipeline.policy.vec_backend import make_fetch_vec_env
from pipeline.policy.vecenv import GoalObsVecEnv

SCALE = 2
"""each panel is drawn at twice the rendered size (84 px frames are small on screen)"""
FRAME_MS = 80


def side_by_side(seen: np.ndarray, goal: np.ndarray) -> np.ndarray:
    """Two ``(H, W, 3)`` uint8 frames -> ``(SH, 2SW + 4, 3)``: the camera frame, a white gap, the goal."""
    gap = np.full((seen.shape[0], 2, 3), 255, np.uint8)
    both = np.concatenate([seen, gap, goal], axis=1)  # (H, 2W + 2, 3)
    return both.repeat(SCALE, axis=0).repeat(SCALE, axis=1)  # nearest-neighbour upscale


def goal_picture(env: GoalObsVecEnv) -> np.ndarray:
    """The goal panel of env 0 (see the module docstring)."""
    if env.variant.goal_mode == "latent":
        return env.goal_frames[0]
    goal = env.raw_observations()["desired_goal"][0]
    return env.venv.env_method("render_with_object_at", goal, indices=[0])[0]


def record_episodes(model: BaseAlgorithm, env: GoalObsVecEnv, episodes: int) -> tuple[list[np.ndarray], list[bool]]:
    """Frames of ``episodes`` deterministic episodes (eval seeds) in a one-env rendering ``env``, and successes."""
    frames, successes = [], []
    for e in range(episodes):
        env.seed(EVAL_SEED_BASE + e)
        obs = env.reset()
        goal = goal_picture(env)
        done = False
        while not done:
            frames.append(side_by_side(env.raw_observations()["pixels"][0], goal))
            action, _ = model.predict(obs, deterministic=True)
            obs, _, dones, infos = env.step(action)
            done = bool(dones[0])
        successes.append(bool(infos[0].get("is_success", False)))
    return frames, successes


def write_gif(frames: list[np.ndarray], path: Path) -> None:
    """An animated GIF, written next to ``path`` then moved into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = partial_path(path)
    images = [Image.fromarray(f) for f in frames]
    images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], duration=FRAME_MS, loop=0)
    os.replace(tmp, path)


def rollout_gif(
    model: BaseAlgorithm, env_cfg: EnvConfig, variant: VariantConfig, like: GoalObsVecEnv, episodes: int, path: Path
) -> list[bool]:
    """Record ``episodes`` eval episodes with the encoder / goal space / threshold of ``like``; returns successes."""
    if variant.obs == "pixel":
        raise ValueError("rollout pictures are drawn for state, proprio and latent variants")
    env = GoalObsVecEnv(
        make_fetch_vec_env(env_cfg, 1, render=True, kind="dummy"), variant, like.encoder, like.threshold,
        goal_space=like.goal_space, obs_space=like.obs_space,
    )  # fmt: skip
    try:
        frames, successes = record_episodes(model, env, episodes)
    finally:
        env.close()
    write_gif(frames, path)
    return successes


def main(argv: list[str] | None = None) -> None:
    parser = base_parser(__doc__)
    parser.add_argument("--variant", required=True, help="a name under policy.variants")
    parser.add_argument("--seed", type=int, required=True, help="training seed of the run")
    parser.add_argument("--episodes", type=int, default=2, help="deterministic eval episodes to record")
    parser.add_argument("--out", type=Path, default=None, help="default: runs/<variant>/<seed>/rollout.gif")
    args = parser.parse_args(argv)

    from pipeline.policy.build import PolicyPaths, RunError, restore_run

    def body() -> None:
        params = load_params(args.params)
        paths = PolicyPaths.of(params.paths)
        model, train_env, eval_env, steps = restore_run(
            params.env, params.policy, args.variant, args.seed, paths, "rollout"
        )
        variant = params.policy.variants[args.variant]
        out = args.out or paths.runs / args.variant / str(args.seed) / "rollout.gif"
        successes = rollout_gif(model, params.env, variant, eval_env, args.episodes, out)
        train_env.close()
        eval_env.close()
        print(f"rollout {args.variant}/{args.seed} at step {steps}: {sum(successes)}/{len(successes)} solved -> {out}")

    run_stage(body, (RunError, FileNotFoundError))


if __name__ == "__main__":
    main()
