"""Stage 3: SAC+HER on state and frozen-encoder latents (vector and RIG latent goals), eval, resume."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from pipeline.config import Params
from pipeline.encoders import save_encoder
from pipeline.encoders.registry import build_encoder
from pipeline.params import ParamsError
from pipeline.policy.__main__ import main as policy_main
from pipeline.policy.build import RunError
from pipeline.policy.config import VariantConfig
from pipeline.policy.latent_goals import latent_reward
from pipeline.policy.obs_parts import shifted
from pipeline.policy.train import PolicyPaths, build_envs, build_model, train_policy
from pipeline.policy.vec_backend import make_fetch_vec_env, resolve_vec_env
from pipeline.policy.vecenv import GoalObsVecEnv
from pipeline.stages import stage_view

from .conftest import tiny_params_dict, write_params

SAC_TINY = {"learning_starts": 100, "batch_size": 32, "buffer_size": 5000, "net_arch": [32, 32]}
VARIANTS = {
    "state": {"obs": "state"},
    "latent_vec": {"obs": "latent", "encoder": "vae", "proprio": True, "frame_stack": 2},
    "latent_rig": {"obs": "latent", "encoder": "vae", "goal_mode": "latent", "proprio": False},
    "latent_rig_prior": {"obs": "latent", "encoder": "vae", "goal_mode": "latent", "prior_goal_fraction": 0.5},
}
PIXEL_VARIANTS = {
    "pix_nature": {"obs": "pixel", "extractor": "nature", "routing": "separate", "augment": False, "frame_stack": 1},
    "pix_manip": {"obs": "pixel", "extractor": "manip", "routing": "shared", "coordconv": True, "frame_stack": 2},
    "pix_manip_ss": {
        "obs": "pixel",
        "extractor": "manip_ss",
        "routing": "critic",
        "frame_stack": 2,
        "proprio": False,
        "warmup": "random",
    },
}


def policy_params(tmp_path: Path, **policy: object) -> dict:
    p = tiny_params_dict(tmp_path)
    p["policy"] = {
        "total_steps": 300,
        "n_envs": 2,
        "eval_every": 100,
        "eval_episodes": 2,
        "run": ["state"],
        "variants": {k: {**v, "sac": SAC_TINY} for k, v in {**VARIANTS, **PIXEL_VARIANTS}.items()},
        **policy,
    }
    return p


def run_policy(params: Params, variant: str, seed: int = 0, progress: bool = False) -> dict[str, Any]:
    """The stage as its entry point runs it: its view of the params (a key ``pipeline/stages.py`` does not declare
    stops it), the ``env`` and ``policy`` sections, the variant, the seed, the paths."""
    params = stage_view("policy", params, variant)
    return train_policy(params.env, params.policy, variant, seed, PolicyPaths.of(params.paths), progress)


def envs_for(params: Params, variant: VariantConfig, seed: int = 0, device: str = "cpu") -> tuple[Any, Any, dict]:
    """Training and evaluation envs of ``variant`` as a run of ``params`` builds them."""
    return build_envs(params.env, params.policy, variant, seed, device, PolicyPaths.of(params.paths))


def make_encoder(params: Params, name: str = "vae", image_size: int | None = None) -> Path:
    """An untrained (seeded) encoder artifact, as the pretrain stage would write it."""
    torch.manual_seed(0)
    cfg = {"latent_dim": 8, "channels": [8, 16]}
    net = build_encoder(name, cfg, image_size or params.env.image_size)
    out = params.paths.encoders / name
    save_encoder(net, name, cfg, image_size or params.env.image_size, params.env.camera_dict(), params.env.id, out)
    return out


def read_eval(run_dir: Path) -> list[dict]:
    with (run_dir / "eval.csv").open() as f:
        return list(csv.DictReader(f))


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


def test_worker_process_envs_step_like_in_process_envs(tmp_path: Path) -> None:
    """``vec_env: subproc`` renders the same frames as ``dummy``; HER's reward is answered in this process, equal to
    the env's."""
    params = Params.model_validate(policy_params(tmp_path))
    envs = {kind: make_fetch_vec_env(params.env, 2, render=True, kind=kind) for kind in ("dummy", "subproc")}
    actions = np.random.default_rng(0).uniform(-1, 1, (params.env.max_episode_steps + 3, 2, 4)).astype(np.float32)
    try:
        seen = {}
        for kind, env in envs.items():
            env.seed(7)
            trace = [env.reset()]
            trace += [env.step(a)[0] for a in actions]  # crosses an episode end (auto-reset)
            seen[kind] = trace
        for a, b in zip(seen["dummy"], seen["subproc"]):
            assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
        last = seen["dummy"][-1]
        achieved = np.repeat(last["achieved_goal"], 8, axis=0)
        desired = achieved + np.random.default_rng(1).normal(0, 0.05, achieved.shape)  # some within 5 cm, some not
        rewards = {
            k: env.env_method("compute_reward", achieved, desired, [{}] * len(achieved), indices=[0])[0]
            for k, env in envs.items()
        }
        assert np.array_equal(rewards["dummy"], rewards["subproc"]) and set(np.unique(rewards["dummy"])) == {-1.0, 0.0}
    finally:
        for env in envs.values():
            env.close()


