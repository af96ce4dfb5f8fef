"""Where and beside what a task ran: the machine (CPU model and count, memory, GPUs, boot id) and the machine's load
while the task ran, appended to the task's ``host.json`` beside its results. A study spread over sessions runs on
several machines, and a run's wall time means little without them: the report names both per run."""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pipeline.io import write_json

SAMPLE_SECONDS = 30.0
"""how often a running task's machine load is read (``os.getloadavg``'s 1-minute average)"""


@dataclass(frozen=True)
class Machine:
    """The machine a task ran on."""

    cpu: str
    """the CPU model (``/proc/cpuinfo``), else ``platform.processor()``"""
    cpus: int
    memory_gib: float
    gpus: tuple[str, ...]
    """``nvidia-smi -L``'s names, empty without one"""
    boot_id: str
    """``/proc/sys/kernel/random/boot_id``: equal for two tasks on the same machine since the same boot"""


@dataclass
class Attempt:
    """One run of a task's command: when, on what, beside how much load, with what exit code."""

    machine: Machine
    commit: str | None
    started: str
    wall_seconds: float = 0.0
    load: list[float] = field(default_factory=list)
    """the 1-minute load average every :data:`SAMPLE_SECONDS` (the first at the start)"""
    exit_code: int | None = None


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def this_machine() -> Machine:
    """This machine, read from ``/proc`` where there is one."""
    model = next((ln.split(":", 1)[1].strip() for ln in _read("/proc/cpuinfo").splitlines()
                  if ln.startswith("model name")), platform.processor() or platform.machine())  # fmt: skip
    kib = next((int(ln.split()[1]) for ln in _read("/proc/meminfo").splitlines() if ln.startswith("MemTotal")), 0)
    gpus: tuple[str, ...] = ()
    if shutil.which("nvidia-smi"):
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True).stdout
        gpus = tuple(ln.split(" (UUID")[0] for ln in out.splitlines() if ln.strip())
    boot = _read("/proc/sys/kernel/random/boot_id").strip() or platform.node()
    return Machine(model, os.cpu_count() or 1, round(kib / 2**20, 1), gpus, boot)


def run_sampled(cmd: list[str], cwd: str, out: object, attempt: Attempt, every: float = SAMPLE_SECONDS) -> int:
    """Run ``cmd`` (output to ``out``), reading the machine's load every ``every`` seconds into ``attempt``."""
    start = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
    while True:
        attempt.load.append(round(os.getloadavg()[0], 2))
        try:
            rc = proc.wait(timeout=every)
            break
        except subprocess.TimeoutExpired:
            continue
    attempt.wall_seconds, attempt.exit_code = round(time.monotonic() - start, 1), rc
    return rc


def append(record: Path, task: str, attempt: Attempt) -> None:
    """Add ``attempt`` to ``record`` (``{"task": .., "attempts": [..]}``), written atomically."""
    old = json.loads(record.read_text()) if record.is_file() else {}
    attempts = old.get("attempts", []) if old.get("task") == task else []
    write_json(record, {"task": task, "attempts": [*attempts, asdict(attempt)]})


def load_summary(record: Path) -> str:
    """One line on where a task ran: ``"1 machine (Intel Xeon, 2 CPUs), load mean 2.1, max 3.4"``, or ``""``."""
    try:
        attempts = json.loads(record.read_text())["attempts"]
    except (OSError, ValueError, KeyError):
        return ""
    loads = [x for a in attempts for x in a.get("load", [])]
    machines = {a["machine"]["boot_id"]: a["machine"] for a in attempts}
    names = "; ".join(sorted({f"{m['cpu']}, {m['cpus']} CPUs" + (f", {m['gpus'][0]}" if m["gpus"] else "")
                              for m in machines.values()}))  # fmt: skip
    where = f"{len(machines)} machine{'s' if len(machines) > 1 else ''} ({names})"
    return where + (f", load mean {sum(loads) / len(loads):.1f}, max {max(loads):.1f}" if loads else "")
