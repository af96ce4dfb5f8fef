"""Collect every policy run and pretrained encoder into tables."""

from __future__ import annotations

import csv
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pipeline.errors import PipelineError
from pipeline.pretrain.metrics import EncoderMetrics
from pipeline.report.route import NO_CHARGE, RouteCharge, final_on_many, route_charge
from pipeline.report.stats import (
    aggregate,
    aggregate_label,
    align_curves,
    bootstrap_interval,
    steps_to,
    success_value,
)


@dataclass
class VariantSummary:
    """One variant aggregated over its seeds."""

    name: str
    seeds: list[int]
    steps: np.ndarray  # (T,) every seed's evaluation steps (the union)
    success: np.ndarray  # (n_seeds, T) each seed's latest evaluation at or before the step; NaN after its last
    metrics: list[dict] = field(default_factory=list)
    missing: list[SkippedRun] = field(default_factory=list)
    """seeds of this variant that could not be read (named in the report, never dropped silently)"""
    wall: np.ndarray | None = None  # (n_seeds, T) wall seconds of each seed's run at each step (NaN: not recorded)
    charge: RouteCharge = NO_CHARGE
    """what the route paid before RL (collect, pretraining); see :mod:`pipeline.report.route`"""
    finals_many: list[dict | None] = field(default_factory=list)
    """per seed: its evaluation on the most fixed episodes (``eval_<N>.json``), or None"""

    def hours(self) -> np.ndarray:
        """(n_seeds, T) route hours at each evaluation: the charge plus the run's own wall time."""
        wall = self.wall if self.wall is not None else np.full(self.success.shape, np.nan)
        return (self.charge.total_s + wall) / 3600.0

    def cost_row(self) -> dict:
        """Per seed: env steps and route hours to the first eval >= 0.5 / >= 0.9; the final on many episodes."""
        out: dict = {"variant": self.name, "charge": self.charge.note() if self.charge is not NO_CHARGE else "—"}
        hours = self.hours()
        for level, key in ((0.5, "50"), (0.9, "90")):
            firsts = [steps_to(self.steps, c, level) for c in self.success]
            out[f"steps_to_{key}_per_seed"] = firsts
            out[f"hours_to_{key}_per_seed"] = [
                None if f is None else float(hours[i, list(self.steps).index(f)]) for i, f in enumerate(firsts)
            ]
        out["finals_many"] = self.finals_many
        return out

    @property
    def n_seeds(self) -> int:
        """Number of seeds aggregated."""
        return int(self.success.shape[0])

    @property
    def aggregate_label(self) -> str:
        """``"mean"`` below 4 seeds (the IQM would trim nothing), ``"IQM"`` from 4."""
        return aggregate_label(self.n_seeds)

    def aggregate_curve(self) -> np.ndarray:
        """(T,) the across-seed aggregate (mean or IQM) at every evaluation step all seeds reached (NaN after the
        first seed's last evaluation)."""
        cols = self.success.T  # (T, n_seeds)
        return np.array([aggregate(c) if np.isfinite(c).all() else np.nan for c in cols])

    def last_evaluations(self) -> tuple[np.ndarray, np.ndarray]:
        """Per seed: the step and success of its last evaluation, ``(n_seeds,)`` each."""
        last = np.array([np.flatnonzero(np.isfinite(row))[-1] for row in self.success])  # (n_seeds,)
        return self.steps[last], self.success[np.arange(len(last)), last]

    def finals(self) -> tuple[np.ndarray, int | None]:
        """Per-seed final success: the final evaluation on the most fixed episodes when every seed has one on the
        same number (returned with it), else each seed's last evaluation (``None``)."""
        many = self.finals_many
        if many and len(many) == self.n_seeds and all(many) and len({m["episodes"] for m in many}) == 1:
            return np.array([m["success"] for m in many]), many[0]["episodes"]
        return self.last_evaluations()[1], None

    def row(self) -> dict:
        """Table row: aggregate final success, its interval (``None`` below 5 seeds), per-seed finals, speed."""
        final, episodes = self.finals()
        last_steps = self.last_evaluations()[0]
        interval = bootstrap_interval(final)
        curve = self.aggregate_curve()

        def mean(k: str) -> float:
            return (
                float(np.mean([m[k] for m in self.metrics]))
                if self.metrics and all(k in m for m in self.metrics)
                else float("nan")
            )

        return {
            "variant": self.name,
            "seeds": self.n_seeds,
            "final_steps": f"{last_steps.min()}-{last_steps.max()}" if np.ptp(last_steps) else int(last_steps[0]),
            "final_episodes": episodes,
            "final_success": aggregate(final),
            "aggregate": self.aggregate_label,
            "final_per_seed": sorted(float(v) for v in final),
            "ci_low": interval[0] if interval else None,
            "ci_high": interval[1] if interval else None,
            "steps_to_50": steps_to(self.steps, curve, 0.5),
            "steps_to_90": steps_to(self.steps, curve, 0.9),
            "fps": mean("fps"),
            "replay_bytes_per_transition": mean("replay_bytes_per_transition"),
            "peak_rss_mb": mean("peak_rss_mb"),
            "wall_time_s": mean("wall_time_s"),
            "experience": self.experience(),
            "missing_seeds": sorted(m.seed for m in self.missing),
        }

    def experience(self) -> str:
        """What besides the agent's own exploration fed its replay: scripted warm-up, prior dataset episodes."""
        parts = set()
        for m in self.metrics:
            if m.get("warmup") == "scripted":
                parts.add(f"scripted warm-up (demonstrations), {m.get('warmup_steps', '?')} steps")
            elif m.get("warmup") == "random":
                parts.add("random warm-up")
            if m.get("prior_transitions"):
                kind = "demonstrations" if "scripted" in str(m.get("prior_policy")) else "random"
                parts.add(f"{m['prior_transitions']} prior dataset transitions ({kind})")
        return "; ".join(sorted(parts)) or "—"


