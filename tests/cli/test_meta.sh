#!/usr/bin/env bash
# fp8gemm meta: outputs derived from docs/ops.md rules (leading dims kept, absent out_dtype
# -> f16, scale shapes of the quantize ops), rejections exit 2 naming the argument.
set -u
cli=${1:?path to the fp8gemm CLI}
pass=0 fail=0

ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }

# expect "EXPECTED STDOUT" ARGS... : exit 0 and exactly this stdout.
expect() {
  local want=$1; shift
  local got rc
  got=$("$cli" meta "$@" 2>/tmp/meta_err.$$); rc=$?
  if [ "$rc" = 0 ] && [ "$got" = "$want" ]; then ok; else
    bad "meta $* -> rc $rc, stdout '$got' (want '$want'), stderr: $(cat /tmp/meta_err.$$)"; fi
}

# reject "TEXT THE MESSAGE MUST CONTAIN" ARGS... : exit 2, empty stdout, message on stderr.
reject() {
  local needle=$1; shift
  local got err rc
  got=$("$cli" meta "$@" 2>/tmp/meta_err.$$); rc=$?
  err=$(cat /tmp/meta_err.$$)
  if [ "$rc" = 2 ] && [ -z "$got" ] && [[ "$err" == *"$needle"* ]] && [ "$(wc -l < /tmp/meta_err.$$)" = 1 ]; then ok; else
    bad "meta $* -> rc $rc, stdout '$got', stderr '$err' (want exit 2 and '$needle')"; fi
}

# --- fp8_gemm
# The acceptance example of the issue.
expect "bf16:2x7x11008" fp8_gemm --q-input e4m3fn:2x7x4096 --q-weight e4m3fn:4096x11008 \
  --input-scales f32:2x7x1 --weight-scale f32:11008 --out-dtype bf16
# --ARG=VALUE form, same answer.
expect "bf16:2x7x11008" fp8_gemm --q-input=e4m3fn:2x7x4096 --q-weight=e4m3fn:4096x11008 \
  --input-scales=f32:2x7x1 --weight-scale=f32:11008 --out-dtype=bf16
# 1-D input, absent out_dtype means f16.
expect "f16:11008" fp8_gemm --q-input e4m3fn:4096 --q-weight e4m3fn:4096x11008
expect "f16:11008" fp8_gemm --q-input e4m3fn:4096 --q-weight e4m3fn:4096x11008 --out-dtype none
# Permuted [m, b, K] view of a [b, m, K] buffer, NT weight (transposed [N, K]).
expect "f32:7x2x11008" fp8_gemm --q-input e4m3fn:7x2x4096@4096x28672x1 \
  --q-weight e4m3fn:4096x11008@1x4096 --input-scales f32:7x2x1 --out-dtype f32
# Batched weight [B, K, N] with input [B, M, K].
expect "f16:3x5x16" fp8_gemm --q-input e5m2:3x5x64 --q-weight e5m2:3x64x16
# 4-D input, block scales 1x128 and 128x128 (K = 256, N = 100).
expect "bf16:2x3x4x100" fp8_gemm --q-input e4m3fn:2x3x4x256 --q-weight e4m3fn:256x100 \
  --input-scales f32:2x3x4x2 --weight-scale f32:2x1 --out-dtype bf16
# MXFP8: e8m0 [*, K/32] x [K/32, N].
expect "f16:5x48" fp8_gemm --q-input e4m3fn:5x64 --q-weight e4m3fn:64x48 \
  --input-scales e8m0:5x2 --weight-scale e8m0:2x48
# Full bias [*, N]; contiguous output strides on request.
expect "bf16:2x7x11008@77056x11008x1" fp8_gemm --strides --q-input e4m3fn:2x7x4096 \
  --q-weight e4m3fn:4096x11008 --bias f32:2x7x11008 --out-dtype bf16
# Zero-size leading dim.
expect "f16:0x7x16" fp8_gemm --q-input e4m3fn:0x7x32 --q-weight e4m3fn:32x16

# --- fp8_gemm_w8a16: output dtype = input dtype
expect "bf16:2x7x11008" fp8_gemm_w8a16 --input bf16:2x7x4096 --q-weight e4m3fn:4096x11008 \
  --weight-scale f32:32x11008
expect "f32:7x2x33" fp8_gemm_w8a16 --input f32:7x2x300@300x2100x1 --q-weight e5m2:300x33@1x300 \
  --weight-scale bf16:33

