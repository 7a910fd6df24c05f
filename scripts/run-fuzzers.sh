#!/usr/bin/env bash
# Runs every fuzz_* binary in BUILD_DIR for SECONDS each (seeds from fuzz/seeds/<name>/,
# corpus kept in BUILD_DIR/corpus-<name>). Every fuzzer runs; the script exits 1 if any
# of them found a crash, a sanitizer report or a failed check, and prints its report.
# Reproducers land in BUILD_DIR/artifacts-<name>/.
set -uo pipefail
dir=${1:?build dir}; secs=${2:-60}
root="$(cd "$(dirname "$0")/.." && pwd)"
found=0 failed=0
for f in "$dir"/fuzz_*; do
  [ -x "$f" ] || continue
  found=1
  name=$(basename "$f")
  corpus="$dir/corpus-$name" artifacts="$dir/artifacts-$name"
  mkdir -p "$corpus" "$artifacts"
  seeds="$root/fuzz/seeds/$name"
  echo "== $name for ${secs}s"
  args=("$corpus"); [ -d "$seeds" ] && args+=("$seeds")
  log="$dir/$name.log"
  if "$f" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="$artifacts/" "${args[@]}" >"$log" 2>&1; then
    grep -E '^Done|stat::number_of_executed_units|stat::new_units_added' "$log"
  else
    failed=1
    echo "!! $name found a problem; report ($log):"
    grep -vE '^#[0-9]+' "$log" | tail -40
  fi
done
[ "$found" = 1 ] || { echo "no fuzzers built"; exit 1; }
exit $failed
