#!/usr/bin/env bash
# The main job: install what is missing, then run the study's stage graph with DVC.
#   scripts/run.sh            the real study (params.yaml; sized for a GPU box, see README)
#   scripts/run.sh quick      the same graph shrunk for a 2-core CPU (profiles/quick.yaml), as a DVC experiment
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
. .venv/bin/activate
if [ "${1:-}" = "" ]; then
  if ! command -v nvidia-smi >/dev/null 2>&1 && [ "${RUN_STUDY_ON_CPU:-}" != 1 ]; then
    echo "No GPU here. The full study (params.yaml) is sized for a GPU box:"
    echo "  $(python -m pipeline.profile --cost)"
    echo "For a first run on a CPU: scripts/run.sh quick (the same graph, shrunk; ~25 minutes on 2 cores)."
    echo "Starting the full study in 15 s (Ctrl-C stops; RUN_STUDY_ON_CPU=1 skips this wait)."
    sleep 15
  fi
  dvc repro
else
  mapfile -t overrides < <(python -m pipeline.profile "$1")
  dvc exp run -n "$1-$(date +%Y%m%d-%H%M%S)" "${overrides[@]}"
fi
