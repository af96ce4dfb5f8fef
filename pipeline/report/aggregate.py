"""Collect every policy run and pretrained encoder into tables."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pipeline.pretrain.metrics import EncoderMetrics
from pipeline.report.stats import aggregate, aggregate_label, bootstrap_interval, steps_to


@dataclass
class VariantSummary:
    """One variant aggregated over its seeds."""

    name: str
    seeds: list[int]
    steps: np.ndarray  # (T,) evaluation steps common to all seeds
    success: np.ndarray  # (n_seeds, T)
    metrics: list[dict] = field(default_factory=list)

    @property
    def n_seeds(self) -> int:
        """Number of seeds aggregated."""
        return int(self.success.shape[0])

    @property
    def aggregate_label(self) -> str:
        """``"mean"`` below 4 seeds (the IQM would trim nothing), ``"IQM"`` from 4."""
        return aggregate_label(self.n_seeds)

    def aggregate_curve(self) -> np.ndarray:
        """(T,) the across-seed aggregate (mean or IQM) at every evaluation step."""
        return np.array([aggregate(self.success[:, t]) for t in range(len(self.steps))])

    def row(self) -> dict:
        """Table row: aggregate final success, its interval (``None`` below 5 seeds), per-seed finals, speed."""
        final = self.success[:, -1]
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
            "final_steps": int(self.steps[-1]),
            "final_success": aggregate(final),
            "aggregate": self.aggregate_label,
            "final_per_seed": sorted(float(v) for v in final),
            "ci_low": interval[0] if interval else None,
            "ci_high": interval[1] if interval else None,
            "steps_to_50": steps_to(self.steps, curve, 0.5),
            "steps_to_90": steps_to(self.steps, curve, 0.9),
            "fps": mean("fps"),
            "replay_bytes_per_transition": mean("replay_bytes_per_transition"),
            "wall_time_s": mean("wall_time_s"),
            "experience": self.experience(),
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


def load_encoders(encoders_dir: Path) -> list[EncoderMetrics]:
    """``metrics.json`` of every pretrained encoder (probe results), named after its folder unless it names itself."""
    return [
        EncoderMetrics.from_metrics(json.loads(mfile.read_text()), encoder=mfile.parent.name)
        for mfile in sorted(encoders_dir.glob("*/metrics.json"))
    ]
