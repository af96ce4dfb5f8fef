"""The sweep launcher: the tiny graph's 2 variants x 2 seeds as tasks on this machine (local backend) and on a local
Ray cluster; each run equals the sequential ``dvc repro``'s, and DVC reports the graph up to date afterwards."""

from __future__ import annotations

import csv
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from pipeline.config import Params
from pipeline.launch.backends import PINNED, LocalBackend, run_task
from pipeline.launch.plan import Task, plan, to_run
from pipeline.profile import merged

from .test_dvc_graph import ROOT, sh

SEEDS = [0, 1]


def make_repo(root: Path) -> Path:
    """A fresh repo: the code, dvc.yaml and the tiny profile with 2 seeds as params.yaml, committed."""
    shutil.copytree(ROOT / "pipeline", root / "pipeline", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "profiles", root / "profiles")
    shutil.copy(ROOT / "dvc.yaml", root / "dvc.yaml")
    params = merged("tiny", ROOT)
    params["policy"]["seeds"] = SEEDS
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    (root / ".gitignore").write_text("/data/\n__pycache__/\n/results/\n")
    for cmd in (["git", "init", "-q"], ["git", "config", "user.email", "ci@example.com"],
                ["git", "config", "user.name", "ci"], ["dvc", "init", "-q"], ["git", "add", "-A"],
                ["git", "commit", "-qm", "tiny"]):  # fmt: skip
        sh(root, *cmd)
    return root


def curves(repo: Path, variant: str, seed: int) -> list[tuple[str, ...]]:
    """A run's eval.csv without its timings."""
    with (repo / "results" / "runs" / variant / str(seed) / "eval.csv").open() as f:
        return [(r["step"], r["success"], r["final_object_distance"], r["reward_success"]) for r in csv.DictReader(f)]


def test_plan_follows_the_graph() -> None:
    params = Params.model_validate(yaml.safe_load(yaml.safe_dump(merged("tiny", ROOT))))
    tasks = {t.name: t for t in plan(params)}
    assert tasks["pretrain@vae"].after == ("collect",) and tasks["goal_space@vae"].after == ("pretrain@vae",)
    assert tasks["policy_inputs@state"].after == ("collect", "goal_space@vae")
    assert tasks["policy@latent_vae-0"].after == ("policy_inputs@latent_vae",)
    assert tasks["policy@state-0"].argv == ("python", "-m", "pipeline.policy", "--variant", "state", "--seed", "0")
    assert [t.name for t in to_run(list(tasks.values()), {"goal_space@vae"})] == [
        "goal_space@vae", "policy_inputs@state", "policy@state-0", "policy_inputs@latent_vae", "policy@latent_vae-0"
    ]  # fmt: skip


def test_a_failed_task_is_retried_and_a_task_at_another_commit_refused(tmp_path: Path) -> None:
    flag = tmp_path / "first"
    script = f"import pathlib, sys; p = pathlib.Path({str(flag)!r}); sys.exit(0 if p.exists() else p.touch() or 9)"
    backend = LocalBackend(1, retries=1)
    handle = backend.submit(Task("t", ("python", "-c", script), ()), str(tmp_path), str(tmp_path / "t.log"), None)
    assert backend.result(handle) == 0 and flag.exists()  # failed once (exit 9), then ran again
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    assert run_task(("python", "-c", "pass"), str(tmp_path), str(tmp_path / "p.log"), "0" * 40) == PINNED
    assert "the sweep at 0000" in (tmp_path / "p.log").read_text()


@pytest.mark.slow  # ~3 min: the tiny graph twice
@pytest.mark.parametrize("backend", ["local", "ray"])
def test_launch_matches_dvc_repro_and_leaves_dvc_up_to_date(tmp_path: Path, backend: str) -> None:
    if backend == "ray":
        pytest.importorskip("ray", reason="the cluster extra: pip install -e '.[cluster]'")
    sequential = make_repo(tmp_path / "sequential")
    sh(sequential, "dvc", "repro")
    launched = make_repo(tmp_path / "launched")
    extra = ["--jobs", "2"] if backend == "local" else ["--backend", "ray", "--num-cpus", "2"]
    out = sh(launched, "python", "-m", "pipeline.launch", *extra).stdout
    assert " failed (" not in out and "tasks done" in out
    status = sh(launched, "dvc", "status").stdout
    assert "changed" not in status and "modified" not in status, status
    for variant in ("state", "latent_vae"):
        for seed in SEEDS:
            assert curves(launched, variant, seed) == curves(sequential, variant, seed), (variant, seed)
    again = sh(launched, "python", "-m", "pipeline.launch").stdout
    assert "launch: 0 tasks to run" in again


def test_progress_counts_a_task_queued_for_a_worker_as_waiting(tmp_path: Path) -> None:
    """Two workers, three tasks submitted: the line says 2 running, 1 waiting, with each running run's success."""
    import threading

    from pipeline.launch.sweep import Sweep, progress

    run = tmp_path / "runs" / "state" / "0"
    run.mkdir(parents=True)
    (run / "eval.csv").write_text("step,success\n0,0.0\n10000,0.4\n")
    gate = threading.Event()
    tasks = [Task(f"policy@state-{s}", ("python", "-m", "pipeline.policy", "--variant", "state", "--seed", str(s)),
                  ()) for s in range(3)]  # fmt: skip
    backend = LocalBackend(2, retries=0)
    with backend.pool as pool:
        handles = [pool.submit(gate.wait) for _ in tasks]
        while not (handles[0].running() and handles[1].running()):
            gate.wait(0.01)
        line = progress(Sweep(done=["collect"]), dict(zip(handles, tasks)), 4, tmp_path / "runs", backend)
        gate.set()
    assert line == "launch: 1 done, 2 running, 0 failed, 5 waiting | policy@state-0 0.40 at 10000, policy@state-1"


