"""Damaged checkpoints, encoders and goal spaces, and two writers of one output (issue 36).

A damaged policy or pretrain checkpoint is moved aside to ``<folder>.damaged`` with one log line and the run starts
from scratch; a damaged encoder or goal space stops the stage that reads it with one ``error:`` line (exit code 2)
naming the file. Nothing else is changed in either case.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from pipeline.config import Params
from pipeline.encoders import EncoderError, load_encoder
from pipeline.errors import PipelineError
from pipeline.goalspace import load_goal_space
from pipeline.goalspace.__main__ import main as goalspace_main
from pipeline.goalspace.base import GoalSpaceError
from pipeline.goalspace.config import DistanceHeadConfig
from pipeline.goalspace.head import DistanceHeadGoalSpace, DistanceHeadNet
from pipeline.goalspace.keypoints import KeypointGoalSpace
from pipeline.io import exclusive
from pipeline.policy.__main__ import main as policy_main
from pipeline.policy.checkpoint import load_checkpoint
from pipeline.policy.evaluate import main as evaluate_main
from pipeline.policy.rollout import main as rollout_main
from pipeline.policy.train import PolicyPaths, build_envs, build_model
from pipeline.pretrain.__main__ import main as pretrain_main

from .conftest import write_params
from .test_policy import make_encoder, policy_params, read_eval, run_policy
from .test_pretrain_stage import stage_params

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


# --- policy checkpoints --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def policy_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished tiny ``state`` run (checkpoint at step 100) with an encoder beside it; copy before changing."""
    base = tmp_path_factory.mktemp("policy_run")
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


# --- encoders ------------------------------------------------------------------------------------------------------


def _config_of_another_size(meta: Path) -> None:
    m = json.loads(meta.read_text())
    m["config"]["latent_dim"] *= 2
    meta.write_text(json.dumps(m))


ENCODER_DAMAGE: dict[str, tuple[str, Callable[[Path], None]]] = {
    "weights-truncated": ("encoder.safetensors", truncate),
    "json-invalid": ("encoder.json", lambda p: p.write_text(p.read_text()[:40])),
    "config-mismatch": ("encoder.safetensors", lambda p: _config_of_another_size(p.with_name("encoder.json"))),
}
ENTRIES = {
    "policy": lambda path: policy_main(["--variant", "latent_vec", "--seed", "0", "--params", path]),
    "goalspace": lambda path: goalspace_main(["--encoder", "vae", "--params", path]),
    "evaluate": lambda path: evaluate_main(["--variant", "latent_vec", "--seed", "0", "--params", path]),
    "rollout": lambda path: rollout_main(["--variant", "latent_vec", "--seed", "0", "--params", path]),
}


@pytest.mark.parametrize("damage", list(ENCODER_DAMAGE))
def test_damaged_encoder_is_one_clear_error(policy_run: Path, tmp_path: Path, capsys, damage: str) -> None:
    base, _, params = copied(policy_run, tmp_path)
    enc = params.paths.encoders / "vae"
    named, change = ENCODER_DAMAGE[damage]
    change(enc / named)
    with pytest.raises(EncoderError) as exc:  # a ValueError too, and the project's one-line kind
        load_encoder(enc, device="cpu")
    assert isinstance(exc.value, ValueError) and isinstance(exc.value, PipelineError)
    before = digest(base)
    for entry, call in ENTRIES.items():
        line = one_error_line(capsys, lambda: call(str(base / "params.yaml")))
        assert str(enc / named) in line and "python -m pipeline.pretrain --encoder vae" in line, (entry, line)
        if damage == "config-mismatch":
            assert str(enc / "encoder.json") in line
        assert digest(base) == before, entry  # nothing written anywhere
    assert not (params.paths.runs / "latent_vec" / "0").exists() and not (params.paths.goal_spaces / "vae").exists()


def test_missing_encoder_file_is_one_line_too(policy_run: Path, tmp_path: Path, capsys) -> None:
    base, _, params = copied(policy_run, tmp_path)
    (params.paths.encoders / "vae" / "encoder.safetensors").unlink()
    for call in ENTRIES.values():
        assert "encoder.safetensors" in one_error_line(capsys, lambda: call(str(base / "params.yaml")))


# --- goal spaces ---------------------------------------------------------------------------------------------------


def fitted_head(params: Params) -> Path:
    """A distance-head goal space for the ``vae`` encoder (8-D latents) as the goal_space stage writes it."""
    out = params.paths.goal_spaces / "vae"
    torch.manual_seed(0)
    cfg = DistanceHeadConfig(hidden=8, dim=4)
    DistanceHeadGoalSpace(DistanceHeadNet(8, cfg), cfg).save(out)
    KeypointGoalSpace(8, 4, np.array([1, 2])).save(out)
    return out


GOAL_DAMAGE: dict[str, tuple[str, str, Callable[[Path], None]]] = {
    "head-weights-truncated": ("distance_head", "distance_head.safetensors", truncate),
    "head-json-invalid": ("distance_head", "distance_head.json", lambda p: p.write_text("{")),
    "head-config-mismatch": (
        "distance_head",
        "distance_head.safetensors",
        lambda p: p.with_name("distance_head.json").write_text(
            json.dumps({**json.loads(p.with_name("distance_head.json").read_text()), "config": {"hidden": 16}})
        ),
    ),
    "keypoints-invalid": ("keypoints", "keypoints.json", lambda p: p.write_text('{"latent_dim": 8, "indices": [9]}')),
}


@pytest.mark.parametrize("damage", list(GOAL_DAMAGE))
def test_damaged_goal_space_names_the_file_and_says_refit(policy_run: Path, tmp_path: Path, damage: str) -> None:
    _, _, params = copied(policy_run, tmp_path)
    out = fitted_head(params)
    space, named, change = GOAL_DAMAGE[damage]
    assert load_goal_space(space, out, 8).dim > 0
    change(out / named)
    with pytest.raises(GoalSpaceError) as exc:
        load_goal_space(space, out, 8)
    assert str(out / named) in str(exc.value) and "python -m pipeline.goalspace --encoder vae" in str(exc.value)
    assert "\n" not in str(exc.value)


def test_policy_stage_stops_on_a_damaged_goal_space(policy_run: Path, tmp_path: Path, capsys) -> None:
    base, _, params = copied(policy_run, tmp_path)
    out = fitted_head(params)
    truncate(out / "distance_head.safetensors")
    before = digest(base)
    line = one_error_line(capsys, lambda: policy_main(["--variant", "rig_head", "--seed", "0", "--params",
                                                       str(base / "params.yaml")]))  # fmt: skip
    assert str(out / "distance_head.safetensors") in line and "python -m pipeline.goalspace --encoder vae" in line
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
