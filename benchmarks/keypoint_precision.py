"""How precisely a keypoint encoder's best keypoint tracks the block, and whether its softmax has collapsed.

Run (repo root, venv active) on saved spatial_ae / supervised encoders and a labelled Push dataset::

    python benchmarks/keypoint_precision.py --dataset data/dataset.zarr data/encoders/spatial_ae

Per encoder: the keypoint whose (x, y) alone best predicts the block's position (ridge on training
episodes where the block is visible, scored on held-out frames where it is: RMSE and median, mm), and for that
keypoint on held-out frames with the block in full view: the largest cell weight of its softmax map
(median) and its distance to the nearest feature-grid cell centre, in cells (median). A collapsed
softmax puts ~all weight on one cell and sits at ~0 cells from a centre; a continuous keypoint sits at
~0.25 (the median of a uniform offset).
"""

from __future__ import annotations

import numpy as np
import torch
from _encoder_cli import parse_encoder_args

import pipeline  # noqa: F401  (MUJOCO_GL)
from pipeline.collect.dataset import load_dataset
from pipeline.encoders import load_encoder
from pipeline.nets import frames_to_tensor
from pipeline.pretrain.data import split_episodes, subsample
from pipeline.pretrain.probe import VISIBLE_MIN, fit_probe
from pipeline.pretrain.train import PROBE_FRAMES, encode_all


def main() -> None:
    args, pre = parse_encoder_args(__doc__)
    a = load_dataset(args.dataset, ("frames", "object_pos", "object_visible", "episode")).arrays
    train, test = split_episodes(a["episode"], pre.val_fraction, pre.seed)
    train, test = subsample(train, PROBE_FRAMES), subsample(test, PROBE_FRAMES)  # the frames the probe uses
    seen = a["object_visible"][test] >= VISIBLE_MIN
    fit_on = train[a["object_visible"][train] >= VISIBLE_MIN]  # fit where the block is visible too, as the probe does
    full = test[a["object_visible"][test] >= 0.99]
    full = full[:: max(1, len(full) // 300)]
    print(
        f"{'encoder':<40} {'best kp':>8} {'RMSE visible':>13} {'median visible':>15} "
        f"{'peak weight':>12} {'cells off grid':>15}"
    )
    for path in args.encoders:
        net = load_encoder(path, device="cpu").net
        trunk = net.trunk.eval()
        k_all = trunk.num_keypoints
        # both keypoint encoders' latents start with the 2K keypoint coordinates (supervised appends its 6 predictions)
        z_tr, z_te = (
            encode_all(net, a["frames"][i], torch.device("cpu"))[:, : 2 * k_all] for i in (fit_on, test)
        )  # (N, 2K)
        with torch.no_grad():
            maps = trunk.convs(frames_to_tensor(torch.from_numpy(a["frames"][full])))  # (M, K, h, w)
            att = trunk.softmax.attention(maps).flatten(2)  # (M, K, h, w) -> (M, K, h*w)
            coords = trunk.softmax(maps).numpy()  # (M, 2K)
        scores = []
        for k in range(k_all):
            cols = [k, k_all + k]  # x_k, y_k
            r = fit_probe(
                z_tr[:, cols], a["object_pos"][fit_on], z_te[:, cols], a["object_pos"][test], 1e-3, test_subset=seen
            )
            scores.append((r["subset_rmse_mm"], r["subset_median_mm"], k))
        rmse, median, k = min(scores)
        cell = 2.0 / (maps.shape[-1] - 1)  # grid spacing in [-1, 1] units
        offset = ((coords[:, [k, k_all + k]] + 1.0) / cell) % 1.0
        offset = np.minimum(offset, 1.0 - offset)  # (M, 2) distance to the nearest cell centre, per axis
        peak = float(att[:, k].max(dim=-1).values.median())
        print(
            f"{str(path):<40} {k:>8} {rmse:>13.1f} {median:>15.1f} {peak:>12.2f} {np.median(offset):>15.2f}", flush=True
        )


if __name__ == "__main__":
    main()
