"""Collect every policy run and pretrained encoder into tables."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pipeline.report.stats import bootstrap_ci, iqm, steps_to


@dataclass
class VariantSummary:
    """One variant aggregated over its seeds."""

    name: str
    seeds: list[int]
    steps: np.ndarray  # (T,) evaluation steps common to all seeds
    success: np.ndarray  # (n_seeds, T)
    metrics: list[dict] = field(default_factory=list)

    def row(self) -> dict:
        final = self.success[:, -1]
        lo, hi = bootstrap_ci(final)
        mean_curve = self.success.mean(axis=0)

        def mean(k):
            return (
                float(np.mean([m[k] for m in self.metrics]))
                if self.metrics and all(k in m for m in self.metrics)
                else float("nan")
            )

        return {
            "variant": self.name,
            "seeds": len(self.seeds),
            "final_steps": int(self.steps[-1]),
            "final_success_iqm": iqm(final),
            "ci_low": lo,
            "ci_high": hi,
            "steps_to_50": steps_to(self.steps, mean_curve, 0.5),
            "steps_to_90": steps_to(self.steps, mean_curve, 0.9),
            "fps": mean("fps"),
            "replay_bytes_per_transition": mean("replay_bytes_per_transition"),
            "wall_time_s": mean("wall_time_s"),
        }


def read_curve(path: Path) -> dict[int, float]:
    """``eval.csv`` -> {step: success} (a repeated step keeps its last row)."""
    with path.open() as f:
        return {int(r["step"]): float(r["success"]) for r in csv.DictReader(f)}


def load_runs(runs_dir: Path) -> list[VariantSummary]:
    """Every ``runs/<variant>/<seed>/eval.csv`` (+ ``metrics.json``), aligned on the steps all seeds share."""
    out = []
    for vdir in sorted(p for p in runs_dir.glob("*") if p.is_dir()):
        curves, seeds, metrics = [], [], []
        for sdir in sorted((p for p in vdir.glob("*") if (p / "eval.csv").is_file()), key=lambda p: p.name):
            curve = read_curve(sdir / "eval.csv")
            if not curve:
                continue
            curves.append(curve)
            seeds.append(int(sdir.name))
            if (sdir / "metrics.json").is_file():
                metrics.append(json.loads((sdir / "metrics.json").read_text()))
        common = sorted(set.intersection(*(set(c) for c in curves))) if curves else []
        if not common:
            continue
        success = np.array([[c[s] for s in common] for c in curves])  # (n_seeds, T)
        out.append(VariantSummary(vdir.name, seeds, np.array(common), success, metrics))
    return out


def load_encoders(encoders_dir: Path) -> list[dict]:
    """``metrics.json`` of every pretrained encoder (probe results)."""
    rows = []
    for mfile in sorted(encoders_dir.glob("*/metrics.json")):
        rows.append({"encoder": mfile.parent.name, **json.loads(mfile.read_text())})
    return rows
