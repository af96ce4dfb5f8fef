"""Pretraining throughput and what the encoders learn: frames/s and held-out probe error per encoder,
at several training budgets, on one fixed dataset (the real ``pretrain`` code path).

Run (repo root, venv active), on a Push dataset of >= 200 episodes at 84 px, default camera::

    python benchmarks/pretrain_probe.py --dataset .worktrees/push_cpu/data/dataset.zarr \
        --encoders supervised spatial_ae vae --steps 250 1000

Prints one row per (encoder, budget): optimiser steps, frames/s, seconds, object probe RMSE and median
error, object RMSE over the held-out frames where the block is in sight, gripper probe RMSE, the MLP
probe's object RMSE over all and over visible frames (mm) on held-out episodes, and the mean-predictor
and random-init (ridge and MLP) references.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import torch

import pipeline  # noqa: F401  (MUJOCO_GL)
from pipeline.collect.dataset import open_dataset
from pipeline.config import Params
from pipeline.params import read_yaml
from pipeline.pretrain.train import PretrainPaths, pretrain_encoder


def _num(v: float | None) -> float:
    """A metric not computed (None) prints as nan."""
    return float("nan") if v is None else v


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--encoders", nargs="+", default=["supervised", "spatial_ae", "vae"])
    parser.add_argument("--steps", nargs="+", type=int, default=[250, 1000])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: all cores)")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"), help="encoder blocks come from here")
    args = parser.parse_args()
    attrs = dict(open_dataset(args.dataset).attrs)
    base = read_yaml(args.params)
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"CPU ({os.cpu_count()} cores)"
    print(
        f"dataset {args.dataset}: {attrs['env_id']}, {attrs['episodes']} episodes, {attrs['image_size']} px, "
        f"camera {attrs['camera']['name']}; device {device}"
    )
    print(
        f"{'encoder':<11} {'steps':>6} {'frames/s':>9} {'seconds':>8} {'object mm':>10} {'obj median':>11} "
        f"{'obj visible':>12} "
        f"{'gripper mm':>11} {'MLP object':>11} {'MLP obj vis':>12} {'mean mm':>8} {'random mm':>10} {'random MLP':>11}"
    )
    for name in args.encoders:
        for steps in args.steps:
            with tempfile.TemporaryDirectory() as tmp:
                raw = {
                    **base,
                    "paths": {
                        **base.get("paths", {}),
                        "dataset": str(args.dataset),
                        "encoders": f"{tmp}/enc",
                        "checkpoints": f"{tmp}/ckpt",
                        "logs": f"{tmp}/logs",
                    },
                }
                raw["pretrain"] = {
                    **raw.get("pretrain", {}),
                    "max_steps": steps,
                    "max_epochs": 10_000,
                    "batch_size": args.batch_size,
                    "checkpoint_every_steps": 10_000_000,
                    "cpu_threads": args.threads,
                }
                params = Params.model_validate(raw)
                m = pretrain_encoder(params.pretrain, name, PretrainPaths.of(params.paths, name), progress=False)
            r = m.probe
            print(
                f"{name:<11} {m.steps or 0:>6} {_num(m.train_frames_per_s):>9.0f} {m.train_seconds:>8.0f} "
                f"{r.probe_object_mm:>10.1f} "
                f"{r.probe_object_median_mm:>11.1f} {_num(r.probe_object_visible_mm):>12.1f} "
                f"{r.probe_gripper_mm:>11.1f} {r.probe_object_mlp_mm:>11.1f} "
                f"{_num(r.probe_object_visible_mlp_mm):>12.1f} {r.mean_object_mm:>8.1f} "
                f"{m.random_object_mm:>10.1f} {m.random_object_mlp_mm:>11.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
