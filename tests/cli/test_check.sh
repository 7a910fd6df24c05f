#!/usr/bin/env bash
# fp8gemm check: exits 0 with one PASS row per op x scheme x dtype (66 in the registry)
# per ISA level this CPU has; filters work; bad arguments exit 2 naming the argument.
set -u
cli=${1:?path to the fp8gemm CLI}
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }

detected=$("$cli" info | sed -n 's/^isa detected: *//p')
levels=0
for isa in scalar avx2 avx512 avx512_bf16; do
  levels=$((levels + 1))
  [ "$isa" = "$detected" ] && break
done

out=$("$cli" check -v); rc=$?
[ "$rc" = 0 ] && ok || bad "check exited $rc:"$'\n'"$(printf '%s\n' "$out" | grep -A1 FAIL | head -20)"
rows=$(printf '%s\n' "$out" | grep -Ec ' (PASS|FAIL)$')
[ "$rows" = $((66 * levels)) ] && ok || bad "check printed $rows rows, want $((66 * levels)) ($levels ISA levels)"
n_fail=$(printf '%s\n' "$out" | grep -c ' FAIL$')
[ "$n_fail" = 0 ] && ok || bad "$n_fail rows failed"
# Every row ran cases.
n_empty=$(printf '%s\n' "$out" | grep -E ' (PASS|FAIL)$' | awk '$(NF-2) < 1' | wc -l)
[ "$n_empty" = 0 ] && ok || bad "$n_empty rows ran no case"
[[ "$out" == *"$((66 * levels)) rows, $((66 * levels)) passed, 0 failed"* ]] && ok || bad "summary line"
# Levels the CPU lacks are reported, not passed.
for isa in avx512 avx512_bf16; do
  if [ $levels -lt 3 ] || { [ $levels -lt 4 ] && [ $isa = avx512_bf16 ]; }; then
    [[ "$out" == *"isa $isa: not on this CPU, not run"* ]] && ok || bad "no note for missing $isa"
  fi
done

# Filters: one op at one level.
out=$("$cli" check --op fp8_gemm --isa scalar); rc=$?
rows=$(printf '%s\n' "$out" | grep -Ec '^fp8_gemm +[a-z_0-9]+ +[a-z0-9]+ +scalar .* PASS$')
[ "$rc" = 0 ] && [ "$rows" = 16 ] && ok || bad "check --op fp8_gemm --isa scalar: rc $rc, $rows rows"

# Bad arguments.
for args in "--op nope:--op" "--isa sse9:--isa" "--bogus:--bogus"; do
  a=${args%%:*} needle=${args##*:}
  err=$("$cli" check $a 2>&1 >/dev/null); rc=$?
  [ "$rc" = 2 ] && [[ "$err" == *"$needle"* ]] && ok || bad "check $a -> rc $rc '$err'"
done
out=$("$cli" check --help); [ $? = 0 ] && [[ "$out" == *"usage: fp8gemm check"* ]] && ok || bad "--help"

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
