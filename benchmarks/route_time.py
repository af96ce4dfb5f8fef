"""The whole pixel route's wall time from one command: collect + pretrain + RL up to the first good evaluation.

Runs ``scripts/run_isolated.sh PROFILE`` (the profile's whole stage graph, from scratch, in ``.worktrees/PROFILE``),
timestamps each stage DVC starts, watches the policy run's ``eval.csv`` and, at the first evaluation whose success
reaches ``--target``, records the time since the command started and stops the graph (``--finish`` lets it run on).
The policy checkpoint survives the stop, so the run can be continued later. The load average is sampled throughout:
the figure means "this machine to itself" only where the load stayed near the route's own ~2.

    python benchmarks/route_time.py --profile push_route --variant latent_supervised --seed 0 --target 0.9 --fresh

Writes ``data/bench/route/<profile>.json`` (a :class:`RouteResult`) and the graph's output to ``<profile>.log``.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from pipeline.report.stats import success_value

ROOT = Path(__file__).resolve().parents[1]
STAGE_LINE = re.compile(r"Running stage '([^']+)'")


@dataclasses.dataclass
class RouteResult:
    """One timed route."""

    profile: str
    variant: str
    seed: int
    target: float
    reached: bool
    """an evaluation reached ``target`` before the graph ended"""
    seconds_to_target: float | None
    """wall seconds from the command's start to the eval row at ``target`` (``None`` if never)"""
    steps_to_target: int | None
    stage_starts: dict[str, float]
    """stage name -> seconds after the command's start at which DVC started it"""
    evals: list[dict[str, float]]
    load_before: float
    """1-minute load average just before the start (near 0: the machine was free)"""
    load_mean: float
    """mean of the 1-minute load average sampled during the route"""
    cpus: int
    machine: str


def read_eval(path: Path) -> list[dict[str, float]]:
    """The rows of an ``eval.csv`` written so far (none if it does not exist yet; a half-written row is skipped)."""
    if not path.is_file():
        return []
    with path.open() as f:
        rows = []
        for r in csv.DictReader(f):
            try:
                rows.append({k: success_value(v) if k == "success" else float(v) for k, v in r.items()})
            except (TypeError, ValueError):
                continue
    return rows


def first_at_target(rows: list[dict[str, float]], target: float) -> dict[str, float] | None:
    """The first evaluation with ``success >= target`` (after step 0), or ``None``."""
    return next((r for r in rows if r["step"] > 0 and r["success"] >= target), None)


def stage_name(line: str) -> str | None:
    """The stage a line of ``dvc repro`` output starts, e.g. ``pretrain@supervised``, else ``None``."""
    m = STAGE_LINE.search(line)
    return m.group(1) if m else None


def time_route(profile: str, variant: str, seed: int, target: float, finish: bool, out: Path) -> RouteResult:
    """Run the profile's graph from one command and time it to the first evaluation at ``target``."""
    wt = ROOT / ".worktrees" / profile
    eval_csv = wt / "data" / "runs" / variant / str(seed) / "eval.csv"
    out.mkdir(parents=True, exist_ok=True)
    starts: dict[str, float] = {}
    loads: list[float] = []
    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    with (out / f"{profile}.log").open("w") as log:
        proc = subprocess.Popen(
            ["scripts/run_isolated.sh", profile],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
            env={**os.environ, "TQDM_DISABLE": "1"},
        )

        def pump() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                log.write(line)
                log.flush()
                name = stage_name(line)
                if name is not None:
                    starts[name] = round(time.perf_counter() - t0, 1)
                    print(f"[{starts[name]:7.0f} s] {name}", flush=True)

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        hit = None
        while proc.poll() is None:
            time.sleep(5)
            loads.append(os.getloadavg()[0])
            hit = hit or first_at_target(read_eval(eval_csv), target)
            if hit is not None and "seconds" not in hit:
                hit["seconds"] = round(time.perf_counter() - t0, 1)
                at = f"success {hit['success']:.2f} at {int(hit['step'])} env steps"
                print(f"[{hit['seconds']:7.0f} s] {at}", flush=True)
                if not finish:
                    os.killpg(proc.pid, signal.SIGINT)  # the policy checkpoint of the eval just written survives
                    try:
                        proc.wait(timeout=30)  # dvc does not always pass SIGINT on; the checkpoint is on disk
                    except subprocess.TimeoutExpired:
                        os.killpg(proc.pid, signal.SIGKILL)
                    break
        proc.wait()
        reader.join(timeout=5)
    return RouteResult(
        profile=profile,
        variant=variant,
        seed=seed,
        target=target,
        reached=hit is not None,
        seconds_to_target=None if hit is None else hit["seconds"],
        steps_to_target=None if hit is None else int(hit["step"]),
        stage_starts=starts,
        evals=read_eval(eval_csv),
        load_before=round(load_before, 2),
        load_mean=round(sum(loads) / max(len(loads), 1), 2),
        cpus=os.cpu_count() or 0,
        machine=f"{platform.machine()} {platform.processor() or platform.platform()}",
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="push_route", help="profiles/<name>.yaml whose whole graph is timed")
    ap.add_argument("--variant", default="latent_supervised", help="the policy run watched (in the profile's run)")
    ap.add_argument("--seed", type=int, default=0, help="its seed (in the profile's seeds)")
    ap.add_argument("--target", type=float, default=0.9, help="eval success that ends the route")
    ap.add_argument("--finish", action="store_true", help="let the graph run to its end after the target")
    ap.add_argument("--fresh", action="store_true", help="remove .worktrees/PROFILE first (its data is lost)")
    ap.add_argument("--out", type=Path, default=ROOT / "data" / "bench" / "route")
    args = ap.parse_args(argv)
    if not 0.0 < args.target <= 1.0:
        ap.error(f"--target must be in (0, 1], got {args.target}")
    if not (ROOT / "profiles" / f"{args.profile}.yaml").is_file():
        ap.error(f"--profile: no profiles/{args.profile}.yaml")
    wt = ROOT / ".worktrees" / args.profile
    if wt.exists():
        if not args.fresh:
            ap.error(
                f"{wt} exists: its finished stages would be reused and the time would not be the whole route; "
                "pass --fresh to remove it (its data is lost), or choose another profile name"
            )
        subprocess.run(["git", "worktree", "remove", "--force", str(wt)], cwd=ROOT, check=False)
        shutil.rmtree(wt, ignore_errors=True)
        subprocess.run(["git", "worktree", "prune"], cwd=ROOT, check=False)
    res = time_route(args.profile, args.variant, args.seed, args.target, args.finish, args.out)
    (args.out / f"{args.profile}.json").write_text(json.dumps(dataclasses.asdict(res), indent=2))
    got = f"{res.seconds_to_target / 60:.1f} min ({res.steps_to_target} env steps)" if res.reached else "never"
    print(
        f"route {args.profile}: {args.variant} seed {args.seed} first >= {args.target} after {got}; "
        f"stages {res.stage_starts}; load {res.load_before} before, {res.load_mean} mean on {res.cpus} CPUs"
    )
    return 0 if res.reached else 1


if __name__ == "__main__":
    sys.exit(main())
