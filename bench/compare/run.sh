#!/usr/bin/env bash
# Comparison benchmark: fp8gemm vs oneDNN / OpenBLAS (compare_gemm) and torch._scaled_mm
# (torch_scaled_mm.py), each at every thread count, with the thread count set for every
# library. usage: bench/compare/run.sh [BUILD_DIR] [THREADS...] (default: build 1 2)
#   SHAPES="1x14336x4096 16x4096x4096"  the shapes (default: compare_gemm's own list)
#   PYTHON=/path/to/python              the interpreter with torch (default: the
#                                       project's .venv, else python3); BUILD_DIR must
#                                       hold the Python extension (FP8GEMM_PYTHON=ON)
#   OPENBLAS_CORETYPE=SkylakeX          passed through: OpenBLAS picks its kernels from
#                                       the CPU otherwise (compare_gemm prints which)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build}
shift || true
threads=("$@")
[ ${#threads[@]} -gt 0 ] || threads=(1 2)
bin=$build/bench/compare/compare_gemm
if [ ! -x "$bin" ]; then
  echo "compare_gemm not built in $build: run scripts/install-bench-deps.sh, then cmake again" >&2
  exit 1
fi
shape_args=()
for s in ${SHAPES:-}; do shape_args+=(--shape "$s"); done
py=${PYTHON:-$root/.venv/bin/python}
[ -x "$py" ] || py=python3
for t in "${threads[@]}"; do
  echo "=== $t thread(s)"
  FP8GEMM_NUM_THREADS=$t OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=$t "$bin" "${shape_args[@]}"
  FP8GEMM_NUM_THREADS=$t OMP_NUM_THREADS=$t "$py" "$here/torch_scaled_mm.py" "$build" "$t" ${SHAPES:-}
done
