"""Behaviour check for refactors: short seeded runs of four agents, whose eval curves and final weights must not change.

``python benchmarks/equivalence.py run OUT`` builds the tiny graph from this checkout's ``params.yaml`` (shrunk: 32 px,
20-step episodes, 6 episodes half scripted, 60 pretraining steps) with the stage commands themselves, then runs
``state``, ``latent_supervised``, ``rig_spatial_ae_keypoints_obs_hold`` and ``pixel_manip_ss`` (the DrQ-v2-style
pixel agent; NatureCNN needs >= 36 px) for 600 env steps (eval every 200 on 4 fixed episodes, small networks), and
keeps each ``eval.csv`` and a digest of each final policy's weights in ``OUT/curves/``.
``python benchmarks/equivalence.py compare A B`` prints both side by side and exits 1 when any differs.
Run it on the commit before a refactor and after it (the recorded comparison goes in the closing note).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = ("state", "latent_supervised", "rig_spatial_ae_keypoints_obs_hold", "pixel_manip_ss")
ENCODERS = ("supervised", "spatial_ae")
SAC_TINY = {"learning_starts": 200, "batch_size": 32, "buffer_size": 5000, "net_arch": [32, 32]}


def merge(base: dict, overlay: dict) -> dict:
    """Deep merge (mappings merge, anything else replaces)."""
    out = dict(base)
    for k, v in overlay.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def tiny_params(out: Path) -> dict:
    """This checkout's params.yaml, shrunk, with every path under ``out/data``."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    overlay = {
        "env": {"image_size": 32, "max_episode_steps": 20},
        "collect": {"episodes": 6, "workers": 1, "seed": 7, "scripted_fraction": 0.5},
        "paths": {k: str(out / "data" / Path(v).name) for k, v in params["paths"].items()},
        "pretrain": {"encoders": list(ENCODERS), "max_steps": 60, "batch_size": 16, "cpu_threads": 1},
        "policy": {
            "total_steps": 600,
            "n_envs": 2,
            "eval_every": 200,
            "eval_episodes": 4,
            "seeds": [0],
            "run": list(VARIANTS),
            "variants": {v: {"sac": SAC_TINY} for v in VARIANTS},
        },
    }
    return merge(params, overlay)


def stage(params: Path, *args: str) -> None:
    cmd = [sys.executable, "-m", *args, "--params", str(params)]
    print("$", " ".join(cmd[1:]), flush=True)
    subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)


def run(out: Path) -> None:
    """Build the tiny graph in ``out`` and copy the four eval curves to ``out/curves``."""
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    params = out / "params.yaml"
    params.write_text(yaml.safe_dump(tiny_params(out), sort_keys=False))
    stage(params, "pipeline.collect")
    for enc in ENCODERS:
        stage(params, "pipeline.pretrain", "--encoder", enc)
        stage(params, "pipeline.goalspace", "--encoder", enc)
    (out / "curves").mkdir()
    for v in VARIANTS:
        stage(params, "pipeline.policy", "--variant", v, "--seed", "0")
        shutil.copy(out / "data" / "runs" / v / "0" / "eval.csv", out / "curves" / f"{v}.csv")
        (out / "curves" / f"{v}.weights").write_text(weights_digest(out / "data" / "checkpoints" / "policy" / v / "0"))


def weights_digest(ckpt: Path) -> str:
    """SHA-256 of the final policy's parameter values in their order (names may change in a refactor, values not)."""
    import torch  # here: the comparison alone needs no torch

    state = torch.load(ckpt / "weights.pt", map_location="cpu", weights_only=True)["policy"]
    h = hashlib.sha256()
    for tensor in state.values():
        h.update(tensor.detach().contiguous().numpy().tobytes())
    return h.hexdigest()


COMPARED = ("step", "success", "final_object_distance", "reward_success")
"""eval.csv columns that must match exactly (the timing columns may differ)"""


def curve(path: Path) -> list[tuple[str, ...]]:
    with path.open() as f:
        return [tuple(r[k] for k in COMPARED) for r in csv.DictReader(f)]


def compare(a: Path, b: Path) -> int:
    """Print each variant's curves from ``a`` and ``b``; 1 when any differs."""
    differ = 0
    for v in VARIANTS:
        ca, cb = curve(a / "curves" / f"{v}.csv"), curve(b / "curves" / f"{v}.csv")
        wa, wb = ((d / "curves" / f"{v}.weights").read_text().strip() for d in (a, b))
        same = ca == cb and wa == wb
        print(f"{v:36s} final policy weights {'identical' if wa == wb else 'DIFFERENT'} ({wa[:12]} vs {wb[:12]})")
        differ |= not same
        print(f"{v:36s} {'same' if same else 'DIFFERENT'}: success {[r[1] for r in ca]}, distance {[r[2] for r in ca]}")
        if not same:
            print(f"{'':36s} vs success {[r[1] for r in cb]}, distance {[r[2] for r in cb]}")
    return int(differ)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("run").add_argument("out", type=Path)
    cmp = sub.add_parser("compare")
    cmp.add_argument("a", type=Path)
    cmp.add_argument("b", type=Path)
    args = parser.parse_args()
    if args.cmd == "run":
        run(args.out.resolve())
    else:
        sys.exit(compare(args.a, args.b))


if __name__ == "__main__":
    main()
