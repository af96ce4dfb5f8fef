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
from pipeline.pretrain.metrics import EncoderMetrics  # noqa: E402
from pipeline.report.aggregate import SkippedRun, VariantSummary  # noqa: E402
from pipeline.report.cost import COST_NOTE, cost_table, plot_hours, plot_published  # noqa: E402
from pipeline.report.hosts import hosts_section  # noqa: E402
from pipeline.report.stats import (  # noqa: E402
    CONFIDENCE,
    MIN_SEEDS_FOR_CI,
    MIN_SEEDS_FOR_IQM,
    N_RESAMPLES,
    bootstrap_interval,
    no_interval_reason,
)
from pipeline.report.style import FIGSIZE, colour, legend_beside, linestyle  # noqa: E402

POLICY_KEYS = ("final_success", "aggregate", "seeds", "ci_low", "ci_high", "fps", "replay_bytes_per_transition")
"""Per-variant keys of the flat ``metrics.json`` (``dvc exp show``); ``ci_low``/``ci_high`` are null below 5 seeds."""

PROBE_KEYS = ("probe_object_mm", "probe_object_median_mm", "probe_object_visible_mm", "probe_gripper_mm")
PROBE_KEYS += ("probe_object_r2", "mean_object_mm", "random_object_mm")  # keys of EncoderMetrics.to_metrics()


def _fmt(v: object, digits: int = 2) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return "—" if np.isnan(v) else f"{v:.{digits}f}"
    return str(v)


def _seeds(n: int) -> str:
    return f"{n} seed{'' if n == 1 else 's'}"


def final_cell(r: dict) -> str:
    """Aggregate final success: its kind, seed count, episodes, per-seed values (``VariantSummary.finals``)."""
    per_seed = ", ".join(_fmt(v) for v in r["final_per_seed"])
    episodes = f", {r['final_episodes']} episodes" if r.get("final_episodes") else ""
    if r["seeds"] == 1:
        return f"{_fmt(r['final_success'])} (1 seed{episodes})"
    each = episodes and f"{episodes} each"
    return f"{_fmt(r['final_success'])} ({r['aggregate']} of {r['seeds']}{each}: {per_seed})"


def interval_cell(r: dict) -> str:
    """``[lo, hi] (IQM, n seeds)``, or ``— (n seeds < 5: no interval)``."""
    if r["ci_low"] is None:
        return f"— ({no_interval_reason(r['seeds'])})"
    return f"[{_fmt(r['ci_low'])}, {_fmt(r['ci_high'])}] ({r['aggregate']}, {_seeds(r['seeds'])})"


def variant_table(rows: list[dict]) -> str:
    """Markdown table of the policy variants."""
    head = (
        "| variant | seeds | steps | final success (aggregate of seeds: per-seed finals, lowest first) | 95 % CI | "
        "steps to 50 % | steps to 90 % | env steps/s | replay B/transition | wall time (min) | experience |"
    )
    lines = [head, "|" + "---|" * 11]
    for r in rows:
        missing = r.get("missing_seeds") or []
        seeds = f"{r['seeds']} (missing: seed {', '.join(missing)})" if missing else str(r["seeds"])
        lines.append(
            f"| {r['variant']} | {seeds} | {r['final_steps']} | {final_cell(r)} | {interval_cell(r)} | "
            f"{_fmt(r['steps_to_50'])} | {_fmt(r['steps_to_90'])} | "
            f"{_fmt(r['fps'], 0)} | {_fmt(r['replay_bytes_per_transition'], 0)} | {_fmt(r['wall_time_s'] / 60, 1)} | "
            f"{r.get('experience', '—')} |"
        )
    return "\n".join(lines)


