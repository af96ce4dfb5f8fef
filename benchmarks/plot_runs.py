"""Success curves of policy runs from several run directories in one picture (README figures).

Each ``RUNS:VARIANT[=LABEL]`` names a ``runs`` directory of a worktree and one variant in it; every seed found there
is drawn thin, the across-seed aggregate thick (the report stage's plot, across worktrees).

    python benchmarks/plot_runs.py .worktrees/push_cpu2/data/runs:latent_supervised_stack8=latent_supervised \\
        .worktrees/push_cpu2/data/runs:rig_supervised_keypoints --out docs/img/push_rig.png --title "RIG vs vector"
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from pipeline.report.aggregate import VariantSummary, load_runs
from pipeline.report.render import plot_curves


def pick(spec: str) -> VariantSummary:
    """``RUNS:VARIANT[=LABEL]`` -> that variant's runs, renamed to ``LABEL``."""
    where, _, name = spec.rpartition(":")
    variant, _, label = name.partition("=")
    if not where or not variant:
        raise SystemExit(f"expected RUNS:VARIANT[=LABEL], got {spec!r}")
    found = {v.name: v for v in load_runs(Path(where))}
    if variant not in found:
        raise SystemExit(f"no finished evaluations of {variant!r} under {where}; there: {sorted(found)}")
    return dataclasses.replace(found[variant], name=label or variant)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", help="RUNS:VARIANT[=LABEL], one per curve")
    ap.add_argument("--out", type=Path, required=True, help="the PNG to write")
    ap.add_argument("--title", default="FetchPush: eval success vs env steps (thin: single seeds)")
    args = ap.parse_args(argv)
    variants = [pick(s) for s in args.runs]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    plot_curves(variants, args.out, args.title)
    for v in variants:
        print(f"{v.name}: seeds {v.seeds}, last {v.steps[-1]} steps, final mean {v.success[:, -1].mean():.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
