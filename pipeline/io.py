"""Atomic outputs: one writer at a time (a lock), built at a temporary path, then renamed into place."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from pipeline.errors import PipelineError, disk_error


def partial_path(final: Path) -> Path:
    """Where an unfinished output lives until it is complete."""
    return final.with_name(final.name + ".partial")


def remove(path: Path) -> None:
    """Delete a file or directory tree if it exists."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def lock_path(final: Path) -> Path:
    """The lock file that guards writes to ``final`` (beside it)."""
    return final.with_name(final.name + ".lock")


def _owner_path(final: Path) -> Path:
    return final.with_name(final.name + ".lock.owner")


def _read_owner(final: Path) -> str:
    try:
        owner = json.loads(_owner_path(final).read_text())
        return f"pid {owner['pid']} on {owner['host']}, since {owner['since']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "a process that has not yet said its pid"


def recover_stale(final: Path) -> list[str]:
    """Clean what a dead writer of ``final`` left (call with the lock held); returns one log line per action.

    A ``.partial`` is removed. A ``.old`` (a writer died between the two renames of :func:`publish`) is put back
    when ``final`` is missing, removed otherwise.
    """
    done = []
    tmp, old = partial_path(final), final.with_name(final.name + ".old")
    if tmp.exists() or tmp.is_symlink():
        remove(tmp)
        done.append(f"removed {tmp}, left by an interrupted writer")
    if old.exists():
        if final.exists():
            remove(old)
            done.append(f"removed {old}, left by an interrupted publish")
        else:
            os.replace(old, final)
            done.append(f"restored {final} from {old}, left by an interrupted publish")
    return done


@contextmanager
def exclusive(final: Path, wait_s: float = 0.0) -> Iterator[None]:
    """Hold the only write lock on ``final`` (``filelock``; released even when the process dies).

    A second writer waits ``wait_s`` seconds, then fails with a :class:`PipelineError` naming the holder's pid.
    Leftovers of a dead writer are cleaned once the lock is held (:func:`recover_stale`). An unwritable location
    fails here, before any work, with one clear line.
    """
    final = Path(final)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(lock_path(final)), timeout=wait_s)
        lock.acquire()
    except Timeout:
        raise PipelineError(
            f"another run is writing it ({_read_owner(final)})",
            final,
            "wait for it to finish, or stop it; the lock is released when that process ends",
        ) from None
    except OSError as exc:
        raise (disk_error(exc) or exc) from exc
    try:
        owner = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%d %H:%M:%S")}
        _owner_path(final).write_text(json.dumps(owner))
        for line in recover_stale(final):
            print(line)
        yield
    finally:
        _owner_path(final).unlink(missing_ok=True)
        lock.release()


@contextmanager
def building(final: Path) -> Iterator[Path]:
    """Lock ``final`` and yield an empty temporary path to build it at; publish it when the block completes.

    On any failure (a full disk included) the temporary path is removed and the published ``final`` is untouched.
    """
    final = Path(final)
    with exclusive(final):
        tmp = partial_path(final)
        try:
            yield tmp
            publish(tmp, final)
        except BaseException:
            remove(tmp)
            raise


def publish(tmp: Path, final: Path) -> None:
    """Move a complete output into place; the final path never holds anything partial."""
    old = final.with_name(final.name + ".old")
    remove(old)
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    remove(old)


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = partial_path(path)
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


def state_signature(state: dict[str, Any]) -> str:
    """Short hash of a state dict's keys and tensor shapes: changes when the architecture does."""
    items = sorted((k, tuple(getattr(v, "shape", ()))) for k, v in state.items())
    return hashlib.sha1(repr(items).encode()).hexdigest()[:16]
