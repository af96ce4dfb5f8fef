"""Stage 3: SAC+HER on state and frozen-encoder latents (vector and RIG latent goals), eval, resume."""

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

from pipeline.config import Params
from pipeline.params import ParamsError
from pipeline.policy.__main__ import main as policy_main
from pipeline.policy.build import RunError

from .conftest import write_params
from .policy_helpers import PIXEL_VARIANTS, VARIANTS, make_encoder, policy_params, read_eval, run_policy


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_variant_trains_and_writes_results(tmp_path: Path, variant: str) -> None:
    params = Params.model_validate(policy_params(tmp_path))
    make_encoder(params)
    metrics = run_policy(params, variant, seed=0, progress=False)
    run = params.paths.runs / variant / "0"
    rows = read_eval(run)
    assert [int(r["step"]) for r in rows] == [0, 100, 200, 300]
    n = params.policy.eval_episodes  # a success rate is a count of these fixed episodes
    for key in ("success", "reward_success"):
        assert all(float(r[key]) * n == pytest.approx(round(float(r[key]) * n)) for r in rows), key
    assert all(float(r["final_object_distance"]) > 0 for r in rows)
    if "rig" not in variant:  # vector goals: the agent's reward is the task's
        assert all(r["reward_success"] == r["success"] for r in rows)
    saved = json.loads((run / "metrics.json").read_text())
    assert saved == pytest.approx(metrics)
    assert {"final_success", "fps", "replay_bytes_per_transition", "wall_time_s"} <= set(saved)
    if variant != "state":
        assert saved["replay_bytes_per_transition"] <= 1024
    if "rig" in variant:
        assert saved["latent_threshold"] > 0
    assert any((params.paths.logs / "policy").rglob("events.out.tfevents*"))


@pytest.mark.parametrize("variant", list(PIXEL_VARIANTS))
def test_pixel_variant_trains(tmp_path: Path, variant: str) -> None:
    p = policy_params(tmp_path, total_steps=200, eval_episodes=1)
    p["env"]["image_size"] = 36 if "nature" in variant else 24  # NatureCNN needs >= 36 px
    params = Params.model_validate(p)
    metrics = run_policy(params, variant, seed=0, progress=False)
    assert [int(r["step"]) for r in read_eval(params.paths.runs / variant / "0")] == [0, 100, 200]
    frame = 3 * p["env"]["image_size"] ** 2
    assert metrics["replay_bytes_per_transition"] < 1.1 * frame + 512  # each frame once, not 2k of them


