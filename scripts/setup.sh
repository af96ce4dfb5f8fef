#!/usr/bin/env bash
# Create .venv (if missing) and install the project. Idempotent: reruns install only what is missing.
# On a machine without CUDA we take the CPU build of torch; on a GPU box pip resolves the CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
[ -x .venv/bin/python ] || "$PY" -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip
if ! python -c "import torch" 2>/dev/null; then
  if command -v nvidia-smi >/dev/null 2>&1; then
    python -m pip install -q "torch>=2.3"
  else
    python -m pip install -q "torch==2.13.0" 2>/dev/null || python -m pip install -q "torch>=2.3" --index-url https://download.pytorch.org/whl/cpu
  fi
fi
python -m pip install -q -e '.[dev]'
