"""Re-probe saved encoders on a dataset: the held-out position probe of ``pipeline.pretrain``, without training.

Run (repo root, venv active), e.g. after a dataset was recollected with new labels::

    python benchmarks/probe_encoders.py --dataset data/dataset.zarr data/encoders/supervised data/encoders/spatial_ae

The split (held-out episodes) and the ridge penalty come from ``pretrain`` in ``--params``, as in training, so
an encoder probed on the dataset it was trained on is scored on the episodes it never saw. Prints one row per
encoder: object RMSE / median / RMSE and median where the block is visible, gripper RMSE / median, and the
nonlinear (MLP) probe's object RMSE, RMSE and median where visible, and gripper RMSE (mm).
"""

from __future__ import annotations

import torch
from _encoder_cli import parse_encoder_args

import pipeline  # noqa: F401  (MUJOCO_GL)
from pipeline.encoders import load_encoder
from pipeline.pretrain.data import FrameDataModule
from pipeline.pretrain.train import probe


def main() -> None:
    args, pre = parse_encoder_args(__doc__)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dm = FrameDataModule(args.dataset, pre.batch_size, pre.val_fraction, pre.seed)
    cols = [
        ("object mm", "probe_object_mm"),
        ("obj median", "probe_object_median_mm"),
        ("obj visible", "probe_object_visible_mm"),
        ("vis median", "probe_object_visible_median_mm"),
        ("visible share", "visible_share"),
        ("gripper mm", "probe_gripper_mm"),
        ("grip median", "probe_gripper_median_mm"),
        ("MLP object", "probe_object_mlp_mm"),
        ("MLP obj vis", "probe_object_visible_mlp_mm"),
        ("MLP vis med", "probe_object_visible_mlp_median_mm"),
        ("MLP gripper", "probe_gripper_mlp_mm"),
    ]
    print(f"{'encoder':<40}" + "".join(f" {title:>13}" for title, _ in cols))
    for path in args.encoders:
        m = probe(load_encoder(path, device=device).net, dm, pre.probe_ridge, device)
        print(
            f"{str(path):<40}"
            + "".join(f" {m.get(key, float('nan')):>13.{3 if key == 'visible_share' else 1}f}" for _, key in cols),
            flush=True,
        )


if __name__ == "__main__":
    main()
