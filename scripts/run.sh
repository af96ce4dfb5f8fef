#!/usr/bin/env bash
# The main job: install what is missing, then run the study's stage graph with DVC.
#   scripts/run.sh            the study (params.yaml: sized for one 2-core CPU, ~a day; its cost is printed first;
#                             JOBS=N stage processes at once, default 2)
#   scripts/run.sh quick      the same graph shrunk for a 2-core CPU (profiles/quick.yaml), as a DVC experiment
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
. .venv/bin/activate
if [ "${1:-}" = "" ]; then
  echo "The study (params.yaml): $(python -m pipeline.profile --cost)"
  echo "A kill resumes: run this again (finished stages are cached, policy runs resume from their checkpoints)."
  echo "For a first run: scripts/run.sh quick (the same graph, shrunk; ~25 minutes on 2 cores)."
  # two stage processes at once (both cores), each recorded in dvc.lock; then the report (docs/cluster.md)
  python -m pipeline.launch --jobs "${JOBS:-2}"
else
  mapfile -t overrides < <(python -m pipeline.profile "$1")
  dvc exp run -n "$1-$(date +%Y%m%d-%H%M%S)" "${overrides[@]}"
fi
