"""The driver's loop: submit each task once the tasks before it are done, record each finished stage in DVC
(``dvc commit``, the driver alone), report progress, and keep going past a failed run (what waits for it is
skipped and named)."""

from __future__ import annotations

import csv
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.launch.plan import Task, dvc


@dataclass
class Sweep:
    """What happened to each task."""

    done: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    """task -> its log"""
    skipped: list[str] = field(default_factory=list)
    """tasks not run because one before them failed"""


def current_success(runs: Path, task: Task) -> str:
    """A policy run's latest evaluation, ``"0.40 at 20000"`` (empty for other tasks or before the first)."""
    if not task.name.startswith("policy@"):
        return ""
    variant, seed = task.argv[task.argv.index("--variant") + 1], task.argv[task.argv.index("--seed") + 1]
    try:
        with (runs / variant / seed / "eval.csv").open() as f:
            rows = list(csv.DictReader(f))
    except OSError:
        return ""
    return f"{float(rows[-1]['success']):.2f} at {rows[-1]['step']}" if rows else ""


def progress(state: Sweep, running: dict[Any, Task], waiting: int, runs: Path, backend: Any) -> str:
    """One line: counts, then each running task (``backend.started``: not one queued for a free worker), with a
    policy run's current success."""
    now = [t for h, t in running.items() if backend.started(h)]
    waiting += len(running) - len(now)
    names = ", ".join(f"{t.name} {current_success(runs, t)}".strip() for t in now)
    counts = f"{len(state.done)} done, {len(now)} running, {len(state.failed)} failed, {waiting} waiting"
    return f"launch: {counts}" + (f" | {names}" if names else "")


def record(root: Path, stage: str) -> str:
    """``dvc commit`` a finished stage (its deps and outputs as they are now); empty, or why it failed (DVC's own
    error line: ``-q`` would silence it)."""
    out = subprocess.run(dvc("commit", "-f", stage), cwd=root, capture_output=True, text=True)
    if out.returncode == 0:
        return ""
    return f"dvc commit failed: {' '.join((out.stderr or out.stdout).split())[-300:]}"


def sweep(tasks: list[Task], backend: Any, root: Path, commit: str | None, logs: Path, runs: Path) -> Sweep:
    """Run ``tasks`` (in dependency order; a task after one not in ``tasks`` treats it as done) on ``backend``."""
    state, names = Sweep(), {t.name for t in tasks}
    pending, running = list(tasks), {}
    while pending or running:
        for t in list(pending):
            blocked = [a for a in t.after if a in state.failed or a in state.skipped]
            if blocked:
                pending.remove(t)
                state.skipped.append(t.name)
                print(f"launch: skipping {t.name}: {blocked[0]} did not finish", flush=True)
            elif all(a in state.done or a not in names for a in t.after):
                pending.remove(t)
                log = logs / f"{t.log_name}.log"
                running[backend.submit(t, str(root), str(log), commit)] = t
        if not running:
            break
        for handle in backend.wait(list(running)):
            t = running.pop(handle)
            rc, why = backend.result(handle), ""
            if rc == 0:  # the driver alone records it: dvc.lock gets the stage's deps and outputs as they are now
                why = record(root, t.name)
            else:
                why = f"exit {rc}"
            if not why:
                state.done.append(t.name)
            else:
                state.failed[t.name] = str(logs / f"{t.log_name}.log")
                print(f"launch: {t.name} failed ({why}); log: {state.failed[t.name]}", flush=True)
            print(progress(state, running, len(pending), runs, backend), flush=True)
    return state
