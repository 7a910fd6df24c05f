#!/usr/bin/env bash
# Golden tests of `fp8gemm cast` and `fp8gemm table`. Codes come from the spec's test
# vectors (numerics.md); decoded values from the spec's value formula. Usage: $0 CLI
set -u
CLI="$1"
pass=0
fail=0

expect() { # expect "DESCRIPTION" "EXPECTED STDOUT" ARGS...
  local what="$1" want="$2"
  shift 2
  local got
  got="$("$CLI" "$@" 2>/tmp/fp8gemm_cast_err.$$)"
  local rc=$?
  if [[ $rc -eq 0 && "$got" == "$want" ]]; then
    pass=$((pass + 1))
  else
    fail=$((fail + 1))
    echo "FAIL: $what: fp8gemm $*"
    echo "  exit $rc; got:"; echo "$got" | sed 's/^/    /'
    echo "  want:"; echo "$want" | sed 's/^/    /'
  fi
}

expect_usage() { # expect_usage "DESCRIPTION" "FRAGMENT OF THE MESSAGE" ARGS...
  local what="$1" fragment="$2"
  shift 2
  local out err rc
  out="$("$CLI" "$@" 2>/tmp/fp8gemm_cast_err.$$)"
  rc=$?
  err="$(cat /tmp/fp8gemm_cast_err.$$)"
  if [[ $rc -eq 2 && -z "$out" && "$err" == *"$fragment"* && $(echo "$err" | wc -l) -eq 1 ]]; then
    pass=$((pass + 1))
  else
    fail=$((fail + 1))
    echo "FAIL: $what: fp8gemm $* -> exit $rc, stdout '$out', stderr '$err' (want 2, '$fragment')"
  fi
}

# ---------------------------------------------------------------- e4m3fn
expect "issue example" "448 0x7e 448
465 0x7f nan" cast --to e4m3fn 448 465
expect "464 is a tie to 448" "464 0x7e 448" cast --to e4m3fn 464
expect "just above 464 overflows" "0x43e80001 0x7f nan" cast --to e4m3fn --bits 0x43e80001
expect "quantize clamps" "0x43e80001 0x7e 448
0xff800000 0xfe -448
0x7fc00000 0x7f nan" cast --to e4m3fn --saturate --bits 0x43e80001 0xff800000 0x7fc00000
expect "e4m3fn small values" "-0 0x80 -0
0x1p-9 0x01 0.001953125
0x1p-10 0x00 0
0.1 0x1d 0.1015625
1.1875 0x3a 1.25
-465 0xff nan" cast --to e4m3fn -- -0 0x1p-9 0x1p-10 0.1 1.1875 -465
expect "--to=FMT and options after values" "240 0x77 240" cast 240 --to=e4m3fn

# ---------------------------------------------------------------- e5m2
expect "e5m2 cast" "480 0x60 512
-465 0xdf -448
1e6 0x7c inf
inf 0x7c inf
-inf 0xfc -inf
nan 0x7e nan
61440 0x7c inf
57344 0x7b 57344" cast --to e5m2 480 -465 1e6 inf -inf nan 61440 57344
expect "e5m2 quantize" "1e6 0x7b 57344
-inf 0xfb -57344" cast --to e5m2 --saturate 1e6 -inf
expect "e5m2 subnormals" "0x1p-16 0x01 1.5258789e-05
0x1p-17 0x00 0" cast --to e5m2 0x1p-16 0x1p-17

# ---------------------------------------------------------------- fnuz
expect "e4m3fnuz" "1 0x40 1
240 0x7f 240
248 0x80 nan
-0 0x00 0
0x1p-9 0x02 0.001953125" cast --to e4m3fnuz 1 240 248 -0 0x1p-9
expect "e5m2fnuz" "0x1p-17 0x01 7.6293945e-06
57344 0x7f 57344
61440 0x80 nan
448 0x63 448" cast --to e5m2fnuz 0x1p-17 57344 61440 448

# ---------------------------------------------------------------- e2m1, e8m0
expect "e2m1" "0.25 0x00 0
0.75 0x02 1
1.25 0x02 1
1.5 0x03 1.5
1.75 0x04 2
2.5 0x04 2
3 0x05 3
3.5 0x06 4
5 0x06 4
6 0x07 6
100 0x07 6
-4 0x0e -4" cast --to e2m1 0.25 0.75 1.25 1.5 1.75 2.5 3 3.5 5 6 100 -4
expect "e8m0" "0.75 0x7f 1
1.25 0x7f 1
1.5 0x80 2
3 0x81 4
0.1 0x7c 0.125
448 0x88 512
nan 0xff nan
inf 0xff nan" cast --to e8m0 0.75 1.25 1.5 3 0.1 448 nan inf

# ---------------------------------------------------------------- table
t="$("$CLI" table e4m3fn)"
if [[ $(echo "$t" | wc -l) -eq 256 && "$t" == *$'\n0x7e 448\n0x7f nan\n0x80 -0\n'* &&
      "$t" == *$'\n0x01 0.001953125\n'* && "$t" == *$'\n0xfe -448\n0xff nan' ]]; then
  pass=$((pass + 1))
else
  fail=$((fail + 1)); echo "FAIL: table e4m3fn"
fi
expect "table e2m1" "$(printf '0x%02x %s\n' 0 0 1 0.5 2 1 3 1.5 4 2 5 3 6 4 7 6 8 -0 9 -0.5 10 -1 11 -1.5 12 -2 13 -3 14 -4 15 -6)" table e2m1
t="$("$CLI" table e5m2)"
if [[ $(echo "$t" | wc -l) -eq 256 && "$t" == *$'\n0x7b 57344\n0x7c inf\n0x7d nan\n0x7e nan\n0x7f nan\n'* ]]; then
  pass=$((pass + 1))
else
  fail=$((fail + 1)); echo "FAIL: table e5m2"
fi

# ---------------------------------------------------------------- bad arguments
expect_usage "no --to" "--to" cast 1
expect_usage "unknown format" "--to: expected one of" cast --to bf16 1
expect_usage "--to without FMT" "--to: missing FMT" cast 1 --to
expect_usage "not a number" "VALUE 'abc'" cast --to e5m2 abc
expect_usage "trailing junk" "VALUE '1.5x'" cast --to e5m2 1 1.5x
expect_usage "bits too wide" "VALUE '0x1ffffffff'" cast --to e5m2 --bits 0x1ffffffff
expect_usage "bits not hex" "VALUE '1.5'" cast --to e5m2 --bits 1.5
expect_usage "no values" "VALUE" cast --to e5m2
expect_usage "unknown option" "unknown option '--round'" cast --to e5m2 --round 1
expect_usage "table without FMT" "FMT" table
expect_usage "table bad FMT" "got 'f32'" table f32
expect_usage "table extra" "unexpected argument" table e5m2 e4m3fn

# ---------------------------------------------------------------- help
for cmd in cast table; do
  if "$CLI" $cmd --help | grep -q "usage: fp8gemm $cmd"; then pass=$((pass + 1)); else
    fail=$((fail + 1)); echo "FAIL: $cmd --help"; fi
done

rm -f /tmp/fp8gemm_cast_err.$$
echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
