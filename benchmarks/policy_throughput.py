"""SAC+HER training throughput: state vs frozen-encoder latent vs end-to-end pixel (NatureCNN), side by side.

Run (from the repo root, venv active)::

    python benchmarks/policy_throughput.py [--state-steps 1500] [--latent-steps 1500] [--pixel-steps 150]
        [--learning-starts 500] [--warmup 20] [--rounds 2] [--image-size 84] [--device auto|cpu|cuda]

Each variant is built with the real code path (``build_envs`` + ``build_model`` of :mod:`pipeline.policy.train`)
and identical SAC settings (batch 256, net_arch [256, 256, 256], n_envs 2, train_freq 1, gradient_steps 1), envs
placed by ``policy.vec_env: auto`` with ``policy.overlap_updates: true`` (the defaults: on >= 2 cores, latent envs
step and render in worker processes while the SAC update runs); ``latent_inproc`` is the same latent agent in SB3's
plain loop (envs in this process, ``vec_env: dummy``), to show what the overlap buys on this machine. ``model.learn``
first runs ``learning_starts`` random steps plus ``warmup`` training steps (untimed), then the timed steady-state
steps, split into ``rounds`` interleaved chunks (state, latent, pixel, state, ...) so machine-load drift hits all alike.

Prints: machine info; per variant env-steps/s and replay bytes per transition (``replay_bytes_per_transition``); what
SB3's ``HerReplayBuffer`` would take per transition for 4-frame pixel observations (from shapes); the ratios
latent/state (target >= 0.8) and latent/pixel (target >= 50). Absolute numbers drift with load; the ratios count.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

import pipeline  # noqa: F401  (MUJOCO_GL=egl)
from pipeline.config import Params
from pipeline.encoders import save_encoder
from pipeline.encoders.registry import build_encoder
from pipeline.policy.agent import uses_worker_processes
from pipeline.policy.blocks import SACConfig
from pipeline.policy.checkpoint import replay_bytes_per_transition
from pipeline.policy.config import VariantConfig
from pipeline.policy.pixel import make_pixel_env
from pipeline.policy.train import PolicyPaths, build_envs, build_model, resolve_device

N_ENVS = 2


def make_params(tmp: Path, image_size: int, device: str, vec_env: str = "auto") -> Params:
    """Study params at ``image_size`` with every path in ``tmp``; 1 eval env (never stepped)."""
    paths = {k: str(tmp / k) for k in ("dataset", "encoders", "runs", "report", "checkpoints", "logs")}
    return Params.model_validate(
        {
            "env": {"image_size": image_size},
            "paths": paths,
            "policy": {"n_envs": N_ENVS, "eval_episodes": 1, "device": device, "vec_env": vec_env},
        }
    )


def write_vae(params: Params) -> str:
    """A freshly initialised (seeded) VAE artifact with the default VAE config; returns its name."""
    torch.manual_seed(0)
    cfg = params.pretrain.vae
    net = build_encoder("vae", cfg, params.env.image_size)
    save_encoder(
        net, "vae", cfg, params.env.image_size, params.env.camera_dict(), params.env.id, params.paths.encoders / "vae"
    )
    return "vae"


def variants(sac: SACConfig, latent_frame_stack: int) -> dict[str, VariantConfig]:
    """The three agents, same SAC settings."""
    return {
        "state": VariantConfig(obs="state", sac=sac),
        # like with like: the state agent with its envs in worker processes and overlapped updates, as latent runs
        "state_subproc": VariantConfig(obs="state", sac=sac),
        "latent": VariantConfig(
            obs="latent", encoder="vae", goal_mode="vector", proprio=True, frame_stack=latent_frame_stack, sac=sac
        ),
        # the same agent with its envs in this process, SB3's strict step/update alternation (vec_env: dummy)
        "latent_inproc": VariantConfig(
            obs="latent", encoder="vae", goal_mode="vector", proprio=True, frame_stack=latent_frame_stack, sac=sac
        ),
        "pixel": VariantConfig(
            obs="pixel", extractor="nature", routing="separate", augment=False, frame_stack=1, proprio=True, sac=sac
        ),
        # the other end-to-end agents of the study (issue: env-steps/s per pixel variant)
        "pixel_manip_shared": VariantConfig(
            obs="pixel", extractor="manip", routing="shared", augment=True, coordconv=True, frame_stack=1, sac=sac
        ),
        "pixel_manip_ss_critic": VariantConfig(
            obs="pixel", extractor="manip_ss", routing="critic", augment=True, frame_stack=4, sac=sac
        ),
    }


def sb3_her_pixel_bytes(params: Params, frames: int = 4) -> int:
    """Bytes per transition SB3's ``HerReplayBuffer`` allocates for ``frames``-stacked pixel obs, from shapes: obs
    and next_obs each hold every key of the real pixel env's space (pixels (3*frames, S, S) uint8, goals and proprio
    in the space's dtype); plus float32 action, reward, done, timeout, an object ``infos`` slot (8-byte pointer) and
    int64 ep_start / ep_length."""
    env = make_pixel_env(params.env, VariantConfig(obs="pixel", frame_stack=frames))
    obs = sum(int(np.prod(s.shape)) * s.dtype.itemsize for s in env.observation_space.spaces.values())
    n_actions = int(np.prod(env.action_space.shape))
    env.close()
    return 2 * obs + 4 * n_actions + 4 + 4 + 4 + 8 + 8 + 8


def timed_learn(model: Any, steps: int) -> float:
    """Seconds for ``model.learn(steps)`` continuing from where the model is."""
    t0 = time.perf_counter()
    model.learn(steps, reset_num_timesteps=False, progress_bar=False)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--state-steps", type=int, default=1500, help="timed env steps, state variant")
    parser.add_argument("--latent-steps", type=int, default=1500, help="timed env steps, latent variant")
    parser.add_argument("--pixel-steps", type=int, default=150, help="timed env steps, pixel variant")
    parser.add_argument("--learning-starts", type=int, default=500, help="random env steps before updates (untimed)")
    parser.add_argument("--warmup", type=int, default=20, help="untimed training env steps after learning_starts")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved timing chunks per variant")
    parser.add_argument("--buffer-size", type=int, default=10_000, help="replay capacity (transitions, all envs)")
    parser.add_argument("--image-size", type=int, default=84)
    parser.add_argument("--latent-frame-stack", type=int, default=1)
    parser.add_argument(
        "--variants",
        nargs="+",
        default=["state", "state_subproc", "latent", "latent_inproc", "pixel"],
        choices=[
            "state",
            "state_subproc",
            "latent",
            "latent_inproc",
            "pixel",
            "pixel_manip_shared",
            "pixel_manip_ss_critic",
        ],
    )
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch intra-op threads (default: 1 on cpu -- 2 threads on 2 busy shared cores oversubscribe "
        "badly -- torch's default on cuda)",
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    device = resolve_device(args.device)
    threads = args.threads or (1 if device == "cpu" else None)
    if threads:
        torch.set_num_threads(threads)
    dev_name = torch.cuda.get_device_name(0) if device == "cuda" else (platform.processor() or platform.machine())
    print(
        f"machine: {os.cpu_count()} cpus, torch {torch.__version__} ({torch.get_num_threads()} threads), "
        f"device {device} ({dev_name}); n_envs {N_ENVS}, {args.image_size} px",
        flush=True,
    )

    sac = SACConfig(
        batch_size=256,
        net_arch=[256, 256, 256],
        train_freq=1,
        gradient_steps=1,
        learning_starts=args.learning_starts,
        buffer_size=args.buffer_size,
    )
    steps = {
        "state": args.state_steps,
        "state_subproc": args.state_steps,
        "latent": args.latent_steps,
        "latent_inproc": args.latent_steps,
    }
    steps.update({n: args.pixel_steps for n in ("pixel", "pixel_manip_shared", "pixel_manip_ss_critic")})
    models: dict[str, Any] = {}
    envs: list[Any] = []
    seconds = dict.fromkeys(args.variants, 0.0)
    done = dict.fromkeys(args.variants, 0)
    with tempfile.TemporaryDirectory() as tmp:
        params = make_params(Path(tmp), args.image_size, device)
        inproc = make_params(Path(tmp), args.image_size, device, vec_env="dummy")
        subproc = make_params(Path(tmp), args.image_size, device, vec_env="subproc")
        if {"latent", "latent_inproc"} & set(args.variants):
            write_vae(params)
        specs = variants(sac, args.latent_frame_stack)
        for name in args.variants:  # build + untimed random phase and warm-up updates
            torch.manual_seed(args.seed)
            run_params = {"latent_inproc": inproc, "state_subproc": subproc}.get(name, params)
            train_env, eval_env, _ = build_envs(
                run_params.env, run_params.policy, specs[name], args.seed, device, PolicyPaths.of(run_params.paths)
            )
            eval_env.close()
            model = build_model(
                specs[name], train_env, args.seed, device, Path(tmp) / "tb", overlap=run_params.policy.overlap_updates
            )
            t0 = time.perf_counter()
            model.learn(args.learning_starts + args.warmup, progress_bar=False)
            kind = ("SubprocVecEnv" if uses_worker_processes(train_env) else "DummyVecEnv") + (
                ", overlapped updates" if model.overlap else ""
            )
            print(
                f"{name:13s}: built ({kind}), {model.num_timesteps} untimed steps in {time.perf_counter() - t0:.1f}s",
                flush=True,
            )
            models[name], envs = model, envs + [train_env]
        for r in range(args.rounds):  # interleaved timed chunks
            for name, model in models.items():
                chunk = steps[name] // args.rounds + (steps[name] % args.rounds if r == args.rounds - 1 else 0)
                start = model.num_timesteps
                seconds[name] += timed_learn(model, chunk)
                done[name] += model.num_timesteps - start
        fps = {n: done[n] / max(seconds[n], 1e-9) for n in models}
        nbytes = {n: replay_bytes_per_transition(m.replay_buffer) for n, m in models.items()}
        for env in envs:
            env.close()
        sb3 = sb3_her_pixel_bytes(params)

    print(f"\n{'variant':22s} {'timed steps':>11s} {'seconds':>8s} {'env steps/s':>12s} {'replay B/transition':>20s}")
    for n in models:
        print(f"{n:22s} {done[n]:11d} {seconds[n]:8.1f} {fps[n]:12.1f} {nbytes[n]:20.0f}")
    print(
        f"\nSB3 HerReplayBuffer, 4-frame {args.image_size} px pixels (from shapes): {sb3:,} B/transition"
        f" (= {sb3 / (3 * args.image_size**2):.2f} frames)"
    )
    if "pixel" in nbytes:
        print(f"  vs this run's pixel buffer (frame_stack 1, frame-once): {sb3 / nbytes['pixel']:.1f}x more")
    if "latent" in nbytes:
        print(f"  vs this run's latent buffer: {sb3 / nbytes['latent']:.0f}x more")
    if "latent" in fps and "state" in fps:
        r = fps["latent"] / fps["state"]
        print(f"\nlatent/state throughput: {r:.3f} (target >= 0.8: {'PASS' if r >= 0.8 else 'FAIL'})")
    if "latent_inproc" in fps and "state" in fps:
        print(
            f"latent_inproc/state throughput: {fps['latent_inproc'] / fps['state']:.3f} "
            f"(like with like: both in this process, SB3's strict loop)"
        )
    if "latent" in fps and "state_subproc" in fps:
        print(
            f"latent/state_subproc throughput: {fps['latent'] / fps['state_subproc']:.3f} "
            f"(like with like: both in worker processes, overlapped updates)"
        )
    if "latent" in fps and "pixel" in fps:
        r = fps["latent"] / fps["pixel"]
        print(f"latent/pixel throughput: {r:.1f} (target >= 50: {'PASS' if r >= 50 else 'FAIL'})")


if __name__ == "__main__":
    main()