STATS_NOTE = (
    f"Aggregate across seeds: the plain mean below {MIN_SEEDS_FOR_IQM} seeds (the interquartile mean trims "
    f"25 % from each end, i.e. nothing there), the IQM from {MIN_SEEDS_FOR_IQM}. "
    f"{CONFIDENCE * 100:.0f} % intervals: percentile bootstrap of the IQM over seeds (`scipy.stats.bootstrap`, "
    f"{N_RESAMPLES} resamples, fixed seed), only from {MIN_SEEDS_FOR_CI} seeds: n seeds have just C(2n-1, n) "
    "distinct resamples (10 at 3, 35 at 4), too few for an interval to mean anything. "
    "Final success: each seed's final evaluation on the episodes named (`policy.final_eval_episodes`), else its last "
    "evaluation. Steps to 50 % / 90 % are read off the aggregate curve, which holds each seed's latest evaluation and "
    'ends at the first seed\'s last one (wall-budgeted seeds stop at different steps: "steps" gives their range).'
)


def encoder_table(encoders: list[EncoderMetrics], report_dir: Path, encoders_dir: Path) -> str:
    head = (
        "| encoder | latent dim | object probe RMSE (mm) | object probe median (mm) | object RMSE where visible (mm) "
        "| gripper probe RMSE (mm) | object R² | mean predictor (mm) | random-init encoder (mm) | pictures |"
    )
    lines = [head, "|" + "---|" * 10]
    for e in encoders:
        r = e.probe
        pics = sorted((encoders_dir / e.encoder / "pictures").glob("*.png"))
        links = " ".join(f"[{p.stem}]({os.path.relpath(p, report_dir)})" for p in pics) or "—"
        lines.append(
            f"| {e.encoder} | {_fmt(e.latent_dim)} | {_fmt(r.probe_object_mm, 1)} | "
            f"{_fmt(r.probe_object_median_mm, 1)} | {_fmt(r.probe_object_visible_mm, 1)} | "
            f"{_fmt(r.probe_gripper_mm, 1)} | {_fmt(r.probe_object_r2)} | "
            f"{_fmt(r.mean_object_mm, 1)} | "
            f"{_fmt(e.random_object_mm, 1)} | {links} |"
        )
    return "\n".join(lines)


def curve_label(v: VariantSummary) -> str:
    """Legend entry, e.g. ``state (3 seeds, mean; no band < 5 seeds)``."""
    band = (
        f"{CONFIDENCE * 100:.0f} % CI band" if v.n_seeds >= MIN_SEEDS_FOR_CI else f"no band < {MIN_SEEDS_FOR_CI} seeds"
    )
    return f"{v.name} ({_seeds(v.n_seeds)}, {v.aggregate_label}; {band})"


def draw_curves(ax: plt.Axes, variants: list[VariantSummary]) -> None:
    """Per variant: every seed as a thin faint line, the aggregate on top, the bootstrap band only from 5 seeds."""
    for i, v in enumerate(variants):
        c, ls = colour(i), linestyle(i)
        for seed_curve in v.success:
            ax.plot(v.steps, seed_curve, color=c, ls=ls, lw=0.8, alpha=0.3, label="_nolegend_")
        ax.plot(v.steps, v.aggregate_curve(), color=c, ls=ls, lw=2, label=curve_label(v))
        if v.n_seeds >= MIN_SEEDS_FOR_CI:
            every = np.isfinite(v.success).all(axis=0)  # (T,) steps every seed reached
            band = np.array([bootstrap_interval(c) for c in v.success[:, every].T])  # (T', 2)
            ax.fill_between(v.steps[every], band[:, 0], band[:, 1], color=c, alpha=0.2, lw=0)


def plot_curves(
    variants: list[VariantSummary], path: Path, title: str = "Success vs env steps (thin: single seeds)"
) -> None:
    """Success vs env steps: per-seed curves under the across-seed aggregate (band only with enough seeds)."""
    fig, ax = plt.subplots(figsize=FIGSIZE, dpi=120)
    draw_curves(ax, variants)
    ax.set(
        xlabel="env steps",
        ylabel="eval success rate (across-seed aggregate)",
        ylim=(-0.02, 1.02),
        title=title,
    )
    ax.grid(alpha=0.3)
    legend_beside(ax)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_curves_csv(variants: list[VariantSummary], curves_dir: Path) -> None:
    """One CSV per variant (aggregate success per step, as plotted): one line each in ``dvc plots show``."""
    curves_dir.mkdir(parents=True, exist_ok=True)
    for old in curves_dir.glob("*.csv"):
        old.unlink()
    for v in variants:
        with (curves_dir / f"{v.name}.csv").open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["step", "success"])
            curve = v.aggregate_curve()  # (T,), NaN after the first seed's last evaluation
            every = np.isfinite(curve)
            w.writerows(zip(v.steps[every].tolist(), curve[every].round(4).tolist()))