def test_auto_vec_env_uses_worker_processes_only_with_a_spare_core(monkeypatch) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    assert resolve_vec_env("auto", 2, render=True) == "dummy"  # nowhere to render while the update runs
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert resolve_vec_env("auto", 2, render=True) == "subproc" and resolve_vec_env("auto", 1, render=True) == "subproc"
    assert resolve_vec_env("auto", 4, render=False) == "dummy"  # physics alone is cheaper than a pipe round trip
    assert (
        resolve_vec_env("subproc", 1, render=False) == "subproc" and resolve_vec_env("dummy", 4, render=True) == "dummy"
    )


def test_latent_variant_trains_with_worker_process_envs(tmp_path: Path) -> None:
    params = Params.model_validate(policy_params(tmp_path, total_steps=200, vec_env="subproc"))
    make_encoder(params)
    metrics = run_policy(params, "latent_vec", seed=0, progress=False)
    assert [int(r["step"]) for r in read_eval(params.paths.runs / "latent_vec" / "0")] == [0, 100, 200]
    assert metrics["replay_bytes_per_transition"] <= 1024


def _update_counts(params: Params, overlap: bool, steps: int) -> tuple[Any, list[tuple[str, int]]]:
    """Train ``latent_vec`` for ``steps``; record the model's update count whenever actions go out to the envs
    (``async``) and whenever their results are collected (``wait``)."""
    variant = params.policy.variants["latent_vec"]
    train_env, eval_env, _ = envs_for(params, variant, 0, "cpu")
    eval_env.close()
    model = build_model(variant, train_env, 0, "cpu", params.paths.logs, overlap=overlap)
    inner = train_env.venv
    events: list[tuple[str, int]] = []
    send, collect = inner.step_async, inner.step_wait
    inner.step_async = lambda actions: (events.append(("async", model._n_updates)), send(actions))[1]
    inner.step_wait = lambda: (events.append(("wait", model._n_updates)), collect())[1]
    try:
        model.learn(steps, progress_bar=False)
    finally:
        train_env.close()
    return model, events


