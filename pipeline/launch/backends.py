"""Where the tasks run: ``local`` (worker threads, each running its stage as a subprocess) or ``ray`` (one Ray task
per stage instance, with the CPUs and GPUs it asks for, on a local or remote Ray cluster). Either way a task runs
its stage's own command in the repository folder (shared between nodes), at the commit the driver pinned, and writes
its outputs where the DVC stage expects them; only the driver touches git or DVC."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline.launch.host import Attempt, append, run_sampled, this_machine
from pipeline.launch.plan import Task

PINNED = 3
"""exit code of a task whose folder is at another commit than the driver's"""


def run_task(argv: Sequence[str], cwd: str, log: str, commit: str | None, record: str | None = None) -> int:
    """Run one stage command in ``cwd`` (``python`` is this interpreter), output appended to ``log``; refuse
    (:data:`PINNED`) when ``cwd``'s checkout is not at ``commit``. With ``record`` (relative to ``cwd``), append the
    machine and its load while the command ran to that ``host.json`` (:mod:`pipeline.launch.host`)."""
    Path(log).parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a") as out:
        if commit is not None:
            head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True).stdout.strip()
            if head != commit:
                out.write(f"launch: {cwd} is at {head or 'no commit'}, the sweep at {commit}: not run\n")
                return PINNED
        cmd = [sys.executable, *argv[1:]] if argv[0] == "python" else list(argv)
        out.write(f"$ {' '.join(argv)}\n")
        out.flush()
        attempt = Attempt(this_machine(), commit, datetime.now(UTC).isoformat(timespec="seconds"))
        rc = run_sampled(cmd, cwd, out, attempt)
    if record is not None:
        append(Path(cwd) / record, " ".join(argv), attempt)
    return rc


def _with_retries(retries: int, *args: Any) -> int:
    rc = run_task(*args)
    for _ in range(retries):
        if rc in (0, PINNED):
            break
        rc = run_task(*args)  # a killed or failed run: again (a policy run resumes from its checkpoint)
    return rc


class LocalBackend:
    """``jobs`` tasks at once on this machine."""

    def __init__(self, jobs: int, retries: int) -> None:
        self.pool, self.retries = ThreadPoolExecutor(jobs), retries

    def submit(self, task: Task, cwd: str, log: str, commit: str | None) -> Future:
        return self.pool.submit(_with_retries, self.retries, task.argv, cwd, log, commit, task.record)

    def wait(self, handles: list[Any]) -> list[Any]:
        return list(wait(handles, return_when=FIRST_COMPLETED).done)

    def result(self, handle: Future) -> int:
        return handle.result()

    def started(self, handle: Future) -> bool:
        """Whether a submitted task holds a worker (it may still wait for a free one)."""
        return handle.running() or handle.done()


def _ray_task(argv: Sequence[str], cwd: str, log: str, commit: str | None, record: str | None = None) -> int:
    rc = run_task(argv, cwd, log, commit, record)
    if rc not in (0, PINNED):
        raise RuntimeError(f"{' '.join(argv)} exited with {rc} (log: {log})")  # Ray runs it again (retry_exceptions)
    return rc


class RayBackend:
    """One Ray task per stage instance, with ``num_cpus`` / ``num_gpus`` from the task; a failed task or one whose
    worker died is retried ``retries`` times."""

    def __init__(self, address: str | None, retries: int, num_cpus: int | None = None) -> None:
        import ray

        self.ray, self.retries = ray, retries
        if not ray.is_initialized():
            ray.init(address=address, num_cpus=num_cpus if address is None else None, log_to_driver=False)
        self.remote = ray.remote(_ray_task)

    def submit(self, task: Task, cwd: str, log: str, commit: str | None) -> Any:
        opts = {"num_cpus": task.cpus, "num_gpus": task.gpus, "max_retries": self.retries, "retry_exceptions": True}
        return self.remote.options(**opts).remote(task.argv, cwd, log, commit, task.record)

    def wait(self, handles: list[Any]) -> list[Any]:
        return self.ray.wait(handles, num_returns=1)[0]

    def started(self, handle: Any) -> bool:
        """A submitted task counts as started: the cluster queues it."""
        return True

    def result(self, handle: Any) -> int:
        try:
            return int(self.ray.get(handle))
        except Exception:  # retries spent: the task failed
            return 1
