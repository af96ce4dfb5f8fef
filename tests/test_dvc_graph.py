"""The stage graph: the tiny profile end to end with real DVC in a temporary git repo."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
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
    assert ran(first.stdout) == {
        "collect",
        "pretrain@vae",
        "goal_space@vae",
        "policy_inputs@state",
        "policy_inputs@latent_vae",
        "policy@state-0",
        "policy@latent_vae-0",
        "report",
    }
    report = repo / "results" / "report"
    assert "| state | 1 |" in (report / "report.md").read_text()
    assert (report / "success.png").stat().st_size > 1000
    metrics = json.loads((report / "metrics.json").read_text())
    assert set(metrics["policy"]) == {"state", "latent_vae"} and "vae" in metrics["pretrain"]
    second = sh(repo, "dvc", "repro")
    assert ran(second.stdout) == set()
    shown = sh(repo, "dvc", "exp", "show", "--csv").stdout
    assert "results/runs/state/0/summary.json:final_success" in shown and "policy.state.seeds" in shown
    assert "probe_object_mm" in shown.splitlines()[0]  # the encoders' probes are metrics too (one file: no path)
    sh(repo, "dvc", "plots", "show", "--json")


def test_a_clone_without_the_cache_remakes_the_report(repo: Path, tmp_path: Path) -> None:
    """What git holds (results/) is all the report reads: no dataset, no encoder weights, no checkpoints."""
    clone = tmp_path / "clone"
    shutil.copytree(repo, clone, ignore=shutil.ignore_patterns("data", "cache"))
    before = (clone / "results" / "report" / "report.md").read_text()
    shutil.rmtree(clone / "results" / "report")
    sh(clone, "dvc", "repro", "--single-item", "--force", "report")
    after = (clone / "results" / "report" / "report.md").read_text()
    assert after == before and "| vae | " in after


def test_policy_param_change_reruns_only_policy_and_report(repo: Path) -> None:
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["policy"]["variants"]["state"]["sac"]["batch_size"] = 8
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    out = sh(repo, "dvc", "repro")
    assert ran(out.stdout) == {"policy_inputs@state", "policy@state-0", "report"}  # its inputs stage: same hash


def test_encoder_change_reruns_only_the_runs_that_use_it(repo: Path) -> None:
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["pretrain"]["vae"]["beta"] = 2.0
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    out = sh(repo, "dvc", "repro")
    assert {"pretrain@vae", "policy@latent_vae-0", "report"} <= ran(out.stdout)
    assert "policy@state-0" not in ran(out.stdout)  # state reads no encoder
    assert json.loads((repo / "data" / "inputs" / "state.json").read_text())["encoder"] is None


def experiments(shown: list) -> dict[str, dict]:
    """``dvc exp show --json`` -> {experiment name: its metrics {path: {key: value}}}."""
    out: dict[str, dict] = {}

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if node.get("name") and isinstance(node.get("data"), dict) and "metrics" in node["data"]:
                metrics = node["data"]["metrics"] or {}
                out[node["name"]] = {path: m.get("data", {}) for path, m in metrics.items()}
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(shown)
    return out


@pytest.mark.slow  # ~70 s: two whole experiments of the tiny graph
def test_experiments_keep_their_results(repo: Path) -> None:
    """Two `dvc exp run -S` experiments: `dvc exp show` reads both experiments' own metrics back."""
    sh(repo, "git", "checkout", "params.yaml")
    for name, batch in (("bs12", 12), ("bs10", 10)):
        sh(repo, "dvc", "exp", "run", "-n", name, "-S", f"policy.variants.state.sac.batch_size={batch}")
    exps = experiments(json.loads(sh(repo, "dvc", "exp", "show", "--json").stdout))
    for name in ("bs12", "bs10"):
        summary = exps[name]["results/runs/state/0/summary.json"]
        reported = exps[name]["results/report/metrics.json"]["policy"]["state"]
        assert summary["total_steps"] == 100 and reported["seeds"] == 1
        assert reported["final_success"] == pytest.approx(summary["final_success"])  # the report read this run
    # README's narrow view: the report's aggregate per variant (--keep matches whole column names)
    narrow = sh(repo, "dvc", "exp", "show", "--drop", ".*", "--keep", r"Experiment|policy\..*\.final_success").stdout
    assert "bs12" in narrow and "policy.state.final_success" in narrow and "summary.json" not in narrow
    assert max(len(line) for line in narrow.splitlines()) <= 100
    diff = json.loads(sh(repo, "dvc", "plots", "diff", "bs12", "bs10", "--json").stdout)
    assert diff["data"]["results/runs/state/0/eval.csv"][0]["revisions"] == ["bs12", "bs10"]
    sh(repo, "git", "checkout", "params.yaml")


@pytest.mark.slow
def test_queued_seeds_run_in_parallel_workers(repo: Path) -> None:
    """`dvc exp run --queue` for two seeds, `dvc queue start -j 2`: `dvc exp show` lists both."""
    for seed in (1, 2):
        sh(repo, "dvc", "exp", "run", "--queue", "-n", f"seed{seed}", "-S", f"policy.seeds=[{seed}]")
    sh(repo, "dvc", "queue", "start", "-j", "2")
    deadline = time.time() + 900
    while time.time() < deadline:
        status = sh(repo, "dvc", "queue", "status").stdout
        if not any(word in status for word in ("Queued", "Running")):
            break
        time.sleep(5)
    assert "Failed" not in status, status
    exps = experiments(json.loads(sh(repo, "dvc", "exp", "show", "--json").stdout))
    for seed in (1, 2):
        assert exps[f"seed{seed}"][f"results/runs/state/{seed}/summary.json"]["total_steps"] == 100


def test_bad_param_stops_repro_with_the_stage_error(repo: Path) -> None:
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["collect"]["episodes"] = 0
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    out = sh(repo, "dvc", "repro", check=False)
    assert out.returncode != 0
    assert "`collect.episodes`: Input should be greater than or equal to 1" in out.stderr + out.stdout
    left = [p.name for p in (repo / "data").glob("dataset.zarr*") if not p.name.endswith((".lock", ".lock.owner"))]
    assert not (repo / "data" / "dataset.zarr").exists() and not left  # an earlier run's lock file is no output
    assert not (repo / "data" / "dataset.zarr.lock.owner").exists()  # nobody holds the lock


def test_bytecode_is_not_part_of_a_stages_code() -> None:
    """A stage's code dependency hashes the sources only: the ``__pycache__`` any import writes beside them (absent
    from a clone, different per Python) must not make ``dvc status`` report the code changed."""
    from dvc.repo import Repo

    with Repo(str(ROOT)) as repo:
        ignored = repo.dvcignore.is_ignored_file
        assert ignored(str(ROOT / "pipeline" / "collect" / "__pycache__" / "core.cpython-311.pyc"))
        assert ignored(str(ROOT / "pipeline" / "io.pyc"))
        assert not ignored(str(ROOT / "pipeline" / "collect" / "core.py"))
