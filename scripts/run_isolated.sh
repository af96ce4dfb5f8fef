#!/usr/bin/env bash
# Run the whole stage graph for a profile in its own git worktree (.worktrees/<profile>), so several
# profiles can run side by side without touching this workspace's params.yaml or data/.
#   scripts/run_isolated.sh reach        -> .worktrees/reach/data/report/report.md
#   scripts/run_isolated.sh label_free pretrain   -> only the stages up to pretrain (dvc repro's targets)
set -euo pipefail
cd "$(dirname "$0")/.."
name=${1:?usage: scripts/run_isolated.sh PROFILE [DVC_TARGET...]}
shift
scripts/setup.sh
. .venv/bin/activate
wt=.worktrees/$name
[ -d "$wt" ] || git worktree add --detach "$wt" HEAD
# the code and study params as committed here (dropping the previous profile merge), keeping
# the worktree's own dvc.lock so finished stages are not rerun
[ ! -f "$wt/dvc.lock" ] || cp "$wt/dvc.lock" "$wt/.dvc.lock.keep"
git -C "$wt" checkout -q -f --detach "$(git rev-parse HEAD)"
[ ! -f "$wt/.dvc.lock.keep" ] || mv "$wt/.dvc.lock.keep" "$wt/dvc.lock"
python - "$name" "$wt" <<'PY'
import sys, yaml
from pathlib import Path
from pipeline.profile import merged
root = Path(sys.argv[2])
yaml.safe_dump(merged(sys.argv[1], root), open(root / "params.yaml", "w"), sort_keys=False)
PY
cd "$wt"
[ -d .dvc ] || dvc init -q --subdir 2>/dev/null || true
dvc repro "$@"
[ $# -gt 0 ] || echo "report: $wt/data/report/report.md"
