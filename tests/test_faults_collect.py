"""Faults of the collect stage (issue 36): two writers at once, a dead writer's leftovers, a full or read-only disk
(damaged datasets: ``test_faults_dataset.py``).

A failed collect exits with code 2 and one ``error:`` line naming the file, leaves no ``.partial``, and leaves a
previously published dataset byte-identical; a damaged dataset is refused by every stage that reads it.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import zarr

from pipeline.cli import INTERRUPTED
from pipeline.collect import core, writer
from pipeline.collect.__main__ import main as collect_main
from pipeline.collect.dataset import load_dataset
from pipeline.collect.writer import DatasetWriter
from pipeline.io import partial_path

from .conftest import tiny_params_dict, write_params
from .faults_helpers import assert_same_arrays, digest, one_error_line

ROOT = Path(__file__).resolve().parents[1]
Capsys, Patch = pytest.CaptureFixture[str], pytest.MonkeyPatch
FAULT = "PIPELINE_TEST_COLLECT_FAULT"
"""environment variable that tells :func:`_faulty_chunk` (run in the pool's worker processes) what to break"""
_REAL_WRITE = writer.write_region


def _faulty_chunk(episodes: range) -> int:
    """The collect worker's task with ``write_region`` failing after part of the data landed (``FAULT`` says how)."""
    from pipeline.collect import rollout

    mode = os.environ[FAULT]

    def write(group: zarr.Group, start: int, block: dict[str, np.ndarray]) -> None:
        if mode == "bad-index":  # a worker that writes wrong episode numbers (what mixed writers produced)
            return _REAL_WRITE(group, start, {**block, "episode": np.zeros_like(block["episode"])})
        group["frames"][start : start + 1] = block["frames"][:1]
        if mode == "bug":
            raise RuntimeError("a bug in a worker")
        code = errno.ENOSPC if mode.startswith("enospc") else errno.EROFS
        name = None if mode.endswith("nameless") else str(Path(str(group.store.root)) / "frames" / "c" / "0")
        raise OSError(code, os.strerror(code), name)

    writer.write_region = write
    return rollout.worker_chunk(episodes)


def fails(argv: list[str], capsys: Capsys, main: Callable[[list[str]], None] = collect_main) -> str:
    """Run a stage's ``main`` in-process: exit code 2 and one ``error:`` line, which is returned."""
    return one_error_line(capsys, lambda: main(argv))


def stage(tmp_path: Path, published: Path, **overrides: dict) -> tuple[list[str], Path]:
    """Tiny params under ``tmp_path`` whose dataset path already holds a copy of ``published``."""
    p = tiny_params_dict(tmp_path, **overrides)
    final = Path(p["paths"]["dataset"])
    final.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(published, final)
    return ["--params", str(write_params(tmp_path, p))], final


def race(tmp_path: Path, published: Path, trials: int) -> None:
    """Start two ``python -m pipeline.collect`` on one path at once: one wins, the other names the holder's pid."""
    reference = load_dataset(published).arrays
    env = {**os.environ, "MUJOCO_GL": "egl"}
    for trial in range(trials):
        folder = tmp_path / f"trial{trial}"
        folder.mkdir()
        p = tiny_params_dict(folder)
        cmd = [sys.executable, "-m", "pipeline.collect", "--params", str(write_params(folder, p))]
        procs = [
            subprocess.Popen(cmd, cwd=ROOT, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            for _ in range(2)
        ]
        try:
            outs = [proc.communicate(timeout=180) for proc in procs]  # a hang fails the test
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        assert sorted(proc.returncode for proc in procs) in ([0, 0], [0, 2]), outs
        for proc, other, (_, err) in zip(procs, procs[::-1], outs):
            if proc.returncode == 2:
                line = err.strip()
                assert err.endswith("\n") and len(err.splitlines()) == 1 and line.startswith("error: "), err
                assert "another run is writing it" in line and str(p["paths"]["dataset"]) in line
                assert f"pid {other.pid} " in line or "not yet said its pid" in line, line
        final = Path(p["paths"]["dataset"])
        assert not partial_path(final).exists()
        assert_same_arrays(load_dataset(final).arrays, reference)


def test_two_writers_at_once(tmp_path: Path, published: Path) -> None:
    race(tmp_path, published, trials=2)


@pytest.mark.slow
def test_two_writers_at_once_many_times(tmp_path: Path, published: Path) -> None:
    race(tmp_path, published, trials=10)


def test_stale_partial_is_cleaned(tmp_path: Path, published: Path, capsys: Capsys) -> None:
    argv, final = stage(tmp_path, published)
    stale = partial_path(final)
    shutil.copytree(published, stale)
    (stale / "frames" / "c" / "junk").write_bytes(b"left by a writer that died")
    collect_main(argv)
    assert f"removed {stale}, left by an interrupted writer" in capsys.readouterr().out
    assert not stale.exists()
    assert_same_arrays(load_dataset(final).arrays, load_dataset(published).arrays)


@pytest.mark.parametrize(
    ("mode", "says"),
    [
        ("enospc", "no space left on the device"),
        ("enospc-nameless", "no space left on the device"),
        ("erofs", "the file system is read-only"),
        ("bad-index", "failed verification (inconsistent episode/step indices"),
    ],
)
def test_failed_write_leaves_nothing(
    tmp_path: Path, published: Path, capsys: Capsys, monkeypatch: Patch, mode: str, says: str
) -> None:
    argv, final = stage(tmp_path, published)
    before = digest(final)
    monkeypatch.setenv(FAULT, mode)
    monkeypatch.setattr(core, "worker_chunk", _faulty_chunk)
    line = fails(argv, capsys)
    named = final if mode in ("enospc-nameless", "bad-index") else partial_path(final) / "frames" / "c" / "0"
    assert says in line and line.startswith(f"error: {named}: ") and "nothing published was changed" in line
    assert not partial_path(final).exists() and digest(final) == before


def test_bug_or_ctrl_c_leaves_nothing(tmp_path: Path, published: Path, capsys: Capsys, monkeypatch: Patch) -> None:
    argv, final = stage(tmp_path, published)
    before = digest(final)
    monkeypatch.setenv(FAULT, "bug")
    monkeypatch.setattr(core, "worker_chunk", _faulty_chunk)
    with pytest.raises(RuntimeError, match="a bug in a worker"):  # not a known failure: it keeps its traceback
        collect_main(argv)
    assert not partial_path(final).exists() and digest(final) == before

    def interrupt(self: DatasetWriter, n: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.undo()
    monkeypatch.setattr(DatasetWriter, "written_elsewhere", interrupt)
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        collect_main(argv)
    assert exc.value.code == 130 and capsys.readouterr().err == INTERRUPTED + "\n"
    assert not partial_path(final).exists() and digest(final) == before


@contextmanager
def tmpfs(where: Path, options: str) -> Iterator[Path]:
    """A tmpfs mounted at ``where`` (skips the test where mounting is not allowed)."""
    where.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {result.stderr.decode().strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def remount(where: Path, options: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{options}", str(where)], check=True)


@pytest.mark.parametrize(("fault", "says"), [("full", "no space left on the device"), ("ro", "read-only")])
def test_full_or_read_only_disk(tmp_path: Path, published: Path, capsys: Capsys, fault: str, says: str) -> None:
    with tmpfs(tmp_path / "disk", "size=4m") as disk:
        argv, final = stage(disk, published, collect={"compressor": "none"})
        before = digest(final)
        stat = os.statvfs(disk)
        used = (stat.f_blocks - stat.f_bfree) * stat.f_frsize
        remount(disk, f"size={used + 80 * 1024}" if fault == "full" else "ro")  # full: room for metadata only
        line = fails(argv, capsys)  # read-only: fails at once, on the lock file
        assert says in line and line.startswith(f"error: {final}{'.lock' if fault == 'ro' else ''}: ")
        assert not partial_path(final).exists() and digest(final) == before
