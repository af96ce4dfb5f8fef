"""SIGKILL at random points, then a rerun: the stage completes to the same final step and the same set of files.

Slow (each case runs a stage several times): ``pytest -m slow tests/test_kill.py``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from .conftest import write_params
from .policy_helpers import policy_params
from .test_pretrain_stage import stage_params

pytestmark = pytest.mark.slow
KILL_AFTER_S = sorted(np.random.default_rng(17).uniform(2.0, 14.0, 3).round(1))
"""three kill times, fixed by a seed: early (imports, env start), mid-training, and late (evaluation, writing)"""


def files_under(*roots: Path) -> set[str]:
    return {str(p.relative_to(r.parent)) for r in roots if r.exists() for p in r.rglob("*") if p.is_file()}


def killed_then_rerun(cmd: list[str], delay: float) -> subprocess.CompletedProcess:
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    time.sleep(delay)
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600)


def run_whole(cmd: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600)


def no_partials(root: Path) -> bool:
    return not [p for p in root.rglob("*") if p.name.endswith(".partial")]


@pytest.mark.parametrize("delay", KILL_AFTER_S)
def test_policy_killed_anywhere_resumes_to_the_same_end(tmp_path: Path, delay: float) -> None:
    from pipeline.config import Params

    from .policy_helpers import make_encoder

    def run_dirs(base: Path) -> tuple[Path, Path]:
        return base / "runs" / "latent_vec" / "0", base / "checkpoints" / "policy" / "latent_vec" / "0"

    results = {}
    for name in ("reference", "killed"):
        base = tmp_path / name
        p = policy_params(base, total_steps=600, eval_every=200)
        make_encoder(Params.model_validate(p))
        cmd = [
            sys.executable,
            "-m",
            "pipeline.policy",
            "--variant",
            "latent_vec",
            "--seed",
            "0",
            "--params",
            str(write_params(base, p)),
        ]
        done = (
            subprocess.run(cmd, capture_output=True, text=True)
            if name == "reference"
            else killed_then_rerun(cmd, delay)
        )
        assert done.returncode == 0, done.stderr[-2000:]
        run, ckpt = run_dirs(base)
        results[name] = (json.loads((run / "metrics.json").read_text())["total_steps"], files_under(run, ckpt))
        assert no_partials(base)
        steps = [int(r.split(",")[0]) for r in (run / "eval.csv").read_text().splitlines()[1:]]
        assert steps == [0, 200, 400, 600]
    assert results["killed"] == results["reference"]


@pytest.mark.parametrize("delay", KILL_AFTER_S)
def test_pretrain_killed_anywhere_resumes_to_the_same_end(tmp_path: Path, tiny_dataset: Path, delay: float) -> None:
    results = {}
    for name in ("reference", "killed"):
        base = tmp_path / name
        base.mkdir()
        p = stage_params(base, tiny_dataset, max_steps=40, max_epochs=1000, checkpoint_every_steps=5)
        cmd = [sys.executable, "-m", "pipeline.pretrain", "--encoder", "vae", "--params", str(write_params(base, p))]
        done = (
            subprocess.run(cmd, capture_output=True, text=True)
            if name == "reference"
            else killed_then_rerun(cmd, delay)
        )
        assert done.returncode == 0, done.stderr[-2000:]
        out = Path(p["paths"]["encoders"]) / "vae"
        results[name] = (json.loads((out / "metrics.json").read_text())["steps"], files_under(out))
        assert no_partials(base)
    assert results["killed"] == results["reference"]


def test_pretrain_stopped_by_sigterm_fails_and_then_resumes(tmp_path: Path, tiny_dataset: Path) -> None:
    """Lightning turns SIGTERM into a code-less ``SystemExit``: the stage must exit 143 (not 0, which a launcher or
    DVC would take as finished), publish nothing, and resume from its checkpoint when run again."""
    from pipeline.cli import INTERRUPTED

    p = stage_params(tmp_path, tiny_dataset, max_steps=400, max_epochs=1000, checkpoint_every_steps=5)
    cmd = [sys.executable, "-m", "pipeline.pretrain", "--encoder", "vae", "--params", str(write_params(tmp_path, p))]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    ckpt = Path(p["paths"]["checkpoints"]) / "pretrain" / "vae" / "last.ckpt"
    deadline = time.monotonic() + 300
    while not ckpt.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert proc.poll() is None, "the pretraining ended before its first checkpoint"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 143 and INTERRUPTED in err, err[-2000:]
    out = Path(p["paths"]["encoders"]) / "vae"
    assert not (out / "metrics.json").exists() and no_partials(tmp_path)
    done = run_whole(cmd)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "resuming" in done.stdout + done.stderr
    assert json.loads((out / "metrics.json").read_text())["steps"] == 400
