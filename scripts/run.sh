#!/usr/bin/env bash
# The main job: install what is missing, then run the study's stage graph with DVC.
#   scripts/run.sh            the real study (params.yaml; sized for a GPU box, see README)
#   scripts/run.sh quick      the same graph shrunk for a 2-core CPU (profiles/quick.yaml), as a DVC experiment
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
. .venv/bin/activate
if [ "${1:-}" = "" ]; then
  dvc repro
else
  mapfile -t overrides < <(python -m pipeline.profile "$1")
  dvc exp run -n "$1-$(date +%Y%m%d-%H%M%S)" "${overrides[@]}"
fi
