#!/usr/bin/env bash
# Run the whole stage graph for a profile in its own git worktree (.worktrees/<profile>), so several
# profiles can run side by side without touching this workspace's params.yaml or data/.
#   scripts/run_isolated.sh reach        -> .worktrees/reach/data/report/report.md
set -euo pipefail
cd "$(dirname "$0")/.."
name=${1:?usage: scripts/run_isolated.sh PROFILE}
scripts/setup.sh
. .venv/bin/activate
wt=.worktrees/$name
[ -d "$wt" ] || git worktree add --detach "$wt" HEAD
git -C "$wt" checkout -q -- params.yaml                      # drop the previous profile merge
git -C "$wt" checkout -q --detach "$(git rev-parse HEAD)"   # the code and study params as committed here
python - "$name" "$wt" <<'PY'
import sys, yaml
from pathlib import Path
from pipeline.profile import merged
root = Path(sys.argv[2])
yaml.safe_dump(merged(sys.argv[1], root), open(root / "params.yaml", "w"), sort_keys=False)
PY
cd "$wt"
[ -d .dvc ] || dvc init -q --subdir 2>/dev/null || true
dvc repro
echo "report: $wt/data/report/report.md"
