#!/usr/bin/env bash
# Runs every fuzz_* binary in BUILD_DIR for SECONDS each; fails on the first crash/report.
set -euo pipefail
dir=${1:?build dir}; secs=${2:-60}
root="$(cd "$(dirname "$0")/.." && pwd)"
found=0
for f in "$dir"/fuzz_*; do
  [ -x "$f" ] || continue
  found=1
  name=$(basename "$f")
  corpus="$dir/corpus-$name"; mkdir -p "$corpus"
  seeds="$root/fuzz/seeds/$name"
  echo "== $name for ${secs}s"
  args=("$corpus"); [ -d "$seeds" ] && args+=("$seeds")
  "$f" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 "${args[@]}" 2>&1 | tail -5
done
[ "$found" = 1 ] || { echo "no fuzzers built"; exit 1; }
