#!/usr/bin/env bash
# `fp8gemm bench`: argument errors (exit 2, message naming the option), --help, and a
# tiny --json run whose lines carry the documented fields with the shape asked for.
# Timings are not checked. Usage: $0 CLI
set -u
CLI="$1"
pass=0
fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

check() { # check "DESCRIPTION" CONDITION-STATUS
  if [[ "$2" -eq 0 ]]; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $1"; fi
}

usage_error() { # usage_error "FRAGMENT" ARGS...
  local fragment="$1"
  shift
  "$CLI" bench "$@" >"$tmp/out" 2>"$tmp/err"
  local rc=$?
  [[ $rc -eq 2 && -s "$tmp/err" ]] && grep -q -- "$fragment" "$tmp/err" && [[ ! -s "$tmp/out" ]]
  st=$?  # before the message: its $(...) would reset $?
  check "bench $* -> exit 2 naming '$fragment' (exit $rc: $(cat "$tmp/err"))" $st
}

usage_error "--shape" --shape 0x1x1
usage_error "--shape" --shape 4x5
usage_error "--shape" --shape 4x4x4,4x5
usage_error "--shape" --shape ,
usage_error "--scheme" --scheme nope
usage_error "--threads" --threads 0
usage_error "--layout" --layout tn
usage_error "--min-time" --min-time -1
usage_error "--weight-offset" --weight-offset 64
usage_error "--weight-offset" --weight-offset x
usage_error "--packed" --packed --layout nn
usage_error "--packed" --packed --weight-offset 16
usage_error "unknown option" --frobnicate
usage_error "expected a value" --shape

"$CLI" bench --help >"$tmp/help" 2>&1
check "bench --help exits 0" $?
grep -q -- "--shape MxNxK" "$tmp/help"
check "--help documents --shape" $?
grep -q -- "--packed" "$tmp/help"
check "--help documents --packed" $?

"$CLI" bench --json --shape 3x40x64 --shape 20x8x96,5x16x32 --scheme per_token,mx,w8a16 --threads 1 \
  --min-time 0 --no-naive >"$tmp/json" 2>"$tmp/err"
st=$?  # before the message: its $(...) would reset $?
check "bench --json runs (exit 0; stderr: $(cat "$tmp/err"))" $st
lines=$(wc -l <"$tmp/json")
[[ "$lines" -eq 9 ]]
check "one line per shape x scheme (got $lines)" $?
python3 - "$tmp/json" <<'PY'
import json, sys
want = {"op", "scheme", "m", "n", "k", "threads", "kernel", "seconds", "gflops", "gbps",
        "peak_fraction", "compute_fraction", "bw_fraction", "peak_class", "peak_gflops",
        "read_gbps"}
rows = [json.loads(l) for l in open(sys.argv[1])]
shapes = sorted({(r["m"], r["n"], r["k"]) for r in rows})
ok = all(want <= set(r) for r in rows) and shapes == [(3, 40, 64), (5, 16, 32), (20, 8, 96)]
# peak_fraction is the binding limit's share: the larger of the two fractions; the
# class names the peak the compute fraction is of
ok = ok and all(abs(r["peak_fraction"] - max(r["compute_fraction"], r["bw_fraction"])) < 1e-3
                for r in rows)
ok = ok and all(r["peak_class"] in ("bf16_dot", "fp32_fma", "none") for r in rows)
ok = ok and all((r["peak_class"] == "none") == (r["peak_gflops"] == 0) for r in rows)
ok = ok and all((r["peak_class"] == "bf16_dot") == r["kernel"].endswith("avx512bf16") for r in rows)
ok = ok and sorted({r["scheme"] for r in rows}) == ["mx", "per_token", "w8a16"]
ok = ok and all(r["threads"] == 1 and r["seconds"] > 0 and r["kernel"] for r in rows)
# --min-time 0: the three timed rounds every case gets, and no more
ok = ok and all(r["runs"] == 3 for r in rows)
ok = ok and all(r["op"] == ("fp8_gemm_w8a16" if r["scheme"] == "w8a16" else "fp8_gemm") for r in rows)
sys.exit(0 if ok else 1)
PY
check "JSON lines carry the documented fields and the shapes asked for" $?

# Schemes of one shape and thread count are timed in the same rounds (each scheme once per
# round): every row of a group reports the same number of timed runs, at least 3. At
# 3 x 64 x 4096 w8a16 calls take ~1.7x and mx ~1.4x as long as per_token's (~0.04 ms), so
# against --min-time 0.004 schemes timed one after the other would stop at clearly
# different counts (~110 / 80 / 65, below the 200-run cap).
"$CLI" bench --json --shape 3x64x4096,2x128x2048 --scheme per_token,mx,w8a16 --threads 1,2 \
  --min-time 0.004 --no-naive >"$tmp/rounds" 2>"$tmp/err"
rc=$?
python3 - "$tmp/rounds" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
groups = {}
for r in rows:
    groups.setdefault((r["m"], r["n"], r["k"], r["threads"]), set()).add(r["runs"])
ok = len(rows) == 12 and len(groups) == 4
ok = ok and all(len(v) == 1 and min(v) >= 3 for v in groups.values())
sys.exit(0 if ok else 1)
PY
check "schemes of a shape share their timing rounds (equal runs; exit $rc)" $?

# A scheme that cannot run a shape (mx needs K % 32 == 0) fails alone: the other schemes of
# the group still print, stderr names the case, and the exit status says a case failed.
"$CLI" bench --json --shape 2x64x100 --scheme per_token,mx,w8a16 --threads 1 --min-time 0 \
  --no-naive >"$tmp/mxk" 2>"$tmp/err"
