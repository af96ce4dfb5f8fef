"""``python -m pipeline.launch [--backend local|ray] [--jobs N] [--address ADDR] [--variants V ..] [--seeds S ..]``:
run the sweep the params ask for (``pretrain.encoders``, ``policy.run`` x ``policy.seeds``) with every stage instance
a task, on this machine or a Ray cluster, then the report through DVC (unless ``--no-report``). Only the stages
``dvc status`` reports changed run (and what follows them); each finished one is recorded in ``dvc.lock`` by the
driver, so afterwards ``dvc status`` reports the graph up to date. The tree must be clean (the code is pinned to one
commit for the whole sweep) unless ``--allow-dirty``. ``--variants`` / ``--seeds`` run part of the sweep (those runs,
the encoders they read and what those need, e.g. on a machine that holds nothing else), without the report."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from pipeline.config import load_params
from pipeline.launch.backends import LocalBackend, RayBackend
from pipeline.launch.plan import dvc, dvc_changed, narrowed, plan, to_run
from pipeline.launch.sweep import sweep
from pipeline.params import DEFAULT_PARAMS, ParamsError


def git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], capture_output=True, text=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", choices=("local", "ray"), default="local")
    parser.add_argument("--jobs", type=int, default=2, help="local: tasks at once")
    parser.add_argument("--address", default=None, help="ray: the cluster (default: a local one; 'auto': ray start)")
    parser.add_argument("--num-cpus", type=int, default=None, help="ray, local cluster: its CPUs")
    parser.add_argument("--allow-dirty", action="store_true", help="run with uncommitted changes to code or params")
    parser.add_argument("--params", type=Path, default=DEFAULT_PARAMS)
    parser.add_argument("--variants", nargs="+", default=None, help="part of the sweep: these runs and their encoders")
    parser.add_argument("--seeds", nargs="+", type=int, default=None, help="part of the sweep: these seeds")
    parser.add_argument("--no-report", action="store_true", help="run the tasks only, not the report after them")
    args = parser.parse_args(argv)
    try:
        params = load_params(args.params)
        sweep_params = narrowed(params, args.variants, args.seeds)
    except ParamsError as exc:
        sys.exit(f"error: {exc}")
    commit = git("rev-parse", "HEAD").stdout.strip() or None
    dirty = git("status", "--porcelain", "--untracked-files=no", "--", "pipeline", "params.yaml", "dvc.yaml").stdout
    if dirty.strip() and not args.allow_dirty:
        sys.exit(f"error: uncommitted changes to the code or params (the sweep pins one commit):\n{dirty}"
                 "commit them, or pass --allow-dirty")  # fmt: skip
    pinned = None if args.allow_dirty else commit
    tasks = to_run(plan(sweep_params), dvc_changed(Path.cwd()))
    print(f"launch: {len(tasks)} tasks to run at {commit or 'no commit'} on {args.backend}", flush=True)
    backend = (
        LocalBackend(args.jobs, params.launch.retries)
        if args.backend == "local"
        else RayBackend(args.address, params.launch.retries, args.num_cpus)
    )
    for folder in (params.paths.encoders, params.paths.goal_spaces):  # policy_inputs' DVC deps, as whole folders:
        folder.mkdir(parents=True, exist_ok=True)  # empty where a part of the sweep reads no encoder, not missing
    logs = params.paths.logs / "launch"
    state = sweep(tasks, backend, Path.cwd(), pinned, logs, params.paths.runs)
    if state.failed or state.skipped:
        sys.exit(f"launch: {len(state.failed)} failed, {len(state.skipped)} skipped; logs under {logs}")
    if args.no_report or sweep_params != params:  # the report is of the whole sweep
        print(f"launch: {len(state.done)} tasks done; no report for part of the sweep: `dvc repro report` makes it")
        return
    subprocess.run(dvc("repro", "report"), check=True)
    print(f"launch: {len(state.done)} tasks done; report in {params.paths.report}")


if __name__ == "__main__":
    main()