@dataclass(frozen=True)
class SkippedRun:
    """A run folder the report could not use, and why."""

    variant: str
    seed: str
    reason: str


def read_eval(path: Path) -> tuple[dict[int, float], dict[int, float]]:
    """``eval.csv`` -> ({step: success}, {step: wall seconds so far}; NaN where a run did not record it), read once
    (a repeated step keeps its last row); unreadable -> :class:`PipelineError`."""
    try:
        with path.open(newline="") as f:
            rows = list(csv.DictReader(f))
        curve = {int(r["step"]): success_value(r["success"]) for r in rows}
        wall = {int(r["step"]): float(r.get("wall_seconds") or "nan") for r in rows}
    except (UnicodeDecodeError, ValueError, KeyError, TypeError, csv.Error) as exc:
        raise PipelineError(
            f"not a readable eval.csv ({type(exc).__name__})", path, "rerun this seed's policy stage"
        ) from None
    if not all(np.isfinite(v) and 0 <= v <= 1 for v in curve.values()):
        raise PipelineError("eval.csv holds success values outside [0, 1]", path, "rerun this seed's policy stage")
    return curve, wall


def read_metrics(path: Path) -> dict:
    """A run's ``metrics.json`` (``{}`` when absent); unreadable -> :class:`PipelineError`."""
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except (UnicodeDecodeError, ValueError) as exc:
        raise PipelineError(f"not valid JSON ({exc})", path, "rerun this seed's policy stage") from None
    if not isinstance(data, dict):
        raise PipelineError("not a JSON object", path, "rerun this seed's policy stage")
    return data


def read_seed(vdir: Path, seed: str) -> tuple[dict[int, float], dict[int, float], dict]:
    """One run's curve and metrics; :class:`PipelineError` naming the file when it cannot be used."""
    sdir = vdir / seed
    if not sdir.is_dir():
        raise PipelineError("not run (no run folder)", sdir, f"run it: python -m pipeline.policy --variant {vdir.name}")
    if not (sdir / "eval.csv").is_file():
        raise PipelineError("no eval.csv (the run did not finish its first evaluation)", sdir)
    curve, wall = read_eval(sdir / "eval.csv")
    if not curve:
        raise PipelineError("eval.csv has no rows", sdir / "eval.csv")
    return curve, wall, read_metrics(sdir / "metrics.json")


def scan_runs(
    runs_dir: Path,
    variants: list[str] | None = None,
    seeds: list[int] | None = None,
    encoders: list[EncoderMetrics] | None = None,
) -> tuple[list[VariantSummary], list[SkippedRun]]:
    """The runs ``variants x seeds`` (``runs/<variant>/<seed>/eval.csv`` + ``metrics.json``), aligned on the union of
    their evaluation steps (:func:`~pipeline.report.stats.align_curves`); ``None`` takes every variant / seed folder
    found.

    A run that is missing or has no readable, non-empty ``eval.csv`` is skipped and returned in the second list (and
    recorded on its variant), so that the report can name it: a seed is never dropped silently. ``encoders`` give
    the route charge of latent runs (:mod:`pipeline.report.route`; ``None``: no charge).
    """
    out, skipped = [], []
    names = variants if variants is not None else sorted(p.name for p in runs_dir.glob("*") if p.is_dir())
    for name in names:
        vdir = runs_dir / name
        found = sorted((p.name for p in vdir.glob("*") if p.is_dir() and p.name.isdigit()), key=int)
        curves, walls, kept, metrics, missing = [], [], [], [], []
        for seed in [str(s) for s in seeds] if seeds is not None else found:
            try:
                curve, wall_at, run_metrics = read_seed(vdir, seed)
            except PipelineError as exc:
                missing.append(SkippedRun(name, seed, str(exc)))
                continue
            curves.append(curve)
            walls.append(wall_at)
            kept.append(int(seed))
            if run_metrics:
                metrics.append(run_metrics)
        skipped += missing
        if not curves:
            continue
        steps, success = align_curves(curves)  # (T,), (n_seeds, T)
        wall = align_curves(walls)[1]  # (n_seeds, T), NaN where a run did not record it
        encoder = next((m.get("encoder") for m in metrics if m.get("encoder")), None)
        charge = route_charge(encoder, encoders) if encoders is not None else NO_CHARGE
        finals = [final_on_many(vdir / str(s)) for s in kept]
        out.append(VariantSummary(name, kept, steps, success, metrics, missing, wall, charge, finals))
    return out, skipped


def load_runs(runs_dir: Path) -> list[VariantSummary]:
    """The variants :func:`scan_runs` could read (unreadable seeds are recorded on each variant)."""
    return scan_runs(runs_dir)[0]


def load_encoders(encoders_dir: Path) -> list[EncoderMetrics]:
    """``metrics.json`` of every pretrained encoder (probe results), named after its folder unless it names itself
    (``encoders_dir`` is ``paths.pretrain_results``, or ``paths.encoders``: both hold ``<encoder>/metrics.json``)."""
    out = []
    for mfile in sorted(encoders_dir.glob("*/metrics.json")):
        try:
            out.append(EncoderMetrics.from_metrics(json.loads(mfile.read_text()), encoder=mfile.parent.name))
        except (UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
            print(f"report: skipping encoder {mfile.parent.name}: {mfile} is unreadable ({exc})", file=sys.stderr)
    return out