rc=$?
[[ $rc -eq 1 && $(wc -l <"$tmp/mxk") -eq 2 ]] && grep -q '"scheme":"per_token"' "$tmp/mxk" &&
  grep -q '"scheme":"w8a16"' "$tmp/mxk" && grep -q "mx 2x64x100: mx needs K % 32 == 0" "$tmp/err"
st=$?  # before the message: its $(...) would reset $?
check "mx with K % 32 != 0 fails alone (exit $rc; stderr: $(cat "$tmp/err"))" $st

# Weight placement: 64-byte aligned by default (as PyTorch allocates), else the offset asked
# for, in the header and in every JSON line.
for off in "" 17; do
  "$CLI" bench --json --shape 2x40x64 --scheme per_token,mx --threads 1 --min-time 0 --no-naive \
    ${off:+--weight-offset $off} >"$tmp/woff" 2>"$tmp/err"
  rc=$?
  python3 - "$tmp/woff" "${off:-0}" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
sys.exit(0 if len(rows) == 2 and all(r["weight_offset"] == int(sys.argv[2]) for r in rows) else 1)
PY
  check "bench --json ${off:+--weight-offset $off }reports weight_offset ${off:-0} (exit $rc)" $?
done
"$CLI" bench --shape 1x64x256 --scheme per_token --threads 1 --min-time 0 --no-naive --weight-offset 16 \
  >"$tmp/woff" 2>"$tmp/err"
grep -q "16 bytes past a 64-byte boundary" "$tmp/woff"
check "the header names the weight offset" $?

# --packed times the packed calls: every line says so and takes its %bw from the read over
# packed-weight memory (both reads in every line), plain lines from the malloc'd one; the
# kernel named is the plain NT call's (what the packed call runs). 2 x 1024 x 2048 codes
# are 2 MiB: the packed copies go on 2 MiB pages.
for mode in plain packed; do
  flag=()
  [[ $mode == packed ]] && flag=(--packed)
  "$CLI" bench --json --shape 2x1024x2048,17x64x128 --scheme per_token,block,w8a16 --threads 1 \
    --min-time 0 --no-naive "${flag[@]}" >"$tmp/$mode" 2>"$tmp/err"
  rc=$?
  python3 - "$tmp/$mode" "$mode" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
mode = sys.argv[2]
base = "read_gbps_huge_pages" if mode == "packed" else "read_gbps_malloc"
ok = len(rows) == 6 and all(r["weights"] == mode for r in rows)
ok = ok and all(r["read_gbps_malloc"] > 0 and r["read_gbps_huge_pages"] > 0 for r in rows)
ok = ok and all(r["read_gbps"] == r[base] for r in rows)
ok = ok and all(abs(r["bw_fraction"] - r["gbps"] / r["read_gbps"]) <= 1e-3 * max(1, r["bw_fraction"])
                for r in rows)
sys.exit(0 if ok else 1)
PY
  st=$?  # before the message: its $(...) would reset $?
  check "bench --json ${flag[*]}: weights $mode, %bw of its read (exit $rc; stderr: $(cat "$tmp/err"))" $st
done
python3 - "$tmp/plain" "$tmp/packed" <<'PY'
import json, sys
kern = [{(r["m"], r["scheme"]): r["kernel"] for r in map(json.loads, open(f))} for f in sys.argv[1:]]
sys.exit(0 if kern[0] == kern[1] and len(kern[0]) == 6 else 1)
PY
check "--packed names the kernels of the plain NT call" $?
"$CLI" bench --packed --shape 1x64x256 --scheme mx --threads 1 --min-time 0 --no-naive \
  >"$tmp/packed_text" 2>"$tmp/err"
rc=$?
[[ $rc -eq 0 ]]
st=$?  # before the message: its $(...) would reset $?
check "bench --packed (text) runs (exit $rc; stderr: $(cat "$tmp/err"))" $st
grep -q "packed once by fp8gemm_pack_weight" "$tmp/packed_text" &&
  grep -q "over packed-weight memory" "$tmp/packed_text" && grep -q "mx *1 *64 *256" "$tmp/packed_text"
check "--packed: the header says the weights are packed and prints both reads" $?

"$CLI" bench --in-cache --shape 1x64x256 --scheme per_token --threads 1 --min-time 0 \
  --no-naive >"$tmp/cache" 2>"$tmp/err"
st=$?  # before the message: its $(...) would reset $?
check "bench --in-cache runs (exit 0; stderr: $(cat "$tmp/err"))" $st
grep -q -- "--in-cache" "$tmp/cache" && grep -q "per_token *1 *64 *256" "$tmp/cache"
check "--in-cache says so in the header and prints the shape" $?
grep -q "fp32 FMA peak" "$tmp/cache" && grep -q "streaming read" "$tmp/cache" &&
  grep -q "GB/s over packed-weight memory" "$tmp/cache" && grep -q "NT view of \[N, K\]" "$tmp/cache" &&
  grep -q "%peak" "$tmp/cache" && ! grep -q "%fma" "$tmp/cache"
check "the header prints the calibrated peaks; the column is %peak" $?
# The bf16-dot peak is measured exactly when the ISA in force has VDPBF16PS.
for cap in avx2 avx512_bf16; do
  FP8GEMM_MAX_ISA=$cap "$CLI" bench --shape 1x64x256 --scheme per_token --threads 1 --min-time 0 \
    --no-naive >"$tmp/cap" 2>"$tmp/err"
  rc=$?
  if grep -q "ISA in use: avx512_bf16" "$tmp/cap"; then
    grep -q "bf16-dot peak [0-9]" "$tmp/cap"
  else
    grep -q "bf16-dot peak n/a" "$tmp/cap"
  fi
  check "FP8GEMM_MAX_ISA=$cap: bf16-dot peak only with avx512_bf16 in force (exit $rc)" $?
done

echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
