#!/usr/bin/env bash
# Debian packages for the comparison benchmark (bench/compare): oneDNN and OpenBLAS.
# Not needed to build or test the library. Run as root (or with sudo available).
set -euo pipefail
packages=(libdnnl-dev libopenblas-dev pkg-config)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "bench deps: already installed (${packages[*]})"
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
