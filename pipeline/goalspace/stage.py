"""Fit every goal space that applies to one encoder and measure it: ``paths.goal_spaces/<encoder>/``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import spearmanr

from pipeline.collect.dataset import load_dataset
from pipeline.encoders import LoadedEncoder, load_encoder
from pipeline.goalspace import GOAL_SPACES, GoalSpace
from pipeline.goalspace.config import GoalSpaceConfig
from pipeline.goalspace.data import VISIBLE_MIN, FitData
from pipeline.io import building, write_json
from pipeline.pretrain.data import split_episodes, subsample

KEYS = ("frames", "object_pos", "gripper_pos", "object_visible", "episode")


def correlations(space: GoalSpace, z: np.ndarray, positions: dict[str, np.ndarray], pairs: int, seed: int):
    """Spearman correlation of goal distance with each body's distance over random pairs of ``z``'s frames."""
    rng = np.random.default_rng(seed)
    i, j = rng.integers(0, len(z), pairs), rng.integers(0, len(z), pairs)  # (P,) pair members
    g = space.project(z)  # (M, G): one projection per frame
    dg = np.linalg.norm(g[i] - g[j], axis=1)  # (P,)
    return {
        f"rho_{body}": float(spearmanr(dg, np.linalg.norm(pos[i] - pos[j], axis=1)).statistic)
        for body, pos in positions.items()
    }


def sight_rates(space: GoalSpace, data: FitData) -> dict[str, float]:
    """How often training frames count as in sight, with the block in view (>= half) and not (labels score here
    only; the thresholds were fitted without them); empty for spaces without presence thresholds."""
    if getattr(space, "min_presence", None) is None or data.presence is None:
        return {}
    seen, shown = space.in_sight(data.presence), data.visible >= VISIBLE_MIN  # (N,) each
    rates = {"in_sight_block_shown": seen[shown], "in_sight_block_hidden": seen[~shown]}
    return {k: float(v.mean()) if len(v) else 0.0 for k, v in rates.items()}


def split_latents(
    encoder: LoadedEncoder, dataset: Path, val_fraction: float, split_seed: int, max_frames: int
) -> tuple[FitData, np.ndarray, dict[str, np.ndarray]]:
    """Latents of the pretrain split: training frames (to fit on) and held-out frames with the block visible (to
    score on), with the held-out block and gripper positions."""
    a = load_dataset(dataset, KEYS).arrays
    train, test = split_episodes(a["episode"], val_fraction, split_seed)
    train = subsample(train, max_frames)
    test = subsample(test[a["object_visible"][test] >= VISIBLE_MIN], max_frames)
    z, presence = encoder.encode_presence(a["frames"][train]) if encoder.has_presence else (None, None)
    data = FitData(
        z=encoder.encode(a["frames"][train]) if z is None else z,
        presence=presence,
        episodes=a["episode"][train],
        object_pos=a["object_pos"][train],
        visible=a["object_visible"][train],
        encoder_name=encoder.name,
        encoder_config=encoder.config,
    )
    return data, encoder.encode(a["frames"][test]), {"object": a["object_pos"][test], "gripper": a["gripper_pos"][test]}


def fit_and_score(
    cfg: GoalSpaceConfig, data: FitData, z_test: np.ndarray, positions: dict[str, np.ndarray]
) -> dict[str, tuple[GoalSpace, dict[str, Any]]]:
    """Every registered goal space that applies to the encoder, fitted, with its held-out scores."""
    out = {}
    for name, kind in GOAL_SPACES.items():
        space = kind.fit(cfg, data)
        if space is not None:
            meta = space.meta()
            scores = {
                "dim": space.dim,
                "uses_labels": space.uses_labels,
                **correlations(space, z_test, positions, cfg.eval_pairs, cfg.seed),
                **({"keypoints": meta["indices"]} if "indices" in meta else {}),
                **sight_rates(space, data),
            }
            out[name] = (space, scores)
    return out


def fit_goal_spaces(
    cfg: GoalSpaceConfig, encoder_dir: Path, dataset: Path, val_fraction: float, split_seed: int, out: Path
) -> dict[str, Any]:
    """Encode the dataset's training episodes (the pretrain split), fit each applicable goal space, score it on
    held-out pairs with the block visible, write ``out/`` atomically; returns the metrics. One writer of ``out`` at a
    time: a second one fails at once, naming the first one's pid."""
    t0 = time.perf_counter()
    with building(out) as tmp:
        encoder = load_encoder(encoder_dir, device="cpu")
        data, z_test, positions = split_latents(encoder, dataset, val_fraction, split_seed, cfg.max_frames)
        tmp.mkdir(parents=True)
        metrics: dict[str, Any] = {"encoder": encoder.name, "test_frames": len(z_test), "spaces": {}}
        for name, (space, scores) in fit_and_score(cfg, data, z_test, positions).items():
            space.save(tmp)
            metrics["spaces"][name] = scores
        metrics["seconds"] = time.perf_counter() - t0
        write_json(tmp / "metrics.json", metrics)
    return metrics


def summary(metrics: dict[str, Any], out: Path) -> str:
    """One line: each space's correlation with block and gripper distance."""
    parts = [
        f"{n} {m['rho_object']:.2f}/{m['rho_gripper']:.2f}"
        + (" (labels)" if m["uses_labels"] else "")
        + (
            f" (in sight: {m['in_sight_block_shown']:.2f} block shown, {m['in_sight_block_hidden']:.2f} hidden)"
            if "in_sight_block_shown" in m
            else ""
        )
        for n, m in metrics["spaces"].items()
    ]
    return f"goal spaces {metrics['encoder']}: rho(block)/rho(gripper) " + ", ".join(parts) + f" -> {out}"
