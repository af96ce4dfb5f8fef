"""The report's "where the runs ran": each run's and encoder's machine and load, from the ``host.json`` records
that ``python -m pipeline.launch`` writes beside their results (:mod:`pipeline.launch.host`)."""

from __future__ import annotations

from pathlib import Path

from pipeline.launch.host import load_summary

HOSTS_NOTE = (
    "From each task's `host.json` (written by `python -m pipeline.launch`): the machines its attempts ran on and "
    "the 1-minute load average every 30 s while it ran (2 tasks at once on 2 CPUs read ~2; more means something "
    "else shared the cores, and its wall time is longer than the task's own)."
)


def hosts_section(runs: dict[str, list[int]], runs_dir: Path, encoders: list[str], encoders_dir: Path) -> list[str]:
    """Markdown lines: one table row per run (``runs``: variant -> seeds) and encoder with a host record; a line
    saying none has one otherwise."""
    rows = [(f"`{v}` seed {s}", load_summary(runs_dir / v / str(s) / "host.json")) for v, seeds in runs.items()
            for s in seeds]  # fmt: skip
    rows += [(f"encoder `{e}`", load_summary(encoders_dir / e / "host.json")) for e in encoders]
    known = [(name, where) for name, where in rows if where]
    lines = ["## Where the runs ran", ""]
    if not known:
        return [*lines, "_No run or encoder here has a host record (`host.json`); the study's notebook names its "
                        "machines._", ""]  # fmt: skip
    table = ["| task | where |", "|---|---|", *(f"| {name} | {where} |" for name, where in known)]
    missing = len(rows) - len(known)
    tail = [f"{missing} of the {len(rows)} have no record (run before the launcher wrote one, or not by it).", ""]
    return [*lines, *table, "", HOSTS_NOTE, "", *(tail if missing else [])]
