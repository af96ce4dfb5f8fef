"""Replay memory of pixel SAC+HER: ``FrameHerReplayBuffer`` (each frame once) vs SB3's ``HerReplayBuffer``.

Run (from the repo root, venv active)::

    python benchmarks/pixel_buffer_memory.py [--image-size 84] [--stacks 1 4] [--buffer-size 20000]
        [--fill 2000] [--batch 256] [--reps 20]

For each frame stack k both buffers are built for the observation space of the real pixel env
(``make_pixel_env``: pixels (3k, S, S) uint8, achieved/desired goal, proprio) with n_envs 2.
Bytes per transition are measured from the buffers' actually allocated numpy arrays:
sum of ``nbytes`` / (``buffer_size`` * ``n_envs``) (object arrays count their pointers), also
expressed in frames (/ (S*S*3)); "pixels" counts only the arrays holding frames. Then ``--fill``
synthetic transitions per env (random frames, episodes of the env's length, stacks built as the
env does) are added and ``sample(batch)`` is timed (ms per batch, median of ``--reps``).
Prints a table and the SB3 / frame-once ratios. Numpy's lazy zero pages mean untouched capacity
costs no RAM yet, but the buffers are sized (and checkpoints grow) by these numbers.
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3 import HerReplayBuffer
from stable_baselines3.common.vec_env import DummyVecEnv

import pipeline  # noqa: F401  (MUJOCO_GL=egl)
from pipeline.envs import EnvConfig
from pipeline.policy.config import VariantConfig
from pipeline.policy.frame_buffer import FrameHerReplayBuffer
from pipeline.policy.pixel import make_pixel_env

N_ENVS = 2


def allocated_bytes(buffer: Any, pixels_only: bool = False) -> int:
    """Sum of ``nbytes`` of every numpy array the buffer holds (dict-valued attributes included)."""
    total = 0
    for name, value in vars(buffer).items():
        arrays = {name: value} if isinstance(value, np.ndarray) else value if isinstance(value, dict) else {}
        for key, a in arrays.items():
            if isinstance(a, np.ndarray) and (not pixels_only or key in ("pixels", "frames", "final_frames")):
                total += a.nbytes
    return total


def pixel_space(cfg: EnvConfig, k: int) -> spaces.Dict:
    """Observation space of the real k-frame pixel env (pixels, goals, proprio)."""
    env = make_pixel_env(cfg, VariantConfig(obs="pixel", frame_stack=k))
    space = env.observation_space
    env.close()
    return space


def build(kind: str, space: spaces.Dict, k: int, buffer_size: int, vec: DummyVecEnv, check: bool = False) -> Any:
    """A ``frame`` (FrameHerReplayBuffer) or ``sb3`` (HerReplayBuffer) buffer for k-frame pixel obs."""
    action = vec.action_space
    if kind == "frame":
        return FrameHerReplayBuffer(buffer_size, space, action, vec, "cpu", N_ENVS, frame_stack=k, check_stacks=check)
    return HerReplayBuffer(buffer_size, space, action, vec, "cpu", N_ENVS)


def fill(buffer: Any, k: int, steps: int, ep_len: int, seed: int) -> None:
    """Add ``steps`` synthetic transitions per env: random frames, repeat-padded stacks, episodes of ``ep_len``."""
    rng = np.random.default_rng(seed)
    space = buffer.observation_space
    size = space["pixels"].shape[1]
    vec_keys = [key for key in space.spaces if key != "pixels"]
    hist: list[np.ndarray] = []  # frames of the current episodes, (N_ENVS, 3, S, S) each

    def frame() -> np.ndarray:
        return rng.integers(0, 256, (N_ENVS, 3, size, size), dtype=np.uint8)

    def stack() -> np.ndarray:
        last = hist[-k:]
        return np.concatenate([last[0]] * (k - len(last)) + last, axis=1)  # (N_ENVS, 3k, S, S)

    def vectors() -> dict[str, np.ndarray]:
        return {key: rng.standard_normal((N_ENVS, *space[key].shape)).astype(np.float32) for key in vec_keys}

    hist.append(frame())
    obs = {"pixels": stack(), **vectors()}
    for t in range(steps):
        hist.append(frame())
        next_obs = {"pixels": stack(), **vectors()}
        done = np.full(N_ENVS, (t + 1) % ep_len == 0)
        infos = [{"TimeLimit.truncated": bool(d)} for d in done]
        buffer.add(
            obs, next_obs, rng.uniform(-1, 1, (N_ENVS, 4)).astype(np.float32), -np.ones(N_ENVS, np.float32), done, infos
        )
        if done[0]:
            hist = [frame()]
            obs = {"pixels": stack(), **vectors()}
        else:
            obs = next_obs


def time_sample(buffer: Any, batch: int, reps: int) -> float:
    """Median milliseconds per ``buffer.sample(batch)`` (after 2 untimed calls)."""
    np.random.seed(0)
    for _ in range(2):
        buffer.sample(batch)
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        buffer.sample(batch)
        times.append(time.perf_counter() - t0)
    return 1e3 * float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image-size", type=int, default=84)
    parser.add_argument("--stacks", type=int, nargs="+", default=[1, 4], help="frame stacks k")
    parser.add_argument("--buffer-size", type=int, default=20_000, help="capacity in transitions (all envs)")
    parser.add_argument("--fill", type=int, default=2000, help="synthetic transitions added per env")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (sample() copies to tensors)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cfg = EnvConfig(image_size=args.image_size)
    frame_bytes = 3 * args.image_size**2
    vec = DummyVecEnv([lambda: make_pixel_env(cfg, VariantConfig(obs="pixel"))])  # compute_reward for HER
    print(
        f"machine: {os.cpu_count()} cpus, torch {torch.__version__} ({torch.get_num_threads()} threads); "
        f"{cfg.id} {args.image_size} px (frame = {frame_bytes} B), n_envs {N_ENVS}, buffer_size {args.buffer_size}, "
        f"{args.fill} transitions/env filled, sample({args.batch})"
    )
    header = (
        f"{'k':>2s} {'buffer':22s} {'B/transition':>13s} {'frames':>7s} {'pixels B':>10s} "
        f"{'pixel frames':>12s} {'sample ms':>10s}"
    )
    print(header)
    print("-" * len(header))
    results: dict[tuple[int, str], tuple[float, float]] = {}
    for k in args.stacks:
        space = pixel_space(cfg, k)
        for kind, label in (("sb3", "SB3 HerReplayBuffer"), ("frame", "FrameHerReplayBuffer")):
            buf = build(kind, space, k, args.buffer_size, vec)
            capacity = buf.buffer_size * buf.n_envs
            total, pix = allocated_bytes(buf) / capacity, allocated_bytes(buf, pixels_only=True) / capacity
            fill(buf, k, args.fill, cfg.max_episode_steps, seed=k)
            ms = time_sample(buf, args.batch, args.reps)
            results[k, kind] = (total, ms)
            print(
                f"{k:2d} {label:22s} {total:13,.0f} {total / frame_bytes:7.2f} {pix:10,.0f} "
                f"{pix / frame_bytes:12.2f} {ms:10.2f}",
                flush=True,
            )
            del buf
    print()
    for k in args.stacks:
        (sb3_b, sb3_ms), (fr_b, fr_ms) = results[k, "sb3"], results[k, "frame"]
        print(
            f"k={k}: SB3 / frame-once memory {sb3_b / fr_b:5.2f}x; sample time frame-once / SB3 {fr_ms / sb3_ms:5.2f}x"
        )
    vec.close()


if __name__ == "__main__":
    main()
