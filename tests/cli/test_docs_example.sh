#!/usr/bin/env bash
# docs/c-api.md shows examples/quickstart.c verbatim (the file ctest builds and runs).
set -u
root="$(cd "$(dirname "$0")/../.." && pwd)"
shown=$(awk '/^```c$/ {on = 1; next} /^```$/ {on = 0} on' "$root/docs/c-api.md")
if [ "$shown" = "$(cat "$root/examples/quickstart.c")" ]; then
  echo "1 passed, 0 failed"
else
  diff <(printf '%s\n' "$shown") "$root/examples/quickstart.c" | head -20
  echo "0 passed, 1 failed"
  exit 1
fi
