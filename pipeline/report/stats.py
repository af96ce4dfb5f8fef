"""Across-seed statistics: interquartile mean with a bootstrap confidence interval, steps to a success level."""

from __future__ import annotations

import numpy as np


def iqm(x: np.ndarray) -> float:
    """Interquartile mean: the mean of the middle 50 % (25 % trimmed from each end, as rliable)."""
    x = np.sort(np.asarray(x, float))
    cut = int(np.floor(0.25 * len(x)))
    return float(x[cut : len(x) - cut].mean())


def bootstrap_ci(
    x: np.ndarray, stat=iqm, n_boot: int = 2000, level: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``stat`` over resampled seeds (degenerate with one seed)."""
    x = np.asarray(x, float)
    rng = np.random.default_rng(seed)
    samples = rng.choice(x, size=(n_boot, len(x)), replace=True)  # (B, n_seeds)
    stats = np.array([stat(s) for s in samples])
    lo, hi = np.percentile(stats, [(1 - level) / 2 * 100, (1 + level) / 2 * 100])
    return float(lo), float(hi)


def steps_to(steps: np.ndarray, success: np.ndarray, level: float) -> int | None:
    """First evaluation step where the success curve reaches ``level`` (``None`` if never)."""
    hit = np.flatnonzero(np.asarray(success) >= level)
    return int(np.asarray(steps)[hit[0]]) if len(hit) else None
