"""Does an encoder's latent distance track the block's distance? The quantity RIG's latent goals reward.

Run (repo root, venv active) on saved encoders and a labelled Push dataset::

    python benchmarks/latent_distance.py --dataset data/dataset.zarr data/encoders/vae data/encoders/spatial_ae

``goal_mode: latent`` rewards ``-||z - z_goal||`` (thresholded), so the Euclidean distance between two
frames' latents should grow with the distance between their blocks. Per encoder, over random pairs of
held-out frames (the episodes ``pretrain`` holds out, from ``--params``) with the block visible in both:
the Spearman rank correlation of latent distance with block distance, and with gripper distance. A
latent whose distance follows the arm more than the block makes a latent-goal reward about the arm.
"""

from __future__ import annotations

import numpy as np
from _encoder_cli import parse_encoder_args

import pipeline  # noqa: F401  (MUJOCO_GL)
from pipeline.collect.dataset import load_dataset
from pipeline.encoders import load_encoder
from pipeline.pretrain.data import split_episodes
from pipeline.pretrain.probe import VISIBLE_MIN

PAIRS = 20_000


def spearman(u: np.ndarray, v: np.ndarray) -> float:
    """Spearman rank correlation of two ``(N,)`` samples (no ties expected: continuous distances)."""
    ranks = [np.argsort(np.argsort(w)) for w in (u, v)]  # (N,) -> rank of each sample
    return float(np.corrcoef(*ranks)[0, 1])


def main() -> None:
    args, pre = parse_encoder_args(__doc__)
    a = load_dataset(args.dataset, ("frames", "object_pos", "gripper_pos", "object_visible", "episode")).arrays
    _, test = split_episodes(a["episode"], pre.val_fraction, pre.seed)
    test = test[a["object_visible"][test] >= VISIBLE_MIN]
    rng = np.random.default_rng(0)
    i, j = rng.integers(0, len(test), PAIRS), rng.integers(0, len(test), PAIRS)  # (P,) pair members
    dist = {
        body: np.linalg.norm(a[f"{body}_pos"][test][i] - a[f"{body}_pos"][test][j], axis=1)
        for body in ("object", "gripper")
    }
    print(f"{PAIRS} pairs of {len(test)} held-out frames with the block visible")
    print(f"{'encoder':<40} {'latent_dim':>10} {'rho(block distance)':>20} {'rho(gripper distance)':>22}")
    for path in args.encoders:
        enc = load_encoder(path, device="cpu")
        z = enc.encode(a["frames"][test])  # (M, D)
        dz = np.linalg.norm(z[i] - z[j], axis=1)  # (P,)
        print(
            f"{str(path):<40} {enc.latent_dim:>10} {spearman(dz, dist['object']):>20.2f} "
            f"{spearman(dz, dist['gripper']):>22.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
