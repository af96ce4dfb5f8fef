"""Shared pieces of the fault tests: file digests, two kinds of damage, the one-line error check, equal datasets,
and a finished tiny policy run to copy (the session fixture ``policy_run`` in conftest.py builds it with
:func:`make_policy_run`)."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from pipeline.collect.dataset import PER_FRAME
from pipeline.config import Params

from .conftest import write_params
from .policy_helpers import make_encoder, policy_params, run_policy

RIG_HEAD = {"obs": "latent", "encoder": "vae", "goal_mode": "latent", "goal_space": "distance_head"}


def digest(root: Path, *skip: Path) -> dict[str, str]:
    """SHA-256 of every file under ``root`` but those under ``skip`` and lock files (not artifacts)."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".lock" not in p.name and not any(p.is_relative_to(s) for s in skip)
    }


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def flip(path: Path) -> None:
    """One flipped bit in the middle of the file (what ``torch.load`` alone would not notice)."""
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x10
    path.write_bytes(bytes(data))


def one_error_line(capsys: pytest.CaptureFixture, call: Callable[[], object]) -> str:
    """Run an entry point that must fail: exit code 2 and exactly one stderr line, ``error: ...``; returns it."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        call()
    err = capsys.readouterr().err.strip().splitlines()
    assert exc.value.code == 2 and len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


def assert_same_arrays(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    """Two datasets' per-frame arrays are equal (NaN equal to NaN)."""
    for name in PER_FRAME:
        assert np.array_equal(a[name], b[name], equal_nan=True), name


# --- policy checkpoints --------------------------------------------------------------------------------------------


def make_policy_run(base: Path) -> Path:
    """A finished tiny ``state`` run (checkpoint at step 100) with an encoder beside it, under ``base``."""
    p = policy_params(base, total_steps=100, eval_every=100, eval_episodes=1, rollout_episodes=0)
    p["policy"]["variants"]["rig_head"] = {**RIG_HEAD, "sac": p["policy"]["variants"]["state"]["sac"]}
    params = Params.model_validate(p)
    make_encoder(params)
    run_policy(params, "state")
    (base / "params.json").write_text(json.dumps(p))
    return base


def copied(policy_run: Path, tmp_path: Path) -> tuple[Path, dict, Params]:
    """A copy of the module's run, its params dict re-rooted there (written as ``params.yaml``) and parsed."""
    base = tmp_path / "base"
    shutil.copytree(policy_run, base)
    p = json.loads((base / "params.json").read_text())
    p["paths"] = {k: str(base / Path(v).name) for k, v in p["paths"].items()}
    write_params(base, p)
    return base, p, Params.model_validate(p)


def ckpt_of(params: Params, variant: str = "state") -> Path:
    return params.paths.checkpoints / "policy" / variant / "0"
