"""Atomic outputs: build at a temporary path, then rename into place."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any


def partial_path(final: Path) -> Path:
    """Where an unfinished output lives until it is complete."""
    return final.with_name(final.name + ".partial")


def remove(path: Path) -> None:
    """Delete a file or directory tree if it exists."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


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
