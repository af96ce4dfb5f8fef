"""The pixel agents' update, fused (each encoder run once per observation batch) against SB3's ``SAC.train``,
side by side on one model.

Run (repo root, venv active)::

    python benchmarks/pixel_update.py [--variants pixel_manip_ss pixel_nature] [--updates 6] [--steps 40] [--rounds 3]

Builds each of the study's pixel agents (``pixel_manip_ss``: DrQ-v2-style CNN with spatial softmax trained by the
critic; ``pixel_nature``: NatureCNN per actor and critic; 84 px, 4 frames, batch 256, 3x256 heads) with the real
code path (``build_envs`` + ``build_model``, in-process envs), fills
its replay with ``learning_starts`` random steps, then times in interleaved rounds (fused, SB3, fused, ...):
``--updates`` gradient steps alone, and ``--steps`` env steps of ``model.learn`` (one update per vectorised step).
Prints the seconds per update and the env steps/s of each, and their ratios; the machine's load average is printed
beside them (absolute numbers drift with load, the ratios are the point).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch
from policy_throughput import make_params, timed_learn
from stable_baselines3 import SAC

import pipeline  # noqa: F401  (MUJOCO_GL=egl)
from pipeline.config import load_params
from pipeline.policy.train import PolicyPaths, build_envs, build_model


def measure(variant_name: str, args: argparse.Namespace) -> None:
    """Time the two update paths of one study pixel agent, interleaved, and print them."""
    study = load_params("params.yaml").policy.variants[variant_name]
    sac = study.sac.model_copy(update={"learning_starts": args.learning_starts, "buffer_size": 20_000})
    variant = study.model_copy(update={"sac": sac, "wall_minutes": None})
    with tempfile.TemporaryDirectory() as tmp:
        params = make_params(Path(tmp), args.image_size, "cpu", vec_env="dummy")
        train_env, eval_env, _ = build_envs(params.env, params.policy, variant, 0, "cpu", PolicyPaths.of(params.paths))
        model = build_model(variant, train_env, 0, "cpu", Path(tmp) / "tb")
        model.learn(args.learning_starts + 2, progress_bar=False)  # fills the replay, a first update
        paths = {"fused": model.update, "sb3": lambda g, b: SAC.train(model, g, b)}
        update_s = {k: 0.0 for k in paths}
        learn_s = {k: 0.0 for k in paths}
        for _ in range(args.rounds):
            for name, update in paths.items():
                t0 = time.perf_counter()
                update(args.updates, sac.batch_size)
                update_s[name] += time.perf_counter() - t0
                model.update = update  # the path model.learn's updates take this round
                learn_s[name] += timed_learn(model, args.steps)
                del model.update
        train_env.close()
        eval_env.close()
    n_updates, n_steps = args.rounds * args.updates, args.rounds * args.steps
    print(f"{variant_name} at {args.image_size} px, batch {sac.batch_size}, {torch.get_num_threads()} torch threads, "
          f"load average {os.getloadavg()[0]:.2f} at the end")  # fmt: skip
    for name in paths:
        print(f"  {name:>5}: {update_s[name] / n_updates:.3f} s per update, {n_steps / learn_s[name]:.2f} env steps/s")
    print(f"  fused / sb3: updates {update_s['sb3'] / update_s['fused']:.2f}x faster, "
          f"env steps/s {learn_s['sb3'] / learn_s['fused']:.2f}x", flush=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", nargs="+", default=["pixel_manip_ss", "pixel_nature"])
    parser.add_argument("--updates", type=int, default=6, help="timed gradient steps per round and path")
    parser.add_argument("--steps", type=int, default=40, help="timed env steps of model.learn per round and path")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--image-size", type=int, default=84)
    parser.add_argument("--learning-starts", type=int, default=300)
    args = parser.parse_args()
    torch.set_num_threads(max(1, (os.cpu_count() or 2) // 2))
    for name in args.variants:
        measure(name, args)


if __name__ == "__main__":
    main()
