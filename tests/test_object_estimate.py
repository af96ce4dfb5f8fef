"""The ``object_estimate`` diagnostic: proprio + the block position with a known error, an encoder stand-in."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from pipeline.config import Params
from pipeline.policy.blocks import ObjectEstimateConfig
from pipeline.policy.config import VariantConfig
from pipeline.policy.vec_backend import make_fetch_vec_env
from pipeline.policy.vecenv import GoalObsVecEnv

from .conftest import tiny_params_dict


def estimate_env(tmp_path: Path, seed: int = 0, **error: float) -> GoalObsVecEnv:
    params = Params.model_validate(tiny_params_dict(tmp_path))
    variant = VariantConfig(obs="proprio", object_estimate=ObjectEstimateConfig(**error))
    return GoalObsVecEnv(make_fetch_vec_env(params.env, 2, render=False, kind="dummy"), variant, seed=seed)


def errors(env: GoalObsVecEnv, steps: int) -> np.ndarray:
    """Estimate minus true block position over ``steps`` vectorised steps (terminal observations included)."""
    rng = np.random.default_rng(0)
    env.seed(7)
    obs = env.reset()
    out = [obs["observation"][:, -3:] - obs["achieved_goal"]]
    for _ in range(steps):
        obs, _, dones, infos = env.step(rng.uniform(-1, 1, (2, 4)).astype(np.float32))
        out.append(obs["observation"][:, -3:] - obs["achieved_goal"])
        for i in np.flatnonzero(dones):
            term = infos[i]["terminal_observation"]
            out.append((term["observation"][-3:] - term["achieved_goal"])[None])
    return np.concatenate(out)  # (m, 3)


def test_exact_estimate_is_the_block_position_after_proprio(tmp_path: Path) -> None:
    env = estimate_env(tmp_path)
    assert env.observation_space["observation"].shape == (10 + 3,)
    err = errors(env, 25)
    assert np.abs(err).max() < 1e-6
    env.close()


def test_estimate_error_follows_the_model_and_the_seed(tmp_path: Path) -> None:
    noisy = estimate_env(tmp_path, std=0.02)
    err = errors(noisy, 200)
    assert abs(err.std() - 0.02) < 0.003 and abs(err.mean()) < 0.003
    assert np.array_equal(err, errors(noisy, 200))  # reseeded -> the same errors
    noisy.close()
    gross = estimate_env(tmp_path, outliers=1.0, outlier_std=0.1)
    err = errors(gross, 100)
    assert abs(err[:, :2].std() - 0.1) < 0.015 and np.abs(err[:, 2]).max() < 1e-6  # misreads are horizontal
    gross.close()


def test_object_estimate_needs_proprio_without_prior_data() -> None:
    with pytest.raises(ValidationError, match="object_estimate needs obs: proprio"):
        VariantConfig(obs="state", object_estimate={"std": 0.01})
    with pytest.raises(ValidationError, match="object_estimate needs obs: proprio"):
        VariantConfig(obs="proprio", prior_data=True, object_estimate={})
    with pytest.raises(ValidationError):
        VariantConfig(obs="proprio", object_estimate={"outliers": 1.5})


def test_misreads_near_the_block_only(tmp_path: Path) -> None:
    env = estimate_env(tmp_path, outliers=1.0, outliers_near=0.08)
    rng = np.random.default_rng(0)
    env.seed(3)
    obs = env.reset()
    near_err, far_err = [], []
    for _ in range(60):
        raw = env.raw_observations()
        near = np.linalg.norm(raw["proprio"][:, :2] - raw["achieved_goal"][:, :2], axis=1) < 0.08  # (2,)
        err = np.linalg.norm(obs["observation"][:, -3:] - obs["achieved_goal"], axis=1)  # (2,)
        near_err += list(err[near])
        far_err += list(err[~near])
        obs, *_ = env.step(rng.uniform(-1, 1, (2, 4)).astype(np.float32))
    assert far_err and max(far_err) < 1e-6
    assert near_err and min(near_err) > 0
    env.close()
