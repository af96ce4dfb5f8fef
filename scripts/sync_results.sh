#!/usr/bin/env bash
# Copy a worktree's finished results into this checkout, to commit them while its runs go on (a session's machine may
# not outlive it): every policy run that wrote its summary.json (written last), the report and the encoders' results
# if there are any, and the worktree's dvc.lock (the stages finished so far, recorded by the launcher).
#   scripts/sync_results.sh .worktrees/study && git add results dvc.lock README.md && git commit -m "..."
# The study's go to results/ and dvc.lock, and README's results block is regenerated (the report's table, or how many
# runs have finished). A profile's worktree names where its results go, with its dvc.lock beside them:
#   scripts/sync_results.sh .worktrees/label_free_rl results/profiles/label_free && git add results/profiles
set -euo pipefail
cd "$(dirname "$0")/.."
wt=${1:?usage: scripts/sync_results.sh WORKTREE [DEST]}
out=${2:-results}
n=0
for summary in "$wt"/results/runs/*/*/summary.json; do
  [ -e "$summary" ] || continue
  run=$(dirname "$summary")
  dest=$out/${run#"$wt"/results/}
  mkdir -p "$dest"
  cp -a "$run"/. "$dest"/
  n=$((n + 1))
done
for part in report pretrain; do  # the report, and each pretrained encoder's metrics.json and pictures
  if [ -d "$wt/results/$part" ]; then
    mkdir -p "$out/$part"
    cp -a "$wt/results/$part"/. "$out/$part"/
  fi
done
echo "sync: $n finished policy runs from $wt to $out"
if [ "$out" = results ]; then
  [ ! -f "$wt/dvc.lock" ] || cp "$wt/dvc.lock" dvc.lock
  "${PYTHON:-.venv/bin/python}" -m pipeline.report.readme
  git status --short -- results dvc.lock README.md
else
  [ ! -f "$wt/dvc.lock" ] || cp "$wt/dvc.lock" "$out/dvc.lock"
  git status --short -- "$out"
fi
