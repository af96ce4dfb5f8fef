"""Re-probe saved encoders on a dataset: the held-out position probe of ``pipeline.pretrain``, without training.

Run (repo root, venv active), e.g. after a dataset was recollected with new labels::

    python benchmarks/probe_encoders.py --dataset data/dataset.zarr data/encoders/supervised data/encoders/spatial_ae

The split (held-out episodes) and the ridge penalty come from ``pretrain`` in ``--params``, as in training, so
an encoder probed on the dataset it was trained on is scored on the episodes it never saw. Prints one row per
encoder: object RMSE / median / RMSE and median where the block is visible, and gripper RMSE / median (mm).
"""

from __future__ import annotations

import torch

import pipeline  # noqa: F401  (MUJOCO_GL)
from _encoder_cli import parse_encoder_args
from pipeline.encoders import load_encoder
from pipeline.pretrain.data import FrameDataModule
from pipeline.pretrain.train import probe


def main() -> None:
    args, pre = parse_encoder_args(__doc__)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dm = FrameDataModule(args.dataset, pre.batch_size, pre.val_fraction, pre.seed)
    print(f"{'encoder':<40} {'object mm':>10} {'obj median':>11} {'obj visible':>12} {'vis median':>11} {'visible share':>14} "
          f"{'gripper mm':>11} {'grip median':>12}")
    for path in args.encoders:
        m = probe(load_encoder(path, device=device).net, dm, pre.probe_ridge, device)
        nan = float("nan")
        print(f"{str(path):<40} {m['probe_object_mm']:>10.1f} {m['probe_object_median_mm']:>11.1f} "
              f"{m.get('probe_object_visible_mm', nan):>12.1f} {m.get('probe_object_visible_median_mm', nan):>11.1f} "
              f"{m.get('visible_share', nan):>14.2f} "
              f"{m['probe_gripper_mm']:>11.1f} {m['probe_gripper_median_mm']:>12.1f}", flush=True)


if __name__ == "__main__":
    main()
