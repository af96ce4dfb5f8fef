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
python - "$name" "$wt" <<'PY'
import sys, yaml
from pipeline.profile import merged
yaml.safe_dump(merged(sys.argv[1]), open(f"{sys.argv[2]}/params.yaml", "w"), sort_keys=False)
PY
cd "$wt"
[ -d .dvc ] || dvc init -q --subdir 2>/dev/null || true
dvc repro
echo "report: $wt/data/report/report.md"