def test_launch_refuses_a_dirty_tree(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    (repo / "params.yaml").write_text((repo / "params.yaml").read_text() + "\n# changed\n")
    out = sh(repo, "python", "-m", "pipeline.launch", check=False)
    assert out.returncode != 0 and "uncommitted changes" in out.stderr


@pytest.mark.slow  # ~2 min
def test_a_killed_run_is_retried_and_resumes(tmp_path: Path) -> None:
    """The state run's process is killed after its first checkpoint: the launcher runs it again, it resumes from
    that checkpoint, and it ends where an uninterrupted run ends."""
    import os
    import sys
    import time

    repo = make_repo(tmp_path / "repo")
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["policy"].update(total_steps=400, seeds=[0], run=["state"])
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    sh(repo, "git", "commit", "-qam", "longer state run")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    driver = subprocess.Popen([sys.executable, "-m", "pipeline.launch", "--jobs", "1"], cwd=repo, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    checkpoint = repo / "data" / "checkpoints" / "policy" / "state" / "0" / "state.json"
    deadline = time.time() + 600
    while not checkpoint.exists() and time.time() < deadline:
        time.sleep(0.2)
    killed = subprocess.run(["pkill", "-9", "-f", "pipeline.policy --variant state --seed 0"]).returncode == 0
    out, _ = driver.communicate(timeout=900)
    assert killed and driver.returncode == 0, out
    log = (repo / "data" / "logs" / "launch" / "policy_state-0.log").read_text()
    assert "resuming state/0 from step" in log, log[-2000:]
    steps = [row[0] for row in curves(repo, "state", 0)]
    assert steps[-1] == "400" and len(steps) == len(set(steps)), steps  # to the end, no step evaluated twice
    assert "changed" not in sh(repo, "dvc", "status").stdout


def test_a_stage_that_left_no_output_fails_with_dvcs_reason(tmp_path: Path) -> None:
    """The driver's ``dvc commit`` of a stage that exited 0 without writing an output it declares: the failure names
    the output (the study's pretrain@frozen once failed with an empty reason)."""
    from pipeline.launch.sweep import record

    (tmp_path / "dvc.yaml").write_text("stages:\n  s:\n    cmd: 'true'\n    outs: [never_written]\n")
    for cmd in (["git", "init", "-q"], ["dvc", "init", "-q"]):
        sh(tmp_path, *cmd)
    why = record(tmp_path, "s")
    assert why.startswith("dvc commit failed:") and "never_written" in why and "does not exist" in why
    (tmp_path / "never_written").write_text("now it is")
    assert record(tmp_path, "s") == ""


def test_part_of_the_sweep_plans_its_runs_and_encoders_and_makes_no_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--variants`` / ``--seeds`` plan only those runs and the encoders they read; a part never calls the report.
    Where it reads no encoder, the folders ``policy_inputs`` hashes exist, empty (DVC cannot record a missing dep)."""
    import pipeline.launch.__main__ as launch
    from pipeline.launch.sweep import Sweep

    monkeypatch.chdir(tmp_path)

    planned, calls = [], []
    monkeypatch.setattr(launch, "git", lambda *a: subprocess.CompletedProcess(a, 0, "", ""))
    monkeypatch.setattr(launch, "dvc_changed", lambda root: {"collect"})  # a clone without the cache: all follows
    monkeypatch.setattr(launch, "sweep", lambda tasks, *a: planned.append([t.name for t in tasks]) or Sweep())
    monkeypatch.setattr(launch.subprocess, "run", lambda *a, **k: calls.append(a))
    tiny = str(ROOT / "profiles" / "tiny.yaml")
    params = Params.model_validate(yaml.safe_load(yaml.safe_dump(merged("tiny", ROOT))))
    monkeypatch.setattr(launch, "load_params", lambda path: params)
    launch.main(["--params", tiny, "--variants", "state", "--seeds", "0"])
    assert planned[-1] == ["collect", "policy_inputs@state", "policy@state-0"] and calls == []  # reads no encoder
    assert not any(params.paths.encoders.iterdir()) and params.paths.goal_spaces.is_dir()
    launch.main(["--params", tiny, "--variants", "latent_vae"])
    assert planned[-1][:3] == ["collect", "pretrain@vae", "goal_space@vae"] and "policy@state-0" not in planned[-1]
    launch.main(["--params", tiny, "--no-report"])
    assert calls == []
    launch.main(["--params", tiny])  # the whole sweep: the report after it
    assert calls and calls[-1][0][-2:] == ["repro", "report"]
    with pytest.raises(SystemExit, match="--seeds \\[7\\]: not in the sweep"):
        launch.main(["--params", tiny, "--seeds", "7"])
