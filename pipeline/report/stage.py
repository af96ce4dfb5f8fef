"""The report stage as a pure function: the runs ``policy.run x policy.seeds`` and every encoder -> ``paths.report``."""

from __future__ import annotations

import sys
from pathlib import Path

from pipeline.io import exclusive
from pipeline.report.aggregate import SkippedRun, load_encoders, scan_runs
from pipeline.report.cost import COST_NOTE, cost_table
from pipeline.report.readme import SUMMARY, summary_markdown
from pipeline.report.render import variant_table, write_report


def make_report(
    run: list[str],
    seeds: list[int],
    runs_dir: Path,
    encoders_dir: Path,
    report_dir: Path,
    machine: str,
) -> tuple[Path, list[SkippedRun]]:
    """Aggregate exactly the runs asked for (``run`` x ``seeds``); a missing or unreadable one is named on stderr and
    in the report, never dropped silently. ``encoders_dir`` holds each encoder's ``metrics.json`` and ``pictures/``
    (``paths.pretrain_results``): its probes, its pretraining time and its dataset's collect time.
    Writes ``summary.md`` too, the table README shows (:mod:`pipeline.report.readme`). Returns ``report.md`` and the
    runs skipped."""
    encoders = load_encoders(encoders_dir)
    variants, skipped = scan_runs(runs_dir, run, seeds, encoders)
    for s in skipped:
        print(f"report: skipping {s.variant}/{s.seed}: {s.reason}", file=sys.stderr)
    with exclusive(report_dir):
        md = write_report(variants, encoders, report_dir, encoders_dir, machine, runs_dir=runs_dir, skipped=skipped)
        rows = [v.row() for v in variants]
        table = variant_table(rows) if rows else "_no policy runs found_"
        cost = f"{cost_table(variants)}\n\n{COST_NOTE}" if variants else None
        (report_dir / SUMMARY).write_text(summary_markdown(table, report_dir, cost) + "\n")
    return md, skipped
