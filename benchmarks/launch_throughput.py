"""The launcher's throughput against DVC's own queue, side by side: the same policy runs, two at a time.

Run (repo root, venv active, a clean tree)::

    python benchmarks/launch_throughput.py --profile quick [--backend local|ray] [--jobs 2]

Makes two fresh clones of HEAD with the profile as their ``params.yaml`` (committed), runs everything before the
policy stages in each (untimed: ``dvc repro policy_inputs``), then times the policy runs ``policy.run`` x
``policy.seeds`` (a) queued as one DVC experiment per run (``dvc exp run --queue -S policy.run=[v] -S
policy.seeds=[s]``) and run by ``dvc queue start -j N``, and (b) by ``python -m pipeline.launch`` with N jobs.
Prints both wall times and their ratio, and the load average before and after (the issue's target: the launcher
within 10 % of the queue on this 2-core machine).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from pipeline.profile import merged  # noqa: E402


def sh(cwd: Path, *cmd: str) -> str:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1"}
    return subprocess.run(cmd, cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout


def clone(profile: str, where: Path) -> tuple[Path, dict]:
    """A clone of HEAD with the profile committed as params.yaml, its graph up to the policy stages run."""
    sh(ROOT, "git", "clone", "-q", str(ROOT), str(where))
    params = merged(profile, ROOT)
    (where / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    sh(where, "git", "commit", "-qam", f"profile {profile}")
    sh(where, "dvc", "repro", "policy_inputs")
    return where, params


def queued(repo: Path, params: dict, jobs: int) -> float:
    """Seconds for ``dvc queue start -j jobs`` to run one experiment per policy run."""
    for v in params["policy"]["run"]:
        for s in params["policy"]["seeds"]:
            sh(repo, "dvc", "exp", "run", "--queue", "-n", f"{v}-{s}", "-S", f"policy.run=[{v}]", "-S",
               f"policy.seeds=[{s}]")  # fmt: skip
    t0 = time.perf_counter()
    sh(repo, "dvc", "queue", "start", "-j", str(jobs))
    while any(w in sh(repo, "dvc", "queue", "status") for w in ("Queued", "Running")):
        time.sleep(5)
    return time.perf_counter() - t0


def launched(repo: Path, backend: str, jobs: int) -> float:
    t0 = time.perf_counter()
    sh(repo, "python", "-m", "pipeline.launch", "--backend", backend, "--jobs", str(jobs))
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--backend", choices=("local", "ray"), default="local")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        (a, params), (b, _) = clone(args.profile, Path(tmp) / "queue"), clone(args.profile, Path(tmp) / "launch")
        runs = len(params["policy"]["run"]) * len(params["policy"]["seeds"])
        load0 = os.getloadavg()[0]
        t_queue = queued(a, params, args.jobs)
        t_launch = launched(b, args.backend, args.jobs)
    print(f"{args.profile}: {runs} policy runs, {args.jobs} at a time; load average {load0:.2f} before, "
          f"{os.getloadavg()[0]:.2f} after")  # fmt: skip
    print(f"dvc queue start -j {args.jobs}: {t_queue / 60:.1f} min; pipeline.launch ({args.backend}): "
          f"{t_launch / 60:.1f} min; launch / queue = {t_launch / t_queue:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
