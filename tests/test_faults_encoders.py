"""Damaged encoders and goal spaces (issue 36): the stage that reads one stops with one ``error:`` line (exit code 2)
naming the file and the command that rebuilds it, and writes nothing."""

from __future__ import annotations

import json
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
from pipeline.policy.__main__ import main as policy_main
from pipeline.policy.evaluate import main as evaluate_main
from pipeline.policy.rollout import main as rollout_main

from .faults_helpers import copied, digest, one_error_line, truncate

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
