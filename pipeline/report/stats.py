"""Across-seed statistics: the aggregate (mean or IQM), a bootstrap interval when there are enough seeds, steps to a
success level."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

MIN_SEEDS_FOR_IQM = 4
"""Seeds from which the IQM trims anything: rliable cuts ``floor(0.25 n)`` from each end, zero below 4 seeds, where
the "IQM" is just the mean (and is labelled so)."""

MIN_SEEDS_FOR_CI = 5
"""Seeds below which no bootstrap interval is reported. Resampling n seeds with replacement gives only
``C(2n-1, n)`` distinct resamples (multisets): 10 at n=3, 35 at n=4, 126 at n=5. With 10 or 35 possible values
the percentiles are little more than the sample's extremes (at n=3 the all-lowest resample alone has probability
1/27 > 2.5 %, so the lower bound *is* the worst seed): the interval would look like statistics and mean nothing."""

N_RESAMPLES = 2000
"""Bootstrap resamples per interval."""

CONFIDENCE = 0.95
"""Two-sided confidence level of the interval."""


def iqm(x: np.ndarray) -> float:
    """Interquartile mean: the mean of the middle 50 % (25 % trimmed from each end, as rliable)."""
    x = np.sort(np.asarray(x, float))
    cut = int(np.floor(0.25 * len(x)))
    return float(x[cut : len(x) - cut].mean())


def distinct_resamples(n: int) -> int:
    """Number of distinct bootstrap resamples (multisets of size n drawn from n seeds): ``C(2n-1, n)``."""
    return math.comb(2 * n - 1, n)


def aggregate_label(n_seeds: int) -> str:
    """``"IQM"`` when the interquartile mean trims something (n >= 4), else ``"mean"``."""
    return "IQM" if n_seeds >= MIN_SEEDS_FOR_IQM else "mean"


def aggregate(x: np.ndarray) -> float:
    """The across-seed aggregate named by :func:`aggregate_label`: IQM from 4 seeds, plain mean below."""
    x = np.asarray(x, float)
    return iqm(x) if aggregate_label(len(x)) == "IQM" else float(x.mean())


def _iqm_along(sample: np.ndarray, axis: int = -1) -> np.ndarray:
    """Vectorised IQM along ``axis`` (same 25 % trim as :func:`iqm`), the statistic ``scipy.stats.bootstrap`` calls."""
    return stats.trim_mean(sample, 0.25, axis=axis)


def bootstrap_interval(
    x: np.ndarray, n_resamples: int = N_RESAMPLES, level: float = CONFIDENCE, seed: int = 0
) -> tuple[float, float] | None:
    """Percentile bootstrap interval of the IQM over seeds (``scipy.stats.bootstrap``, fixed ``random_state``).

    ``None`` below :data:`MIN_SEEDS_FOR_CI` seeds (see there why); from 5 seeds the aggregate is the IQM, so the
    interval is the IQM's.
    """
    x = np.asarray(x, float)
    if len(x) < MIN_SEEDS_FOR_CI:
        return None
    res = stats.bootstrap(
        (x,),
        _iqm_along,
        n_resamples=n_resamples,
        confidence_level=level,
        method="percentile",
        vectorized=True,
        random_state=seed,
    )
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def no_interval_reason(n_seeds: int) -> str:
    """Why a variant has no interval, e.g. ``"3 seeds < 5: no interval"`` (empty when it has one)."""
    if n_seeds >= MIN_SEEDS_FOR_CI:
        return ""
    return f"{n_seeds} seed{'' if n_seeds == 1 else 's'} < {MIN_SEEDS_FOR_CI}: no interval"


def success_value(text: str | float) -> float:
    """An eval.csv success: the policy stage writes a float32 mean (18 of 20 episodes is 0.8999999762), rounded here
    to 6 decimals, which any fraction of up to 10^5 episodes keeps, so that 18 of 20 counts as reaching 0.9."""
    return round(float(text), 6)


def steps_to(steps: np.ndarray, success: np.ndarray, level: float) -> int | None:
    """First evaluation step where the success curve reaches ``level`` (``None`` if never)."""
    hit = np.flatnonzero(np.asarray(success) >= level)
    return int(np.asarray(steps)[hit[0]]) if len(hit) else None


def align_curves(curves: list[dict[int, float]]) -> tuple[np.ndarray, np.ndarray]:
    """Seeds' ``{step: value}`` evaluations on the union of their steps: ``(T,)`` steps and ``(n_seeds, T)`` values,
    each the seed's latest evaluation at or before the step, NaN after its last one (or before its first).

    Wall-budgeted runs evaluate and stop at different env steps per seed. Holding the last value, never
    interpolating, keeps a seed from reaching a level at a step before an evaluation of its own reached it.
    """
    steps = np.array(sorted(set().union(*curves)), dtype=np.int64)  # (T,)
    out = np.full((len(curves), len(steps)), np.nan)  # (n_seeds, T)
    for i, curve in enumerate(curves):
        own = np.array(sorted(curve), dtype=np.int64)  # (E,) this seed's evaluation steps
        values = np.array([curve[int(k)] for k in own], dtype=float)  # (E,)
        latest = np.searchsorted(own, steps, side="right") - 1  # (T,) index of the latest evaluation <= step
        held = (latest >= 0) & (steps <= own[-1])
        out[i, held] = values[latest[held]]
    return steps, out
