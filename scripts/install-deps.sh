#!/usr/bin/env bash
# Debian packages the build, the tests and the fuzzers need. Installs only what is missing
# (run by `make` before it creates .venv, and by CI).
set -euo pipefail
if ! command -v dpkg >/dev/null 2>&1; then
  echo "install-deps: not a Debian system; needed: a C11 compiler, cmake, clang with its" \
    "sanitizer runtime, python3 with venv and its headers" >&2
  exit 0
fi
need=()
for pkg in build-essential cmake pkg-config clang libclang-rt-14-dev python3-venv python3-dev; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
fi
