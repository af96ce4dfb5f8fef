"""Damaged checkpoints and two writers of one output (issue 36).

A damaged policy or pretrain checkpoint is moved aside to ``<folder>.damaged`` with one log line and the run starts
from scratch; a second writer of a run, an encoder or a goal space is refused with one ``error:`` line naming the
holder. Nothing else is changed in either case. (Damaged encoders and goal spaces: test_faults_encoders.py.)
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from pipeline.config import Params
from pipeline.goalspace.__main__ import main as goalspace_main
from pipeline.io import exclusive
from pipeline.policy.__main__ import main as policy_main
from pipeline.policy.checkpoint import load_checkpoint
from pipeline.policy.evaluate import main as evaluate_main
from pipeline.policy.rollout import main as rollout_main
from pipeline.policy.train import PolicyPaths, build_envs, build_model
from pipeline.pretrain.__main__ import main as pretrain_main

from .conftest import write_params
from .faults_helpers import ckpt_of, copied, digest, flip, one_error_line, truncate
from .policy_helpers import read_eval, run_policy
from .test_pretrain_stage import stage_params

# --- policy checkpoints --------------------------------------------------------------------------------------------


DAMAGE: dict[str, Callable[[Path], None]] = {
    "weights.pt": truncate,
    "replay.npz": truncate,
    "state.json": truncate,
}


@pytest.mark.parametrize(
    "name,damage",
    [
        *DAMAGE.items(),
        ("state.json", lambda p: p.write_text('{"num_timesteps": 100}')),  # valid JSON, keys missing
        ("replay.npz", lambda p: p.write_bytes(p.read_bytes()[:-200] + bytes(200))),  # checksum / directory damage
        ("weights.pt", lambda p: p.write_bytes(os.urandom(4000))),
        ("weights.pt", flip),
    ],
    ids=[
        "weights-truncated",
        "replay-truncated",
        "state-truncated",
        "state-keys",
        "replay-garbled",
        "weights-garbage",
        "weights-bit-flipped",
    ],
)
def test_damaged_policy_checkpoint_is_set_aside_and_the_run_restarts(
    policy_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture, name: str, damage: Callable[[Path], None]
) -> None:
    base, p, params = copied(policy_run, tmp_path)
    ckpt = ckpt_of(params)
    damage(ckpt / name)
    damaged = digest(ckpt)
    run = params.paths.runs / "state" / "0"
    before = digest(base, run, ckpt.parent, params.paths.logs)
    capsys.readouterr()
    policy_main(["--variant", "state", "--seed", "0", "--params", str(base / "params.yaml")])
    out = capsys.readouterr().out
    aside = ckpt.with_name("0.damaged")
    line = next(x for x in out.splitlines() if "is damaged" in x)
    assert name in line and str(aside) in line and "from scratch" in line
    assert "policy: starting state/0 from scratch" in out and "resuming" not in out
    assert digest(aside) == damaged  # moved aside as it was, never deleted
    assert [int(r["step"]) for r in read_eval(run)] == [0, 100] and (ckpt / "state.json").is_file()
    assert digest(base, run, ckpt.parent, params.paths.logs) == before  # the encoder, params: untouched


def test_damage_found_late_leaves_the_model_as_built(policy_run: Path, tmp_path: Path) -> None:
    """Weights and state read fine, the replay is damaged: nothing of the checkpoint reaches the model."""
    _, _, params = copied(policy_run, tmp_path)
    truncate(ckpt_of(params) / "replay.npz")
    variant = params.policy.variants["state"]
    train_env, eval_env, _ = build_envs(params.env, params.policy, variant, 0, "cpu", PolicyPaths.of(params.paths))
    try:
        model = build_model(variant, train_env, 0, "cpu", params.paths.logs)
        fresh = {k: v.clone() for k, v in model.policy.state_dict().items()}
        assert load_checkpoint(model, ckpt_of(params)) is None
        assert all(torch.equal(v, fresh[k]) for k, v in model.policy.state_dict().items())
        assert not model.actor.optimizer.state_dict()["state"] and model.replay_buffer.pos == 0
        assert model.num_timesteps == 0 and not model.replay_buffer.full
        assert not np.any(model.replay_buffer.ep_length)
    finally:
        train_env.close()
        eval_env.close()


def test_resume_and_restart_are_said_without_a_progress_bar(
    policy_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    _, p, _ = copied(policy_run, tmp_path)
    p["policy"]["total_steps"] = 200
    params = Params.model_validate(p)
    capsys.readouterr()
    run_policy(params, "state", progress=False)
    out = capsys.readouterr().out
    assert f"policy: resuming state/0 from step 100 (checkpoint {ckpt_of(params)})" in out
    assert [int(r["step"]) for r in read_eval(params.paths.runs / "state" / "0")] == [0, 100, 200]
    other = {**p, "policy": {**p["policy"], "total_steps": 100, "eval_every": 50}}
    run_policy(Params.model_validate(other), "state", progress=False)
    assert "policy: starting state/0 from scratch" in capsys.readouterr().out  # other params: discarded


@pytest.mark.parametrize("entry", [evaluate_main, rollout_main], ids=["evaluate", "rollout"])
def test_reading_a_damaged_checkpoint_is_one_line(
    policy_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture, entry: Callable[[list[str]], None]
) -> None:
    base, _, params = copied(policy_run, tmp_path)
    truncate(ckpt_of(params) / "weights.pt")
    before = digest(base)
    line = one_error_line(capsys, lambda: entry(["--variant", "state", "--seed", "0", "--params",
                                                 str(base / "params.yaml")]))  # fmt: skip
    assert str(ckpt_of(params) / "weights.pt") in line and "python -m pipeline.policy" in line
    assert digest(base) == before


# --- two writers ---------------------------------------------------------------------------------------------------


def test_second_writer_of_a_policy_run_is_refused(policy_run: Path, tmp_path: Path, capsys) -> None:
    base, _, params = copied(policy_run, tmp_path)
    run = params.paths.runs / "state" / "0"
    before = digest(base)
    with exclusive(run):
        line = one_error_line(capsys, lambda: policy_main(["--variant", "state", "--seed", "0", "--params",
                                                           str(base / "params.yaml")]))  # fmt: skip
    assert f"pid {os.getpid()}" in line and str(run) in line
    assert digest(base) == before


@pytest.mark.parametrize("stage", ["pretrain", "goalspace"])
def test_second_writer_of_an_encoder_or_goal_space_is_refused(
    policy_run: Path, tmp_path: Path, capsys, stage: str
) -> None:
    base, _, params = copied(policy_run, tmp_path)
    out = params.paths.encoders / "vae" if stage == "pretrain" else params.paths.goal_spaces / "vae"
    main = pretrain_main if stage == "pretrain" else goalspace_main
    before = digest(base)
    with exclusive(out):
        line = one_error_line(capsys, lambda: main(["--encoder", "vae", "--params", str(base / "params.yaml")]))
    assert f"pid {os.getpid()}" in line and str(out) in line
    assert digest(base) == before


# --- pretrain checkpoints ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory: pytest.TempPathFactory, tiny_dataset: Path) -> Path:
    """A finished tiny ``vae`` pretrain run (``last.ckpt`` at step 4); copy before changing."""
    base = tmp_path_factory.mktemp("pretrained")
    p = stage_params(base, tiny_dataset)
    pretrain_main(["--encoder", "vae", "--params", str(write_params(base, p))])
    return base


@pytest.mark.parametrize(
    "name,damage",
    [("last.ckpt", truncate), ("last.ckpt", flip), ("fingerprint.json", truncate)],
    ids=["last-truncated", "last-bit-flipped", "fingerprint-truncated"],
)
def test_damaged_pretrain_checkpoint_is_set_aside(
    pretrained: Path, tiny_dataset: Path, tmp_path: Path, capsys, name: str, damage: Callable[[Path], None]
) -> None:
    base = tmp_path / "base"
    shutil.copytree(pretrained, base)
    p = stage_params(base, tiny_dataset)
    ckpt = base / "checkpoints" / "pretrain" / "vae"
    damage(ckpt / name)
    damaged = digest(ckpt)
    dataset = digest(tiny_dataset)
    capsys.readouterr()
    pretrain_main(["--encoder", "vae", "--params", str(write_params(base, p))])
    out = capsys.readouterr().out
    aside = ckpt.with_name("vae.damaged")
    line = next(x for x in out.splitlines() if "is damaged" in x)
    assert str(ckpt / name) in line and str(aside) in line and "from scratch" in line
    assert "pretrain vae: starting from scratch" in out and "resuming" not in out
    assert digest(aside) == damaged and torch.load(ckpt / "last.ckpt", weights_only=True)["global_step"] == 4
    assert json.loads((base / "encoders" / "vae" / "metrics.json").read_text())["steps"] == 4
    assert digest(tiny_dataset) == dataset


def test_pretrain_resume_is_said_with_its_step(pretrained: Path, tiny_dataset: Path, tmp_path: Path, capsys) -> None:
    from .test_pretrain_stage import run_pretrain

    base = tmp_path / "base"
    shutil.copytree(pretrained, base)
    params = Params.model_validate(stage_params(base, tiny_dataset, max_steps=6))
    capsys.readouterr()
    assert run_pretrain(params, "vae", progress=False).steps == 6
    last = base / "checkpoints" / "pretrain" / "vae" / "last.ckpt"
    assert f"pretrain vae: resuming from {last} at step 4" in capsys.readouterr().out
