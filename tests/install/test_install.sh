#!/usr/bin/env bash
# `cmake --install --prefix P` (what `make install PREFIX=P` runs) into a temporary P:
# pkg-config finds the header and the libraries there, and examples/quickstart.c built
# against the installed shared and static libraries runs. Args: BUILD_DIR C_COMPILER.
set -u
build=$1
cc=${2:-cc}
root="$(cd "$(dirname "$0")/../.." && pwd)"
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
passed=0 failed=0
step() { # NAME COMMAND...
  if "${@:2}" >"$prefix/log" 2>&1; then passed=$((passed + 1)); else
    failed=$((failed + 1)); echo "FAIL: $1"; head -20 "$prefix/log"; fi
}
step "install" cmake --install "$build" --prefix "$prefix/p"
pc=$(dirname "$(find "$prefix/p" -name fp8gemm.pc | head -1)")
export PKG_CONFIG_PATH=$pc
step "pkg-config finds fp8gemm" pkg-config --exists fp8gemm
libdir=$(pkg-config --variable=libdir fp8gemm)
step "libdir is under the prefix" test -f "$libdir/libfp8gemm.a"
step "build vs shared" "$cc" $(pkg-config --cflags fp8gemm) "$root/examples/quickstart.c" \
  -o "$prefix/qs_shared" $(pkg-config --libs fp8gemm) -lm
step "run vs shared" env LD_LIBRARY_PATH="$libdir" "$prefix/qs_shared"
step "build vs static" "$cc" $(pkg-config --cflags fp8gemm) "$root/examples/quickstart.c" \
  -o "$prefix/qs_static" "$libdir/libfp8gemm.a" $(pkg-config --libs-only-other --static fp8gemm) -lpthread -lm
step "run vs static" "$prefix/qs_static"
step "installed CLI runs" "$prefix/p/bin/fp8gemm" --version
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
