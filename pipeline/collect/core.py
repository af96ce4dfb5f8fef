"""Stage 1: random pixel rollouts of a Fetch task into the zarr dataset."""

from __future__ import annotations

import multiprocessing as mp
import sys
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import mujoco
from tqdm import tqdm

from pipeline.collect.config import CollectConfig
from pipeline.collect.rollout import init_worker, worker_chunk
from pipeline.collect.writer import DatasetWriter
from pipeline.envs import EnvConfig


def package_versions() -> dict[str, str]:
    """Versions of the simulator and packages that shape the data."""
    out = {"mujoco": mujoco.__version__}
    for pkg in ("gymnasium", "gymnasium-robotics", "numpy", "zarr", "pixel-rig-pipeline"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "unknown"
    return out


def policy_name(cfg: CollectConfig) -> str:
    """Human-readable name of the behaviour policy."""
    if cfg.scripted_fraction == 0:
        return "uniform_random"
    return f"uniform_random+scripted_pusher(fraction={cfg.scripted_fraction}, noise={cfg.scripted_noise})"


def collect(env_cfg: EnvConfig, cfg: CollectConfig, path: Path, progress: bool = True) -> dict:
    """Roll out ``cfg.episodes`` episodes in ``cfg.workers`` processes and publish the dataset at ``path``.

    The arrays depend only on the params and seed, not on the worker count. One run at a time holds ``path``'s
    lock; nothing appears at ``path`` until every episode is written and verified, and a failed run leaves no
    temporary data. Returns a summary dict.
    """
    t0 = time.perf_counter()
    fpe = env_cfg.max_episode_steps + 1
    n_frames = cfg.episodes * fpe
    attrs = {
        "env_id": env_cfg.id,
        "camera": env_cfg.camera_dict(),
        "image_size": env_cfg.image_size,
        "show_goal": env_cfg.show_goal,
        "antialias": env_cfg.antialias,
        "seed": cfg.seed,
        "policy": policy_name(cfg),
        "versions": package_versions(),
        "frames_per_episode": fpe,
        "episodes": cfg.episodes,
    }
    chunk = min(cfg.chunk_episodes, cfg.episodes)
    ctx = mp.get_context("spawn")  # fresh interpreters: no GL context or BLAS state inherited
    workers = min(cfg.workers, cfg.episodes)
    chunks = [range(c, min(c + chunk, cfg.episodes)) for c in range(0, cfg.episodes, chunk)]
    compress = cfg.compressor == "zstd"
    # the writer holds the dataset's lock for the whole run and removes its temporary group on any failure
    with DatasetWriter(path, n_frames, env_cfg.image_size, chunk * fpe, attrs, compress=compress) as writer:
        # progress on stdout: stderr is kept for the one-line error of a failed run
        bar = tqdm(total=n_frames, unit="frame", desc="collect", disable=not progress, smoothing=0.1, file=sys.stdout)
        try:
            with ctx.Pool(workers, initializer=init_worker, initargs=(env_cfg, cfg, str(writer.tmp))) as pool:
                for n in pool.imap_unordered(worker_chunk, chunks):
                    writer.written_elsewhere(n)
                    bar.update(n)
                    bar.set_postfix(fps=f"{bar.format_dict['n'] / max(time.perf_counter() - t0, 1e-9):.0f}")
        finally:  # leaving the pool's block has stopped every worker: nothing writes to the temporary group now
            bar.close()
        writer.group.attrs["collect_seconds"] = round(time.perf_counter() - t0, 1)  # the report charges latent routes
        final = writer.close()
    wall = time.perf_counter() - t0
    size_mb = sum(f.stat().st_size for f in final.rglob("*") if f.is_file()) / 1e6
    summary = {
        "episodes": cfg.episodes,
        "frames": n_frames,
        "seconds": wall,
        "frames_per_s": n_frames / wall,
        "workers": workers,
        "megabytes": size_mb,
        "path": str(final),
    }
    if progress:
        print(
            f"collect: {cfg.episodes} episodes, {n_frames} frames of {env_cfg.id} at {env_cfg.image_size}px "
            f"({env_cfg.camera}) -> {final} [{size_mb:.1f} MB] in {wall:.1f} s "
            f"({n_frames / wall:.0f} frames/s, {workers} workers)"
        )
    return summary
