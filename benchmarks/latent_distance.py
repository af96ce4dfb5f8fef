"""Does a goal space's distance track the block's distance? The quantity RIG's latent goals reward.

Run (repo root, venv active) on saved encoders and a labelled Push dataset::

    python benchmarks/latent_distance.py --dataset data/dataset.zarr data/encoders/spatial_ae data/encoders/supervised
    python benchmarks/latent_distance.py --dataset data/dataset.zarr data/encoders/spatial_ae --keypoint-counts 1,2,3,4

``goal_mode: latent`` rewards a small distance between the goal-space projections of the current frame and of
the goal image (``pipeline.goalspace``: the whole latent, label-free object keypoints, a distance head trained with
labels). Per encoder and goal space, fitted on the training episodes that ``pretrain`` uses (``--params``), over
random pairs of held-out frames with the block visible in both: the Spearman rank correlation of goal distance with
block distance, and with gripper distance. A distance that follows the arm more than the block makes a latent-goal
reward about the arm. ``--keypoint-counts`` also scores the keypoint space for each number of kept keypoints
(the measurement behind ``goal_space.keypoints.count``).
"""

from __future__ import annotations

from _encoder_cli import parse_encoder_args

import pipeline  # noqa: F401  (MUJOCO_GL)
from pipeline.config import Params
from pipeline.encoders import load_encoder
from pipeline.goalspace.config import KeypointGoalConfig
from pipeline.goalspace.keypoints import KeypointGoalSpace
from pipeline.goalspace.stage import correlations, fit_and_score, split_latents
from pipeline.params import read_yaml


def main() -> None:
    args, pre = parse_encoder_args(
        __doc__, extra=(("--keypoint-counts", {"default": "", "help": "comma-separated counts to sweep"}),)
    )
    cfg = Params.model_validate(read_yaml(args.params)).goal_space
    print(f"{'encoder':<36} {'goal space':<16} {'dim':>4} {'labels':>6} {'rho(block)':>11} {'rho(gripper)':>13}")
    for path in args.encoders:
        enc = load_encoder(path, device="cpu")
        data, z_test, positions = split_latents(enc, args.dataset, pre.val_fraction, pre.seed, cfg.max_frames)
        rows = {name: scores for name, (_, scores) in fit_and_score(cfg, data, z_test, positions).items()}
        for count in [int(c) for c in args.keypoint_counts.split(",") if c]:
            space = KeypointGoalSpace.fit(cfg.model_copy(update={"keypoints": KeypointGoalConfig(count=count)}), data)
            if space is not None:
                rows[f"keypoints x{count}"] = {
                    "dim": space.dim, "uses_labels": False,
                    **correlations(space, z_test, positions, cfg.eval_pairs, cfg.seed),
                }  # fmt: skip
        for name, m in rows.items():
            print(
                f"{str(path):<36} {name:<16} {m['dim']:>4} {'yes' if m['uses_labels'] else 'no':>6} "
                f"{m['rho_object']:>11.2f} {m['rho_gripper']:>13.2f}",
                flush=True,
            )
        print(f"{'':<36} ({len(z_test)} held-out frames with the block visible, {cfg.eval_pairs} pairs)")


if __name__ == "__main__":
    main()
