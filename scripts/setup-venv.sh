#!/usr/bin/env bash
# Creates .venv (git-ignored) with the Python packages the tests need, from PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-test.txt
# torch without its CUDA/triton dependencies (docs/python.md); the rest of the CUDA
# runtime only if the loader cannot find it on this machine.
PIP=(.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps)
"${PIP[@]}" -r requirements-torch.txt
if ! .venv/bin/python -c "import torch" >/dev/null 2>&1; then
  "${PIP[@]}" -r requirements-torch-cuda.txt
  .venv/bin/python -c "import torch"
fi
touch .venv/.fp8gemm-stamp
