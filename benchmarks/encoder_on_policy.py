"""Does an encoder still see the block on the frames a pushing agent meets? Dataset frames vs on-policy frames.

Run (repo root, venv active) on saved encoders, their dataset and the env of ``--params``::

    python benchmarks/encoder_on_policy.py --dataset data/dataset.zarr data/encoders/supervised --episodes 40

The pretrain probe scores an encoder on held-out dataset frames, which are mostly random-arm rollouts: the
gripper is seldom near the block. A pushing agent spends its episodes with the gripper at the block, where the arm
hides it. Here one ridge probe per encoder (latent -> block position, alpha cross-validated over training
episodes, fitted on the pretrain split's training frames) is read out on two sets of frames: the held-out dataset
episodes, and ``--episodes`` episodes that the collect stage's noisy scripted pusher (the policy stage's scripted
warm-up) plays in the policy stage's env. Both are scored on frames with the block on the table, overall and split by
how much of the block is in sight, with the share of frames read out further off than the 50 mm success radius.
"""

from __future__ import annotations

import numpy as np
from _encoder_cli import parse_encoder_args

import pipeline  # noqa: F401  (MUJOCO_GL)
from pipeline.collect.dataset import load_dataset
from pipeline.collect.rollout import scripted_action
from pipeline.config import Params
from pipeline.encoders import LoadedEncoder, load_encoder
from pipeline.params import read_yaml
from pipeline.policy.vec_backend import make_fetch_vec_env
from pipeline.pretrain.data import split_episodes, subsample
from pipeline.pretrain.probe import VISIBLE_MIN, ridge_readout, select_alpha

ON_TABLE_Z = 0.40
"""The block counts as on the table while its centre is above this height (m); the table top is at ~0.40."""
SUCCESS_MM = 50.0
"""Fetch's success radius: a read-out error beyond it can turn a success into a failure."""


def on_policy_frames(params: Params, episodes: int, noise: float, seed: int) -> dict[str, np.ndarray]:
    """Frames, block positions and visible shares of ``episodes`` scripted-pusher episodes in the policy's env."""
    env = make_fetch_vec_env(params.env, 2, render=True, kind="dummy")
    env.seed(seed)
    rng = np.random.default_rng(seed)
    raw = env.reset()
    out: dict[str, list[np.ndarray]] = {"frames": [], "object_pos": [], "object_visible": []}
    for _ in range(-(-episodes // 2) * params.env.max_episode_steps):
        out["frames"].append(raw["pixels"])
        out["object_pos"].append(raw["achieved_goal"])
        out["object_visible"].append(np.asarray(env.env_method("object_visibility"), np.float32))
        per_env = [{k: raw[k][i] for k in ("proprio", "achieved_goal", "desired_goal")} for i in range(2)]
        actions = np.stack([scripted_action(o, rng, noise, True) for o in per_env])  # (2, 4)
        raw, _, _, _ = env.step(actions)
    env.close()
    return {k: np.concatenate(v) for k, v in out.items()}  # lists of (2, ...) -> (N, ...)


def encode(encoder: LoadedEncoder, frames: np.ndarray, batch: int = 256) -> np.ndarray:
    """``(N, H, W, 3)`` uint8 -> ``(N, L)`` latents, in batches."""
    return np.concatenate([encoder.encode(frames[i : i + batch]) for i in range(0, len(frames), batch)])


def errors_row(pred: np.ndarray, pos: np.ndarray, visible: np.ndarray) -> str:
    """Median / p90 error and share beyond the success radius on frames with the block on the table."""
    err = np.linalg.norm(pred - pos, axis=1) * 1000  # (N, 3) -> (N,) mm
    table = pos[:, 2] > ON_TABLE_Z
    cells = []
    for mask in (table, table & (visible >= VISIBLE_MIN), table & (visible < VISIBLE_MIN)):
        e = err[mask]
        cells.append(
            f"{len(e):>6} {np.median(e):>7.1f} {np.percentile(e, 90):>6.1f} {(e > SUCCESS_MM).mean():>6.2f}"
            if len(e)
            else f"{0:>6} {'—':>7} {'—':>6} {'—':>6}"
        )
    return " | ".join(cells) + f" | {1 - table.mean():>5.2f}"


def main() -> None:
    args, pre = parse_encoder_args(
        __doc__,
        extra=(
            ("--episodes", {"type": int, "default": 40, "help": "scripted-pusher episodes in the env"}),
            ("--noise", {"type": float, "default": 0.3, "help": "std of the pusher's action noise"}),
            ("--seed", {"type": int, "default": 0}),
            ("--max-frames", {"type": int, "default": 20000, "help": "training frames the probe is fitted on"}),
        ),
    )
    params = Params.model_validate(read_yaml(args.params))
    policy = on_policy_frames(params, args.episodes, args.noise, args.seed)
    data = load_dataset(args.dataset, ("frames", "object_pos", "object_visible", "episode")).arrays
    train, test = split_episodes(data["episode"], pre.val_fraction, pre.seed)
    train = subsample(train, args.max_frames)
    head = "frames  median    p90  >50mm"
    print(f"{'encoder':<30} {'frames':<10} | on table: {head} | visible: {head} | hidden: {head} | off table")
    for path in args.encoders:
        enc = load_encoder(path, device="cpu")
        z_train = encode(enc, data["frames"][train])
        y_train = data["object_pos"][train]
        alpha = select_alpha(z_train, y_train, data["episode"][train])
        for name, frames, pos, vis in (
            ("dataset", data["frames"][test], data["object_pos"][test], data["object_visible"][test]),
            ("on-policy", policy["frames"], policy["object_pos"], policy["object_visible"]),
        ):
            pred = ridge_readout(z_train, y_train, encode(enc, frames), alpha)
            print(f"{str(path):<30} {name:<10} | {errors_row(pred, pos, vis)}", flush=True)
    print(f"(on-policy: {args.episodes} episodes of the scripted pusher, noise {args.noise}; errors in mm)")


if __name__ == "__main__":
    main()