def rollout_section(variants: list[VariantSummary], runs_dir: Path, report_dir: Path) -> list[str]:
    """Markdown lines showing each variant's rollout GIF (its lowest seed that has one); none when none exist."""
    lines = []
    for v in variants:
        gifs = [runs_dir / v.name / str(s) / "rollout.gif" for s in sorted(v.seeds)]
        gif = next((g for g in gifs if g.is_file()), None)
        if gif is not None:
            seed = gif.parent.name
            lines += [
                f"**{v.name}**, seed {seed}:",
                "",
                f"![{v.name} seed {seed}]({os.path.relpath(gif, report_dir)})",
                "",
            ]
    if not lines:
        return []
    intro = "Deterministic evaluation episodes at the end of each run: the camera frame beside the goal."
    return ["## Rollouts", "", intro, "", *lines]


def missing_section(skipped: list[SkippedRun]) -> list[str]:
    """Markdown lines naming every run folder the report could not read (none when all were read)."""
    if not skipped:
        return []
    lines = ["## Missing runs", "", "These seeds are not in the table or the plot:", ""]
    lines += [f"- `{s.variant}` seed {s.seed}: {s.reason}" for s in skipped]
    return [*lines, ""]


def write_report(
    variants: list[VariantSummary],
    encoders: list[EncoderMetrics],
    report_dir: Path,
    encoders_dir: Path,
    machine: str,
    runs_dir: Path | None = None,
    skipped: list[SkippedRun] | None = None,
) -> Path:
    """Write ``report.md``, ``success.png``, ``curves/*.csv`` and flat ``metrics.json`` under ``report_dir``."""
    report_dir.mkdir(parents=True, exist_ok=True)
    rows = [v.row() for v in variants]
    if variants:
        plot_curves(variants, report_dir / "success.png")
        plot_hours(variants, report_dir / "success_hours.png")
        plot_published(variants, report_dir / "success_published.png")
    write_curves_csv(variants, report_dir / "curves")
    flat = {
        "policy": {r["variant"]: {k: r[k] for k in POLICY_KEYS} for r in rows},
        "pretrain": {e.encoder: {k: v for k, v in e.to_metrics().items() if k in PROBE_KEYS} for e in encoders},
    }
    write_json(report_dir / "metrics.json", flat)
    parts = [
        "# Study report",
        "",
        f"Produced by `python -m pipeline.report` (usually via `dvc repro`) on {machine}.",
        "",
    ]
    parts += ["## Policies", "", variant_table(rows) if rows else "_no policy runs found_", ""]
    parts += missing_section(skipped or [])
    if rows:
        parts += [STATS_NOTE, ""]
    if variants:
        parts += ["![success vs env steps](success.png)", ""]
        parts += ["## Cost where it ran", "", cost_table(variants), "", COST_NOTE, ""]
        parts += ["![success vs route hours](success_hours.png)", ""]
        parts += ["![this study beside the seed study](success_published.png)", ""]
    if runs_dir is not None:
        parts += rollout_section(variants, runs_dir, report_dir)
        seeds = {v.name: sorted(v.seeds) for v in variants}
        parts += hosts_section(seeds, runs_dir, [e.encoder for e in encoders], encoders_dir)
    parts += [
        "## Encoders (linear probe, held-out episodes)",
        "",
        encoder_table(encoders, report_dir, encoders_dir) if encoders else "_no encoders found_",
        "",
    ]
    md = report_dir / "report.md"
    md.write_text("\n".join(parts))
    return md
