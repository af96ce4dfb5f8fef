#!/usr/bin/env bash
# The main job: install what is missing, then run the study's stage graph with DVC.
# Usage: scripts/run.sh [extra dvc repro args]      (default params.yaml: the real study)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
. .venv/bin/activate
dvc repro "$@"
