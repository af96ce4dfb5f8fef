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
from pipeline.pretrain.metrics import ProbeReport
from pipeline.pretrain.train import probe


def columns(m: ProbeReport) -> list[tuple[str, float | None, int]]:
    """``(title, value, decimals)`` per printed column (None prints as nan)."""
    return [
        ("object mm", m.probe_object_mm, 1),
        ("obj median", m.probe_object_median_mm, 1),
        ("obj visible", m.probe_object_visible_mm, 1),
        ("vis median", m.probe_object_visible_median_mm, 1),
        ("visible share", m.visible_share, 3),
        ("gripper mm", m.probe_gripper_mm, 1),
        ("grip median", m.probe_gripper_median_mm, 1),
        ("MLP object", m.probe_object_mlp_mm, 1),
        ("MLP obj vis", m.probe_object_visible_mlp_mm, 1),
        ("MLP vis med", m.probe_object_visible_mlp_median_mm, 1),
        ("MLP gripper", m.probe_gripper_mlp_mm, 1),
    ]


def main() -> None:
    args, pre = parse_encoder_args(__doc__)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dm = FrameDataModule(args.dataset, pre.batch_size, pre.val_fraction, pre.seed)
    print(f"{'encoder':<40}" + "".join(f" {title:>13}" for title, _, _ in columns(ProbeReport())))
    for path in args.encoders:
        m = probe(load_encoder(path, device=device).net, dm, pre.probe_ridge, device)
        cells = "".join(f" {float('nan') if v is None else v:>13.{d}f}" for _, v, d in columns(m))
        print(f"{str(path):<40}{cells}", flush=True)


if __name__ == "__main__":
    main()
