"""The stage graph: the tiny profile end to end with real DVC in a temporary git repo."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pipeline.profile import merged

ROOT = Path(__file__).parents[1]


def sh(cwd: Path, *cmd: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1"}
    result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env, timeout=600)
    if check and result.returncode:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh clone-like repo: the code, dvc.yaml and the tiny profile as params.yaml."""
    root = tmp_path_factory.mktemp("study")
    shutil.copytree(ROOT / "pipeline", root / "pipeline", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "profiles", root / "profiles")
    shutil.copy(ROOT / "dvc.yaml", root / "dvc.yaml")
    (root / "params.yaml").write_text(yaml.safe_dump(merged("tiny", ROOT), sort_keys=False))
    (root / ".gitignore").write_text("/data/\n__pycache__/\n")
    sh(root, "git", "init", "-q")
    sh(root, "git", "config", "user.email", "ci@example.com")
    sh(root, "git", "config", "user.name", "ci")
    sh(root, "dvc", "init", "-q")
    sh(root, "git", "add", "-A")
    sh(root, "git", "commit", "-qm", "tiny study")
    return root


def ran(output: str) -> set[str]:
    return {line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage")}


def test_repro_runs_the_graph_then_is_a_noop(repo: Path) -> None:
    first = sh(repo, "dvc", "repro")
    assert ran(first.stdout) == {"collect", "pretrain@vae", "policy@state-0", "policy@latent_vae-0", "report"}
    report = repo / "data" / "report"
    assert "| state | 1 |" in (report / "report.md").read_text()
    assert (report / "success.png").stat().st_size > 1000
    metrics = json.loads((report / "metrics.json").read_text())
    assert set(metrics["policy"]) == {"state", "latent_vae"} and "vae" in metrics["pretrain"]
    second = sh(repo, "dvc", "repro")
    assert ran(second.stdout) == set()
    shown = sh(repo, "dvc", "exp", "show", "--csv").stdout
    assert "data/runs/state/0/metrics.json:final_success" in shown and "policy.state.final_success_iqm" in shown
    sh(repo, "dvc", "plots", "show", "--json")


def test_policy_param_change_reruns_only_policy_and_report(repo: Path) -> None:
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["policy"]["variants"]["state"]["sac"]["batch_size"] = 8
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    out = sh(repo, "dvc", "repro")
    assert ran(out.stdout) == {"policy@state-0", "report"}


def test_bad_param_stops_repro_with_the_stage_error(repo: Path) -> None:
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["collect"]["episodes"] = 0
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    out = sh(repo, "dvc", "repro", check=False)
    assert out.returncode != 0
    assert "`collect.episodes`: Input should be greater than or equal to 1" in out.stderr + out.stdout
    assert not (repo / "data" / "dataset.zarr").exists() and not list((repo / "data").glob("dataset.zarr*"))