def test_resume_after_kill(tmp_path: Path) -> None:
    p = policy_params(tmp_path, total_steps=2000, eval_every=200)
    params = Params.model_validate(p)
    make_encoder(params)
    path = write_params(tmp_path, p)
    run = params.paths.runs / "latent_vec" / "0"
    ckpt = params.paths.checkpoints / "policy" / "latent_vec" / "0"
    cmd = [sys.executable, "-m", "pipeline.policy", "--variant", "latent_vec", "--seed", "0", "--params", str(path)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 120
    while not (ckpt / "state.json").exists() and time.time() < deadline:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    saved_step = json.loads((ckpt / "state.json").read_text())["num_timesteps"]
    assert 0 < saved_step < 2000 and not (run / "metrics.json").exists()
    p["policy"]["total_steps"] = saved_step + 200
    result = subprocess.run([*cmd[:-1], str(write_params(tmp_path, p))], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"resuming latent_vec/0 from step {saved_step}" in result.stdout
    steps = [int(r["step"]) for r in read_eval(run)]
    assert steps == sorted(set(steps)) and steps[-1] == saved_step + 200
    assert json.loads((run / "metrics.json").read_text())["total_steps"] == saved_step + 200
    # a changed variant block invalidates the checkpoint instead of resuming into the wrong model
    p["policy"]["variants"]["latent_vec"]["frame_stack"] = 1
    result = subprocess.run([*cmd[:-1], str(write_params(tmp_path, p))], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and "starting over" in result.stdout and "resuming" not in result.stdout
    aside = ckpt.with_name("0.discarded")  # the old run is moved aside, not deleted
    assert json.loads((aside / "state.json").read_text())["num_timesteps"] == saved_step + 200


def test_encoder_mismatch_is_caught_before_training(tmp_path: Path) -> None:
    params = Params.model_validate(policy_params(tmp_path))
    make_encoder(params, image_size=32)  # env renders 24 px
    with pytest.raises(RunError, match="image size 32 != env.image_size 24"):
        run_policy(params, "latent_vec", seed=0, progress=False)
    assert not (params.paths.runs / "latent_vec" / "0" / "eval.csv").exists()
    with pytest.raises(ParamsError, match="unknown variant"):
        run_policy(params, "nope", seed=0, progress=False)


def test_bad_variant_params(tmp_path: Path, capsys) -> None:
    p = policy_params(tmp_path)
    p["policy"]["variants"]["broken"] = {"obs": "latent"}
    with pytest.raises(SystemExit):
        policy_main(["--variant", "state", "--seed", "0", "--params", str(write_params(tmp_path, p))])
    assert "policy.variants.broken" in capsys.readouterr().err


@pytest.mark.parametrize("variant", ["latent_rig", "pix_manip_ss"])
def test_finished_run_continues_from_its_checkpoint(tmp_path: Path, variant: str, capsys) -> None:
    """Raising total_steps continues the run: weights, optimisers and the replay buffer come back."""
    p = policy_params(tmp_path, total_steps=200, eval_episodes=1)
    params = Params.model_validate(p)
    make_encoder(params)
    run_policy(params, variant, seed=0, progress=False)
    ckpt = params.paths.checkpoints / "policy" / variant / "0"
    with np.load(ckpt / "replay.npz") as saved:
        stored = {k: saved[k] for k in saved.files}
    state = json.loads((ckpt / "state.json").read_text())
    del state["fingerprint"]["variant"]["obs_space"]  # written before that field existed: it still resumes
    (ckpt / "state.json").write_text(json.dumps(state))
    p["policy"]["total_steps"] = 300
    metrics = run_policy(Params.model_validate(p), variant, seed=0, progress=True)
    assert "resuming" in capsys.readouterr().out and metrics["total_steps"] == 300
    with np.load(ckpt / "replay.npz") as saved:
        for key, before in stored.items():
            if before.ndim and len(before) == 100:  # 200 steps / 2 envs: the first 100 rows survive
                np.testing.assert_array_equal(saved[key][:100], before, err_msg=key)
    assert [int(r["step"]) for r in read_eval(params.paths.runs / variant / "0")] == [0, 100, 200, 300]


def test_rollout_gif_at_the_end_of_a_run_and_from_its_checkpoint(tmp_path: Path) -> None:
    from PIL import Image

    from pipeline.policy.rollout import main as rollout_main

    p = policy_params(tmp_path, total_steps=200, rollout_episodes=1)
    params = Params.model_validate(p)
    make_encoder(params)
    run_policy(params, "latent_rig", seed=0, progress=False)
    gif = params.paths.runs / "latent_rig" / "0" / "rollout.gif"
    size = params.env.image_size
    with Image.open(gif) as im:
        assert im.n_frames == params.env.max_episode_steps  # one episode: every frame before the last step
        assert im.size == (2 * (2 * size + 2), 2 * size)  # camera | gap | goal, drawn twice as large
    out = tmp_path / "again.gif"
    rollout_main(["--variant", "latent_rig", "--seed", "0", "--episodes", "2", "--out", str(out),
                  "--params", str(write_params(tmp_path, p))])  # fmt: skip
    with Image.open(out) as im:
        assert im.n_frames == 2 * params.env.max_episode_steps
    with pytest.raises(SystemExit):
        rollout_main(["--variant", "state", "--seed", "0", "--params", str(write_params(tmp_path, p))])  # no run yet
