"""Policy envs in worker processes: the same frames and rewards as in-process envs, when ``auto`` picks them, and
SAC updates overlapped with their stepping (as many as SB3's strict alternation)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.config import Params
from pipeline.policy.train import build_model
from pipeline.policy.vec_backend import make_fetch_vec_env, resolve_vec_env

from .policy_helpers import envs_for, make_encoder, policy_params, read_eval, run_policy


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
