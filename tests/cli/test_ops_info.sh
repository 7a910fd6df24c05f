#!/usr/bin/env bash
# fp8gemm ops prints the schemas of the op contract (docs/ops.md) verbatim; fp8gemm info
# names a kernel (or a reason) for every op x scheme x dtype and honours the ISA cap.
set -u
cli=${1:?path to the fp8gemm CLI}
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }

# The schema strings the torch package registers, as the contract spells them.
want='fp8_gemm(Tensor q_input, Tensor q_weight, ScalarType? out_dtype, Tensor? input_scales, Tensor? weight_scale, Tensor? bias=None) -> Tensor
fp8_gemm_w8a16(Tensor input, Tensor q_weight, Tensor? weight_scale, Tensor? bias=None) -> Tensor
fp8_quantize(Tensor input, ScalarType fp8_dtype, str granularity="token", int group_size=128, Tensor? scale=None, Tensor? scale_ub=None, float min_scale=4.359654017857143e-06) -> (Tensor, Tensor)
mx_quantize(Tensor input, ScalarType elem_dtype, int block_size=32, str scale_mode="floor") -> (Tensor, Tensor)
fp8_dequantize(Tensor q, Tensor? scale, ScalarType out_dtype, int group_size=0) -> Tensor
fp8_cast(Tensor x, ScalarType dtype, bool saturate=False) -> Tensor'
got=$("$cli" ops); rc=$?
if [ "$rc" = 0 ] && [ "$got" = "$want" ]; then ok; else bad "ops -> rc $rc:"$'\n'"$got"; fi
"$cli" ops extra >/dev/null 2>&1; [ $? = 2 ] && ok || bad "ops extra should exit 2"

# info: one row per op x scheme x dtype of the registry: 4x4 + 5x4 + 4x4 + 1x3 + 1x5 + 1x6.
rows() { grep -E '^(fp8_gemm|fp8_gemm_w8a16|fp8_quantize|mx_quantize|fp8_dequantize|fp8_cast) '; }
info=$("$cli" info); rc=$?
[ "$rc" = 0 ] && ok || bad "info -> rc $rc"
for key in "fp8gemm " "cpu features:" "isa detected:" "isa cap:" "isa active:" "threads:"; do
  [[ "$info" == *"$key"* ]] && ok || bad "info lacks '$key'"
done
n=$(printf '%s\n' "$info" | rows | wc -l)
[ "$n" = 66 ] && ok || bad "info has $n kernel rows, want 66"
# Every row ends in "KERNEL (ISA)" or "unavailable: REASON".
n_bad=$(printf '%s\n' "$info" | rows | grep -Evc ' [a-z0-9_]+ \((scalar|avx2|avx512|avx512_bf16)\)$| unavailable: .+$')
[ "$n_bad" = 0 ] && ok || bad "$n_bad malformed info rows"
for scheme in "fp8_gemm +per_tensor" "fp8_gemm +mx" "fp8_gemm_w8a16 +group" "fp8_quantize +block2d" \
    "mx_quantize +mx +e2m1" "fp8_cast +elementwise +e8m0"; do
  printf '%s\n' "$info" | grep -Eq "^$scheme" && ok || bad "info lacks a row for $scheme"
done
# Under the scalar cap every kernel is a scalar one.
capped=$(FP8GEMM_MAX_ISA=scalar "$cli" info)
[[ "$capped" == *"isa active:   scalar"* ]] && ok || bad "cap not reported"
n_fast=$(printf '%s\n' "$capped" | rows | grep -Evc '\(scalar\)$')
[ "$n_fast" = 0 ] && ok || bad "$n_fast rows name a non-scalar kernel under FP8GEMM_MAX_ISA=scalar"
"$cli" info extra >/dev/null 2>&1; [ $? = 2 ] && ok || bad "info extra should exit 2"

# --help of each command and of the program.
for cmd in ops info meta check; do
  out=$("$cli" $cmd --help); rc=$?
  [ "$rc" = 0 ] && [[ "$out" == *"usage: fp8gemm $cmd"* ]] && ok || bad "$cmd --help -> rc $rc"
done
out=$("$cli" --help); [ $? = 0 ] && [[ "$out" == *meta* && "$out" == *check* && "$out" == *ops* ]] \
  && ok || bad "--help does not list ops/meta/check"
"$cli" nosuchcommand >/dev/null 2>&1; [ $? = 2 ] && ok || bad "unknown command should exit 2"

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
