"""The report's cost side: a table of what each route took to reach 50 % / 90 % where it ran (env steps, route
hours, memory, the final success on many fixed episodes), success against route hours, and success against env steps
on a log axis beside the seed study's published curve."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from pipeline.report.aggregate import VariantSummary  # noqa: E402
from pipeline.report.route import PUBLISHED, PUBLISHED_COST  # noqa: E402
from pipeline.report.style import FIGSIZE, colour, legend_beside, linestyle  # noqa: E402

COST_NOTE = (
    "Steps and hours to 50 % / 90 %: each seed's first evaluation at or above the level (— where it never got there). "
    "Route hours charge a latent run the whole collect time of the dataset and the whole pretraining time of its "
    "encoder, as if that route ran alone (variants sharing an encoder are each charged it in full); state, control and "
    "end-to-end pixel runs are charged nothing. Final on N episodes: the run's own final evaluation "
    "(`policy.final_eval_episodes` fixed episodes after training), or `python -m pipeline.policy.evaluate` on more, "
    "with a 95 % Wilson interval per seed."
)


def _per_seed(values: list, fmt: str) -> str:
    return ", ".join("—" if v is None else format(v, fmt) for v in values) or "—"


def _finals(finals: list[dict | None]) -> str:
    if not finals or all(f is None for f in finals):
        return "— (not evaluated)"
    cells = [
        "—" if f is None else f"{f['success']:.2f} [{f['ci'][0]:.2f}, {f['ci'][1]:.2f}] of {f['episodes']}"
        for f in finals
    ]
    return "; ".join(cells)


def cost_table(variants: list[VariantSummary]) -> str:
    """Markdown table: per variant and seed, steps and route hours to 50 % / 90 %, the final on many episodes."""
    lines = [
        "| variant | env steps to 50 % (per seed) | env steps to 90 % (per seed) | route hours to 90 % (per seed) | "
        "charged before RL | peak RSS (MB) | final on N fixed episodes (per seed, 95 % Wilson) |",
        "|" + "---|" * 7,
    ]
    for v in variants:
        c, r = v.cost_row(), v.row()
        rss = "—" if np.isnan(r["peak_rss_mb"]) else f"{r['peak_rss_mb']:.0f}"
        lines.append(
            f"| {v.name} | {_per_seed(c['steps_to_50_per_seed'], 'd')} | {_per_seed(c['steps_to_90_per_seed'], 'd')} "
            f"| {_per_seed(c['hours_to_90_per_seed'], '.2f')} | {c['charge']} | {rss} | {_finals(c['finals_many'])} |"
        )
    lines.append("| " + " | ".join(PUBLISHED_COST) + " |")  # what the study is read against
    return "\n".join(lines)


def plot_hours(variants: list[VariantSummary], path: Path) -> None:
    """Success against route hours (charge + the run's own wall time): each seed thin, the across-seed mean bold."""
    fig, ax = plt.subplots(figsize=FIGSIZE, dpi=120)
    drawn = 0
    for i, v in enumerate(variants):
        hours = v.hours()  # (n_seeds, T)
        if np.isnan(hours).all():
            continue
        drawn += 1
        c, ls = colour(i), linestyle(i)
        for h, s in zip(hours, v.success):
            ax.plot(h, s, color=c, ls=ls, lw=0.8, alpha=0.3, label="_nolegend_")
        ax.plot(np.nanmean(hours, axis=0), v.aggregate_curve(), color=c, ls=ls, lw=2, label=v.name)
    ax.set(xlabel="route hours where it ran (latent routes: + collect + pretraining)", ylabel="eval success rate")
    ax.set(ylim=(-0.02, 1.02), title="Success vs wall-clock hours (thin: single seeds)")
    ax.grid(alpha=0.3)
    if drawn:
        legend_beside(ax)
    else:
        ax.text(0.5, 0.5, "no run recorded its wall time (eval.csv wall_seconds)", ha="center", transform=ax.transAxes)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_published(variants: list[VariantSummary], path: Path) -> None:
    """Success against env steps on a log axis, this study's aggregates beside the published curves (dash-dotted)."""
    fig, ax = plt.subplots(figsize=FIGSIZE, dpi=120)
    for i, v in enumerate(variants):
        after = v.steps > 0  # a log axis has no step 0 (the untrained policy's evaluation)
        ax.plot(v.steps[after], v.aggregate_curve()[after], color=colour(i), ls=linestyle(i), lw=1.5, label=v.name)
    for j, (label, points) in enumerate(PUBLISHED):
        x, y = zip(*points)
        ax.plot(x, y, ls="-.", marker="o", color=("0.3", "0.6")[j % 2], label=label)
    ax.set_xscale("log")
    ax.set(
        xlabel="env steps (log)", ylabel="success rate", ylim=(-0.02, 1.02), title="This study beside the seed study"
    )
    ax.grid(alpha=0.3, which="both")
    legend_beside(ax, fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
