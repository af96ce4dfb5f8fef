#!/usr/bin/env bash
# Copy a worktree's finished study results into this checkout, to commit them while the study goes on (a session's
# machine may not outlive it): every policy run that wrote its summary.json (written last), the report if there is
# one, and the worktree's dvc.lock (the stages finished so far, recorded by the launcher); then README's results block
# (the report's table, or how many runs have finished).
#   scripts/sync_results.sh .worktrees/study && git add results dvc.lock README.md && git commit -m "..."
set -euo pipefail
cd "$(dirname "$0")/.."
wt=${1:?usage: scripts/sync_results.sh WORKTREE}
n=0
for summary in "$wt"/results/runs/*/*/summary.json; do
  [ -e "$summary" ] || continue
  run=$(dirname "$summary")
  dest=${run#"$wt"/}
  mkdir -p "$dest"
  cp -a "$run"/. "$dest"/
  n=$((n + 1))
done
if [ -d "$wt/results/report" ]; then
  mkdir -p results/report
  cp -a "$wt/results/report"/. results/report/
fi
[ ! -f "$wt/dvc.lock" ] || cp "$wt/dvc.lock" dvc.lock
echo "sync: $n finished policy runs from $wt"
"${PYTHON:-.venv/bin/python}" -m pipeline.report.readme
git status --short -- results dvc.lock README.md