def test_overlapped_updates_run_while_worker_envs_step(tmp_path: Path) -> None:
    """With worker-process envs each SAC update runs between sending actions and collecting results, and a run
    makes exactly as many updates as SB3's strict alternation."""
    params = Params.model_validate(policy_params(tmp_path, vec_env="subproc"))
    make_encoder(params)
    model, events = _update_counts(params, overlap=True, steps=300)
    assert model.overlap and model._pending is None
    kinds = [k for k, _ in events]
    assert kinds == ["async", "wait"] * (len(events) // 2)
    during = [w - a for (_, a), (_, w) in zip(events[::2], events[1::2])]
    assert set(during) == {0, 1} and sum(during) == model._n_updates - 1  # the last one is settled by learn()
    plain, plain_events = _update_counts(params, overlap=False, steps=300)
    assert not plain.overlap and plain._n_updates == model._n_updates > 0
    assert all(w == a for (_, a), (_, w) in zip(plain_events[::2], plain_events[1::2]))  # SB3: never while stepping


def test_latent_reward_batch_equals_loop() -> None:
    rng = np.random.default_rng(0)
    a, d = rng.normal(size=(64, 8)), rng.normal(size=(64, 8))
    d[:10] = a[:10] + 0.01
    thr = 3.5
    batch = latent_reward(a, d, thr)
    loop = np.array([(-1.0 if np.linalg.norm(x - y) > thr else 0.0) for x, y in zip(a, d)])
    assert batch.shape == (64,) and np.array_equal(batch, loop) and (batch == 0).sum() >= 10 and (batch == -1).any()


def test_shifted_history_drops_the_oldest_and_restarts_new_episodes() -> None:
    hist = np.arange(2 * 3 * 2, dtype=np.float32).reshape(2, 3, 2)  # (n=2, k=3, D=2)
    new = np.array([[100, 101], [200, 201]], np.float32)
    out = shifted(hist, new)
    assert np.array_equal(out[:, :2], hist[:, 1:]) and np.array_equal(out[:, 2], new)
    out = shifted(hist, new, np.array([1]))
    assert np.array_equal(out[0], np.concatenate([hist[0, 1:], new[:1]])) and (out[1] == new[1]).all()
    assert np.array_equal(hist, np.arange(12, dtype=np.float32).reshape(2, 3, 2))  # the input is untouched


def test_latent_goal_env_observations_and_her_hook(tmp_path: Path) -> None:
    from pipeline.encoders import load_encoder

    params = Params.model_validate(policy_params(tmp_path))
    enc = load_encoder(make_encoder(params), device="cpu")
    variant = VariantConfig(obs="latent", encoder="vae", goal_mode="latent", frame_stack=3)
    env = GoalObsVecEnv(make_fetch_vec_env(params.env, 2, render=True), variant, enc, latent_threshold=1.0)
    obs = env.reset()
    assert obs["observation"].shape == (2, 3 * 8 + 10) and obs["desired_goal"].shape == (2, 8)
    assert not np.allclose(obs["achieved_goal"], obs["desired_goal"])  # goal image differs from the scene
    first = obs
    for t in range(params.env.max_episode_steps):
        before = obs
        obs, rewards, dones, infos = env.step(np.zeros((2, 4), np.float32))
    assert dones.all()
    term = infos[0]["terminal_observation"]
    # the finished episode's goal stays in its observations: the new episode's goal image overwrites no array
    np.testing.assert_array_equal(term["desired_goal"], first["desired_goal"][0])
    np.testing.assert_array_equal(before["desired_goal"], first["desired_goal"])
    assert not np.allclose(obs["desired_goal"], first["desired_goal"])  # the new episodes have new goal images
    assert term["observation"].shape == (3 * 8 + 10,) and term["achieved_goal"].shape == (8,)
    her = env.env_method("compute_reward", obs["achieved_goal"], obs["desired_goal"], [{}] * 2, indices=[0])[0]
    assert np.array_equal(her, latent_reward(obs["achieved_goal"], obs["desired_goal"], 1.0))
    env.close()


def test_latent_reward_of_an_episode_end_is_about_its_terminal_frame(tmp_path: Path) -> None:
    """The last step's reward compares the terminal frame with the finished episode's goal, not the next episode's
    first frame with its new goal (what the returned observation holds). Two identical runs: the first measures
    both distances, the second puts the threshold between them so that only the right pair passes."""
    from pipeline.encoders import load_encoder

    params = Params.model_validate(policy_params(tmp_path))
    enc = load_encoder(make_encoder(params), device="cpu")
    variant = VariantConfig(obs="latent", encoder="vae", goal_mode="latent")

    def last_step(threshold: float) -> tuple[np.ndarray, dict, dict]:
        env = GoalObsVecEnv(make_fetch_vec_env(params.env, 1, render=True, kind="dummy"), variant, enc, threshold)
        env.seed(3)
        env.reset()
        for _ in range(params.env.max_episode_steps):
            obs, rewards, dones, infos = env.step(np.zeros((1, 4), np.float32))
        env.close()
        assert dones.all()
        return rewards, obs, infos[0]["terminal_observation"]

    _, obs, term = last_step(1.0)
    d_term = float(np.linalg.norm(term["achieved_goal"] - term["desired_goal"]))
    d_next = float(np.linalg.norm(obs["achieved_goal"][0] - obs["desired_goal"][0]))
    assert abs(d_term - d_next) > 1e-4  # the two pairs are told apart by a threshold between them
    rewards, _, term2 = last_step((d_term + d_next) / 2)
    np.testing.assert_array_equal(term2["achieved_goal"], term["achieved_goal"])  # the runs are identical
    assert rewards[0] == (0.0 if d_term < d_next else -1.0)


def test_goal_image_redraws_the_arm_until_the_block_is_seen() -> None:
    from pipeline.envs import EnvConfig, FetchPixelEnv

    env = FetchPixelEnv(EnvConfig(image_size=32))
    obs, _ = env.reset(seed=0)
    goal = obs["desired_goal"]
    over = goal - env.fetch.initial_gripper_xpos + np.array([0.0, 0.0, 0.03])  # the gripper just above the goal
    far = np.array([0.0, 0.3, 0.15])  # the gripper off to one side
    before = env.renderer.render(env.fetch.data)
    hidden = env.render_goal(goal, over)
    assert env.goal_visibility == 1.0  # one pose, min_visible 0: not looked at
    env.render_goal(goal, over, min_visible=1e-9)
    assert env.goal_visibility < 0.5  # that pose hides most of the block
    frame = env.render_goal(goal, np.stack([over, far]), min_visible=0.9)
    assert env.goal_visibility >= 0.9 and not np.array_equal(frame, hidden)
    np.testing.assert_array_equal(frame, env.render_goal(goal, far))  # the second candidate was kept
    np.testing.assert_array_equal(env.renderer.render(env.fetch.data), before)  # the scene is restored
    env.close()


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