# --- quantization ops: two outputs, one line each
expect $'e4m3fn:2x7x4096\nf32:2x7x1' fp8_quantize --input bf16:2x7x4096 --fp8-dtype e4m3fn
expect $'e4m3fn:2x7x4096\nf32:2x7x32' fp8_quantize --input bf16:2x7x4096 --fp8-dtype e4m3fn \
  --granularity block --group-size 128
expect $'e5m2:300x256\nf32:3x2' fp8_quantize --input f32:300x256 --fp8-dtype e5m2 \
  --granularity block2d
expect $'e4m3fnuz:5x3\nf32:1' fp8_quantize --input f16:5x3 --fp8-dtype e4m3fnuz --granularity tensor
expect $'e2m1:4x64\ne8m0:4x2' mx_quantize --input f32:4x64 --elem-dtype e2m1
expect $'e4m3fn:2x3x96\ne8m0:2x3x3' mx_quantize --input bf16:2x3x96 --elem-dtype e4m3fn \
  --scale-mode rceil
expect "bf16:4x256" fp8_dequantize --q e4m3fn:4x256 --scale f32:4x2 --out-dtype bf16
expect "f32:3x5" fp8_dequantize --q e5m2:3x5 --out-dtype f32
# Rank 0 ('f32:') keeps rank 0.
expect "e8m0:" fp8_cast --x f32: --dtype e8m0
expect "e4m3fn:1" fp8_cast --x f32:1 --dtype e4m3fn --saturate true

# --- rejections: exit 2, one line naming the argument
reject "fp8_gemm: q_weight.shape[0] (4096) must equal q_input.shape[-1] (4095)" \
  fp8_gemm --q-input e4m3fn:2x7x4095 --q-weight e4m3fn:4096x11008
reject "q_input.dtype" fp8_gemm --q-input f32:2x4096 --q-weight e4m3fn:4096x11008
reject "weight_scale" fp8_gemm --q-input e4m3fn:2x4096 --q-weight e4m3fn:4096x11008 \
  --weight-scale f32:11007
reject "out_dtype" fp8_gemm --q-input e4m3fn:2x4096 --q-weight e4m3fn:4096x11008 --out-dtype e5m2
reject "--out-dtype" fp8_gemm --q-input e4m3fn:2x4096 --q-weight e4m3fn:4096x11008 --out-dtype bf17
reject "--q-inputt" fp8_gemm --q-inputt e4m3fn:2x4096 --q-weight e4m3fn:4096x11008
reject "--q-input" fp8_gemm --q-input e4m3fn:2x --q-weight e4m3fn:4096x11008
reject "--q-input" fp8_gemm --q-input e4m3fn2x4096 --q-weight e4m3fn:4096x11008
reject "--q-input" fp8_gemm --q-input e4m3fn:2x4096@1 --q-weight e4m3fn:4096x11008
reject "--q-weight" fp8_gemm --q-input e4m3fn:2x4096
reject "--q-weight" fp8_gemm --q-input e4m3fn:2x4096 --q-weight
reject "given twice" fp8_gemm --q-input e4m3fn:2x4 --q-input e4m3fn:2x4 --q-weight e4m3fn:4x4
reject "--group-size" fp8_quantize --input f32:4x8 --fp8-dtype e4m3fn --group-size 12x
reject "--granularity" fp8_quantize --input f32:4x8 --fp8-dtype e4m3fn --granularity row
reject "--saturate" fp8_cast --x f32:4 --dtype e5m2 --saturate maybe
reject "--min-scale" fp8_quantize --input f32:4x8 --fp8-dtype e4m3fn --min-scale x
reject "fp8_gemm_x" fp8_gemm_x --q-input e4m3fn:2x4
reject "OP" ""
reject "mx_quantize" mx_quantize --input f32:4x48 --elem-dtype e4m3fn

# --- help
for args in "--help" "fp8_gemm --help"; do
  out=$("$cli" meta $args); rc=$?
  if [ "$rc" = 0 ] && [[ "$out" == *"usage: fp8gemm meta"* ]] && [[ "$out" == *"--q-input SPEC"* ]]; then ok; else
    bad "meta $args -> rc $rc"; fi
done
out=$("$cli" meta 2>&1 >/dev/null); rc=$?
if [ "$rc" = 2 ] && [[ "$out" == *"OP"* ]]; then ok; else bad "meta without OP -> rc $rc '$out'"; fi

rm -f /tmp/meta_err.$$
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
