"""Write the comparison report: markdown tables, success curves (PNG + CSV for ``dvc plots``), flat metrics."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from pipeline.io import write_json  # noqa: E402
from pipeline.report.aggregate import VariantSummary  # noqa: E402
from pipeline.report.stats import bootstrap_ci, iqm  # noqa: E402

PROBE_KEYS = (
    "probe_object_mm",
    "probe_object_median_mm",
    "probe_object_visible_mm",
    "probe_gripper_mm",
    "probe_object_r2",
    "mean_object_mm",
    "random_object_mm",
)


def _fmt(v: object, digits: int = 2) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return "—" if np.isnan(v) else f"{v:.{digits}f}"
    return str(v)


def variant_table(rows: list[dict]) -> str:
    head = (
        "| variant | seeds | steps | final success (IQM) | 95 % CI | steps to 50 % | steps to 90 % | env steps/s | "
        "replay B/transition | wall time (min) |"
    )
    lines = [head, "|" + "---|" * 10]
    for r in rows:
        lines.append(
            f"| {r['variant']} | {r['seeds']} | {r['final_steps']} | {_fmt(r['final_success_iqm'])} | "
            f"[{_fmt(r['ci_low'])}, {_fmt(r['ci_high'])}] | {_fmt(r['steps_to_50'])} | {_fmt(r['steps_to_90'])} | "
            f"{_fmt(r['fps'], 0)} | {_fmt(r['replay_bytes_per_transition'], 0)} | {_fmt(r['wall_time_s'] / 60, 1)} |"
        )
    return "\n".join(lines)


def encoder_table(encoders: list[dict], report_dir: Path, encoders_dir: Path) -> str:
    head = (
        "| encoder | latent dim | object probe RMSE (mm) | object probe median (mm) | object RMSE where visible (mm) "
        "| gripper probe RMSE (mm) | object R² | mean predictor (mm) | random-init encoder (mm) | pictures |"
    )
    lines = [head, "|" + "---|" * 10]
    for e in encoders:
        pics = sorted((encoders_dir / e["encoder"]).glob("*.png"))
        links = " ".join(f"[{p.stem}]({os.path.relpath(p, report_dir)})" for p in pics) or "—"
        lines.append(
            f"| {e['encoder']} | {_fmt(e.get('latent_dim'))} | {_fmt(e.get('probe_object_mm'), 1)} | "
            f"{_fmt(e.get('probe_object_median_mm'), 1)} | {_fmt(e.get('probe_object_visible_mm'), 1)} | "
            f"{_fmt(e.get('probe_gripper_mm'), 1)} | {_fmt(e.get('probe_object_r2'))} | "
            f"{_fmt(e.get('mean_object_mm'), 1)} | "
            f"{_fmt(e.get('random_object_mm'), 1)} | {links} |"
        )
    return "\n".join(lines)


def plot_curves(variants: list[VariantSummary], path: Path) -> None:
    """Success vs env steps: IQM across seeds per step with its 95 % bootstrap band."""
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=120)
    for v in variants:
        centre = np.array([iqm(v.success[:, t]) for t in range(len(v.steps))])
        band = np.array([bootstrap_ci(v.success[:, t], n_boot=500) for t in range(len(v.steps))])
        ax.plot(v.steps, centre, label=f"{v.name} ({len(v.seeds)} seeds)")
        ax.fill_between(v.steps, band[:, 0], band[:, 1], alpha=0.2)
    ax.set(xlabel="env steps", ylabel="eval success rate (IQM)", ylim=(-0.02, 1.02), title="Success vs env steps")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_curves_csv(variants: list[VariantSummary], curves_dir: Path) -> None:
    """One CSV per variant (mean success per step) — each file is one line in ``dvc plots show``."""
    curves_dir.mkdir(parents=True, exist_ok=True)
    for old in curves_dir.glob("*.csv"):
        old.unlink()
    for v in variants:
        with (curves_dir / f"{v.name}.csv").open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["step", "success"])
            w.writerows(zip(v.steps.tolist(), v.success.mean(axis=0).round(4).tolist()))


def write_report(
    variants: list[VariantSummary], encoders: list[dict], report_dir: Path, encoders_dir: Path, machine: str
) -> Path:
    """Write ``report.md``, ``success.png``, ``curves/*.csv`` and flat ``metrics.json`` under ``report_dir``."""
    report_dir.mkdir(parents=True, exist_ok=True)
    rows = [v.row() for v in variants]
    if variants:
        plot_curves(variants, report_dir / "success.png")
    write_curves_csv(variants, report_dir / "curves")
    flat = {
        "policy": {
            r["variant"]: {
                k: r[k] for k in ("final_success_iqm", "ci_low", "ci_high", "fps", "replay_bytes_per_transition")
            }
            for r in rows
        },
        "pretrain": {e["encoder"]: {k: e[k] for k in PROBE_KEYS if k in e} for e in encoders},
    }
    write_json(report_dir / "metrics.json", flat)
    parts = [
        "# Study report",
        "",
        f"Produced by `python -m pipeline.report` (usually via `dvc repro`) on {machine}.",
        "",
    ]
    parts += ["## Policies", "", variant_table(rows) if rows else "_no policy runs found_", ""]
    if variants:
        parts += ["![success vs env steps](success.png)", ""]
    parts += [
        "## Encoders (linear probe, held-out episodes)",
        "",
        encoder_table(encoders, report_dir, encoders_dir) if encoders else "_no encoders found_",
        "",
    ]
    md = report_dir / "report.md"
    md.write_text("\n".join(parts))
    return md
