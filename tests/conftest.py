"""Shared fixtures: tiny versions of the real params (small images, few episodes)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import yaml

import pipeline  # noqa: F401  (sets MUJOCO_GL=egl before mujoco is imported)
from pipeline.errors import DEBUG_ENV


def load_benchmark(name: str) -> ModuleType:
    """Import ``benchmarks/<name>.py`` (not a package) as module ``name``, to test its pure parts."""
    folder = Path(__file__).resolve().parents[1] / "benchmarks"
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))  # benchmarks import their siblings, as when run as scripts
    path = folder / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def tiny_params_dict(tmp_path: Path, **overrides: dict) -> dict:
    """The real params.yaml shrunk: 24 px frames, short episodes, a handful of episodes."""
    params = yaml.safe_load(Path(__file__).parents[1].joinpath("params.yaml").read_text())
    params["env"].update(image_size=24, max_episode_steps=10)
    params["collect"].update(episodes=3, workers=1, seed=7)
    params["paths"] = {k: str(tmp_path / Path(v).name) for k, v in params["paths"].items()}
    for section, values in overrides.items():
        params.setdefault(section, {}).update(values)
    return {k: v for k, v in params.items() if k in ("env", "collect", "paths", *overrides)}


def write_params(tmp_path: Path, params: dict, name: str = "params.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(params))
    return path


def task_rewards(env, batch) -> np.ndarray:
    """The env's own ``compute_reward`` on a replay batch's (raw) next achieved and desired goals, ``(B,)``."""
    n = len(batch.rewards)
    achieved = batch.next_observations["achieved_goal"].numpy()
    return env.env_method(
        "compute_reward", achieved, batch.observations["desired_goal"].numpy(), [{}] * n, indices=[0]
    )[0]


@pytest.fixture(autouse=True)
def _no_debug_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test starts without ``PIPELINE_DEBUG`` and leaves none behind: ``--debug`` sets it in ``os.environ``
    for the whole process, which would give the one-line error tests that follow in that worker a traceback."""
    monkeypatch.setenv(DEBUG_ENV, "")  # recorded first, so the undo removes what a test's --debug set
    monkeypatch.delenv(DEBUG_ENV)


@pytest.fixture
def tiny_params(tmp_path: Path) -> dict:
    return tiny_params_dict(tmp_path)


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small real Push dataset (32 px, 6 episodes of 20 steps, half scripted) shared by tests."""
    from pipeline.collect.core import collect
    from pipeline.config import Params

    tmp = tmp_path_factory.mktemp("dataset")
    p = tiny_params_dict(tmp, collect={"episodes": 6, "workers": 2, "scripted_fraction": 0.5})
    p["env"].update(image_size=32, max_episode_steps=20)
    params = Params.model_validate(p)
    collect(params.env, params.collect, params.paths.dataset, progress=False)
    write_params(tmp, p)
    return params.paths.dataset


@pytest.fixture(scope="session")
def policy_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished tiny ``state`` run (checkpoint at step 100) with an encoder beside it; copy before changing."""
    from .faults_helpers import make_policy_run  # here, not at the top: faults_helpers imports this module

    return make_policy_run(tmp_path_factory.mktemp("policy_run"))


@pytest.fixture(scope="session")
def published(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A dataset collected alone with the tiny params (3 episodes of 11 frames, 24 px); copy before changing."""
    from pipeline.collect.core import collect
    from pipeline.config import Params

    folder = tmp_path_factory.mktemp("published")
    params = Params.model_validate(tiny_params_dict(folder))
    collect(params.env, params.collect, params.paths.dataset, progress=False)
    return params.paths.dataset
