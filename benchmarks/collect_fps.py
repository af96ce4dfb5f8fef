"""Collection throughput: our renderer path vs ``env.render()``, and 1- vs 2-worker scaling.

Run: ``python benchmarks/collect_fps.py [--frames 600] [--episodes 24]``. Prints frames/s and
the ratios measured side by side in this one run (absolute numbers drift with machine load).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

import pipeline  # noqa: F401  (MUJOCO_GL=egl)
from pipeline.collect.config import CollectConfig
from pipeline.collect.core import collect
from pipeline.envs import EnvConfig, FetchPixelEnv, make_fetch_env


def ours(cfg: EnvConfig, frames: int) -> float:
    """Frames/s of one process: env step + ``mujoco.Renderer`` at the target size."""
    env = FetchPixelEnv(cfg)
    env.reset(seed=0)
    t0 = time.perf_counter()
    for i in range(frames):
        _, _, term, trunc, _ = env.step(env.action_space.sample())
        if term or trunc:
            env.reset()
    fps = frames / (time.perf_counter() - t0)
    env.close()
    return fps


def env_render(cfg: EnvConfig, frames: int, native: bool) -> float:
    """Frames/s of the ``env.render()`` path: 480 px render + resize (or rendered at ``S`` directly)."""
    import gymnasium as gym

    make_fetch_env(cfg)  # registers the envs
    size = cfg.image_size if native else 480
    env = gym.make(cfg.id, render_mode="rgb_array", width=size, height=size, max_episode_steps=cfg.max_episode_steps)
    env.reset(seed=0)
    t0 = time.perf_counter()
    for i in range(frames):
        _, _, term, trunc, _ = env.step(env.action_space.sample())
        img = env.render()
        if not native:
            img = np.asarray(Image.fromarray(img).resize((cfg.image_size, cfg.image_size), Image.BILINEAR))
        if term or trunc:
            env.reset()
    fps = frames / (time.perf_counter() - t0)
    env.close()
    return fps


def scaling(cfg: EnvConfig, episodes: int) -> dict[int, float]:
    """Frames/s of the whole ``collect`` stage (write included) with 1 and 2 workers."""
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for workers in (1, 2):
            ccfg = CollectConfig(episodes=episodes, workers=workers, seed=0)
            summary = collect(cfg, ccfg, Path(tmp) / f"w{workers}.zarr", progress=False)
            out[workers] = summary["frames_per_s"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=600)
    parser.add_argument("--episodes", type=int, default=24)
    parser.add_argument("--image-size", type=int, default=84)
    args = parser.parse_args()
    cfg = EnvConfig(image_size=args.image_size)
    a = ours(cfg, args.frames)
    b = env_render(cfg, args.frames, native=False)
    c = env_render(cfg, args.frames, native=True)
    s = scaling(cfg, args.episodes)
    print(f"machine: {os.cpu_count()} cpus; {cfg.id} at {cfg.image_size}px, camera {cfg.camera}")
    print(f"per core  mujoco.Renderer (ours)         : {a:7.1f} frames/s")
    print(f"per core  env.render() 480px + resize    : {b:7.1f} frames/s  -> ours is {a / b:.2f}x")
    print(f"per core  env.render() at {cfg.image_size}px            : {c:7.1f} frames/s  -> ours is {a / c:.2f}x")
    print(f"collect stage, 1 worker                  : {s[1]:7.1f} frames/s")
    print(
        f"collect stage, 2 workers                 : {s[2]:7.1f} frames/s  "
        f"-> parallel efficiency {s[2] / (2 * s[1]):.0%}"
    )


if __name__ == "__main__":
    main()
