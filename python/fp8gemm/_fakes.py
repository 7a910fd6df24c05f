"""Fake (meta) implementations: the C infer rules (src/ops/*_infer) in SymInt-safe torch.

Each fake validates what the C infer validates and returns empty outputs with the shapes,
dtypes and (contiguous) strides the C infer returns. Constraints are torch._check_value /
torch._check_not_implemented (ValueError / NotImplementedError, as the extension raises);
shape forms that select among readings (per-tensor vs per-token scale, ...) branch on
SymInt comparisons, which become guards under torch.compile. tests/python/
test_torch_infer_vs_fake.py runs both over generated cases.
"""
import math
import struct

import torch

from ._dtypes import E2M1, E8M0, FP8, WIDE, is_e2m1

_check = torch._check_value

GRANULARITY = {"tensor": 1, "token": 2, "block": 3, "block2d": 4}
SCALE_MODE = {"floor": 1, "rceil": 2}


def _ceil_div(a, b):
    return (a + b - 1) // b


def _prod(xs):
    p = 1
    for x in xs:
        p = p * x
    return p


def _as_f32(x):
    """x rounded to float32 in plain Python (no tensor: fakes run under FakeTensorMode)."""
    try:
        return struct.unpack("f", struct.pack("f", x))[0]
    except OverflowError:
        return math.copysign(math.inf, x)


def _require_wide(op, arg, t, min_rank):
    _check(t.dtype in WIDE, lambda: f"{op}: {arg}.dtype: expected f32, bf16 or f16, got {t.dtype}")
    _check(t.dim() >= min_rank, lambda: f"{op}: {arg}: expected rank >= {min_rank}, got {t.dim()}")


def _same_device(op, *tensors):
    devs = {t.device for t in tensors if t is not None}
    _check(len(devs) <= 1, lambda: f"{op}: expected every tensor on one device, got {sorted(map(str, devs))}")


def _contiguous_like(t, shape, dtype):
    return t.new_empty(shape, dtype=dtype)


# ---------------------------------------------------------------------- GEMMs
class _Facts:
    def __init__(self, op, x, w, w8a16):
        arg = "input" if w8a16 else "q_input"
        if w8a16:
            _check(x.dtype in WIDE, lambda: f"{op}: input.dtype: expected bf16, f16 or f32, got {x.dtype}")
        else:
            _check(x.dtype in FP8, lambda: f"{op}: q_input.dtype: expected an fp8 dtype, got {x.dtype}")
        _check(w.dtype in FP8, lambda: f"{op}: q_weight.dtype: expected an fp8 dtype, got {w.dtype}")
        _check(x.dim() >= 1, lambda: f"{op}: {arg}.ndim: expected >= 1 ([*, K]), got 0")
        _check(w.dim() in (2, 3), lambda: f"{op}: q_weight.ndim: expected 2 or 3, got {w.dim()}")
        self.batched = w.dim() == 3
        if self.batched:
            _check(x.dim() == 3, lambda: f"{op}: {arg}.ndim: a batched q_weight needs [B, M, K]")
            _check(x.shape[0] == w.shape[0], lambda: f"{op}: {arg}.shape[0] must equal q_weight.shape[0]")
        self.k = x.shape[-1]
        _check(w.shape[-2] == self.k,
               lambda: f"{op}: q_weight.shape[{w.dim() - 2}] ({w.shape[-2]}) must equal "
                       f"{arg}.shape[-1] ({self.k})")
        self.n = w.shape[-1]
        self.batch = w.shape[0] if self.batched else 1
        self.rows = _prod(x.shape[:-1])
        self.op = op

    def rows_by(self, t, last):
        return t.dim() >= 1 and t.shape[-1] == last and _prod(t.shape[:-1]) == self.rows

    def weight_2d(self, t, a, b):
        if t.dim() == 2:
            return t.shape[0] == a and t.shape[1] == b
        return (self.batched and t.dim() == 3 and t.shape[1] == a and t.shape[2] == b
                and (t.shape[0] == 1 or t.shape[0] == self.batch))

    def weight_tensor(self, t):
        return t.numel() == 1 or self.weight_2d(t, 1, 1)

    def weight_channel(self, t):
        return ((t.dim() == 1 and t.shape[0] == self.n) or self.weight_2d(t, 1, self.n)
                or self.weight_2d(t, self.n, 1))


def _input_scale_forms(f, t):
    if t is None:
        return {"none"}
    if t.dtype == E8M0:
        _check(f.k % 32 == 0, lambda: f"{f.op}: input_scales: e8m0 (MX) scales need K % 32 == 0")
        _check(f.rows_by(t, f.k // 32), lambda: f"{f.op}: input_scales.shape: e8m0 (MX) scales must be [*, K/32]")
        return {"mx"}
    _check(t.dtype == torch.float32, lambda: f"{f.op}: input_scales.dtype: expected f32 (or e8m0 for MX), got {t.dtype}")
    forms = set()
    if t.numel() == 1:
        forms.add("tensor")
    if f.rows_by(t, 1):
        forms.add("token")
    if f.rows_by(t, _ceil_div(f.k, 128)):
        forms.add("block")
    _check(bool(forms), lambda: f"{f.op}: input_scales.shape: expected numel 1, [*, 1] or [*, ceil(K/128)], got {list(t.shape)}")
    return forms


def _weight_scale_forms(f, t):
    if t is None:
        return {"none"}
    if t.dtype == E8M0:
        _check(f.k % 32 == 0, lambda: f"{f.op}: weight_scale: e8m0 (MX) scales need K % 32 == 0")
        _check(f.weight_2d(t, f.k // 32, f.n), lambda: f"{f.op}: weight_scale.shape: e8m0 (MX) scales must be [K/32, N]")
        return {"mx"}
    _check(t.dtype == torch.float32, lambda: f"{f.op}: weight_scale.dtype: expected f32 (or e8m0 for MX), got {t.dtype}")
    forms = set()
    if f.weight_tensor(t):
        forms.add("tensor")
    if f.weight_channel(t):
        forms.add("channel")
    if f.weight_2d(t, _ceil_div(f.k, 128), _ceil_div(f.n, 128)):
        forms.add("block")
    _check(bool(forms), lambda: f"{f.op}: weight_scale.shape: expected numel 1, N elements or [ceil(K/128), ceil(N/128)], got {list(t.shape)}")
    return forms


_PAIRINGS = [("none", "none"), ("none", "tensor"), ("tensor", "none"), ("tensor", "tensor"),
             ("token", "none"), ("token", "tensor"), ("none", "channel"), ("tensor", "channel"),
             ("token", "channel"), ("block", "block"), ("mx", "mx")]


def _check_bias(f, t):
    if t is None:
        return
    _check(t.dtype in WIDE, lambda: f"{f.op}: bias.dtype: expected f32, bf16 or f16, got {t.dtype}")
    numel = t.numel()
    ok = (numel == 0 or numel == 1 or (t.dim() >= 1 and t.shape[-1] == f.n and numel == f.n)
          or f.rows_by(t, 1) or f.rows_by(t, f.n))
    _check(ok, lambda: f"{f.op}: bias.shape: expected numel 0 or 1, [N], [*, 1] or [*, N], got {list(t.shape)}")


def _gemm_out(x, f, dtype):
    return _contiguous_like(x, list(x.shape[:-1]) + [f.n], dtype)


def fp8_gemm(q_input, q_weight, out_dtype, input_scales, weight_scale, bias=None):
    _same_device("fp8_gemm", q_input, q_weight, input_scales, weight_scale, bias)
    f = _Facts("fp8_gemm", q_input, q_weight, False)
    out_dtype = torch.float16 if out_dtype is None else out_dtype
    _check(out_dtype in WIDE, lambda: f"fp8_gemm: out_dtype: expected bf16, f16 or f32, got {out_dtype}")
    af = _input_scale_forms(f, input_scales)
    wf = _weight_scale_forms(f, weight_scale)
    _check(any(a in af and w in wf for a, w in _PAIRINGS),
           lambda: f"fp8_gemm: input_scales ({af}) and weight_scale ({wf}) do not pair")
    _check_bias(f, bias)
    return _gemm_out(q_input, f, out_dtype)


def fp8_gemm_w8a16(input, q_weight, weight_scale, bias=None):
    _same_device("fp8_gemm_w8a16", input, q_weight, weight_scale, bias)
    f = _Facts("fp8_gemm_w8a16", input, q_weight, True)
    t = weight_scale
    if t is not None:
        _check(t.dtype in (torch.float32, torch.bfloat16, E8M0),
               lambda: f"fp8_gemm_w8a16: weight_scale.dtype: expected f32, bf16 or e8m0, got {t.dtype}")
        ok = f.weight_tensor(t) or f.weight_channel(t) or any(
            f.weight_2d(t, _ceil_div(f.k, g), _ceil_div(f.n, g if blocks else 1))
            for blocks in (False, True) for g in (128, 64, 32))
        _check(ok, lambda: f"fp8_gemm_w8a16: weight_scale.shape: not per-tensor, per-channel, "
                           f"groups or blocks, got {list(t.shape)}")
    _check_bias(f, bias)
    return _gemm_out(input, f, input.dtype)


# --------------------------------------------------------------- quantization
def quantize_scale_shape(shape, granularity, group_size):
    """Scale shape of fp8_quantize (fp8g_scale_layout_shape)."""
    if granularity == 2:
        return list(shape[:-1]) + [1]
    if granularity == 3:
        return list(shape[:-1]) + [_ceil_div(shape[-1], group_size)]
    if granularity == 4:
        return list(shape[:-2]) + [_ceil_div(shape[-2], group_size), _ceil_div(shape[-1], group_size)]
    return [1]


def fp8_quantize(input, fp8_dtype, granularity="token", group_size=128, scale=None,
                 scale_ub=None, min_scale=4.359654017857143e-06):
    op = "fp8_quantize"
    gran = GRANULARITY.get(granularity)
    _check(gran is not None, lambda: f"{op}: granularity: expected tensor, token, block or block2d, got {granularity!r}")
    _same_device(op, input, scale, scale_ub)
    _require_wide(op, "input", input, 2 if gran == 4 else 1)
    _check(fp8_dtype in FP8, lambda: f"{op}: fp8_dtype: expected e4m3fn, e5m2, e4m3fnuz or e5m2fnuz, got {fp8_dtype}")
    if gran in (3, 4):
        _check(group_size >= 1, lambda: f"{op}: group_size: expected >= 1, got {group_size}")
    min_f = _as_f32(min_scale)
    _check(min_scale > 0 and math.isfinite(min_f) and min_f > 0,
           lambda: f"{op}: min_scale: expected a finite value > 0 (also as f32), got {min_scale}")
    if scale_ub is not None:
        _check(scale is None, lambda: f"{op}: scale_ub: applies to dynamic scales only")
        _check(scale_ub.dtype == torch.float32, lambda: f"{op}: scale_ub.dtype: expected f32, got {scale_ub.dtype}")
        _check(scale_ub.numel() == 1, lambda: f"{op}: scale_ub: expected numel 1")
    sshape = quantize_scale_shape(input.shape, gran, group_size)
    if scale is not None:
        _check(scale.dtype == torch.float32, lambda: f"{op}: scale.dtype: expected f32, got {scale.dtype}")
        same = list(scale.shape) == sshape if scale.dim() == len(sshape) else False
        if gran == 1 and scale.numel() == 1:
            same = True
        _check(same, lambda: f"{op}: scale.shape: expected {sshape}, got {list(scale.shape)}")
    return (_contiguous_like(input, list(input.shape), fp8_dtype),
            _contiguous_like(input, sshape, torch.float32))


def mx_quantize(input, elem_dtype, block_size=32, scale_mode="floor"):
    op = "mx_quantize"
    # Strings are parsed before the C call (as the binding does), so checked first.
    _check(scale_mode in SCALE_MODE, lambda: f"{op}: scale_mode: expected 'floor' or 'rceil', got {scale_mode!r}")
    _require_wide(op, "input", input, 1)
    _check(elem_dtype in (torch.float8_e4m3fn, torch.float8_e5m2, E2M1),
           lambda: f"{op}: elem_dtype: expected e4m3fn, e5m2 or e2m1, got {elem_dtype}")
    _check(block_size >= 1, lambda: f"{op}: block_size: expected 32, got {block_size}")
    torch._check_not_implemented(block_size == 32, lambda: f"{op}: block_size: only 32 is implemented, got {block_size}")
    k = input.shape[-1]
    _check(k % 32 == 0, lambda: f"{op}: input.shape[-1]: expected a multiple of 32, got {k}")
    lead = list(input.shape[:-1])
    qshape = lead + [k // 2] if elem_dtype == E2M1 else lead + [k]
    return (_contiguous_like(input, qshape, elem_dtype),
            _contiguous_like(input, lead + [k // 32], E8M0))


def fp8_dequantize(q, scale, out_dtype, group_size=0):
    op = "fp8_dequantize"
    _same_device(op, q, scale)
    packed = is_e2m1(q)
    _check(q.dtype in FP8 or packed, lambda: f"{op}: q.dtype: expected an fp8 dtype or e2m1, got {q.dtype}")
    _check(q.dim() >= 1, lambda: f"{op}: q: expected rank >= 1, got 0")
    if packed:
        _check(q.shape[-1] <= 1 or q.stride(-1) == 1, lambda: f"{op}: q.stride[-1]: e2m1 rows must be contiguous")
    _check(out_dtype in WIDE, lambda: f"{op}: out_dtype: expected f32, bf16 or f16, got {out_dtype}")
    _check(group_size >= 0, lambda: f"{op}: group_size: expected >= 1 (or 0 for the default), got {group_size}")
    shape = list(q.shape)
    if packed:
        shape[-1] = shape[-1] * 2
    if scale is not None:
        _check(scale.dtype in (torch.float32, E8M0), lambda: f"{op}: scale.dtype: expected f32 or e8m0, got {scale.dtype}")
        g = group_size if group_size else (32 if scale.dtype == E8M0 else 128)
        n, sn, s = len(shape), scale.dim(), list(scale.shape)
        rows, k = _prod(shape[:-1]), shape[-1]
        nbk = _ceil_div(k, g)
        ok = (scale.numel() == 1
              or (sn >= 1 and s[-1] == 1 and scale.numel() == rows)
              or (sn == n and s[:-1] == shape[:-1] and s[-1] == nbk)
              or (sn == n and n >= 2 and s[:-2] == shape[:-2]
                  and s[-2] == _ceil_div(shape[-2], g) and s[-1] == nbk))
        _check(ok, lambda: f"{op}: scale.shape: {s} does not match q of shape {shape}")
    return _contiguous_like(q, shape, out_dtype)


def fp8_cast(x, dtype, saturate=False):
    op = "fp8_cast"
    _require_wide(op, "x", x, 0)
    _check(dtype in FP8 or dtype in (E2M1, E8M0),
           lambda: f"{op}: to: expected e4m3fn, e5m2, e4m3fnuz, e5m2fnuz, e2m1 or e8m0, got {dtype}")
    shape = list(x.shape)
    if dtype == E2M1:
        _check(x.dim() > 0, lambda: f"{op}: x: e2m1 packs two per byte, expected rank >= 1, got a scalar")
        _check(shape[-1] % 2 == 0,
               lambda: f"{op}: x.shape[-1]: e2m1 packs two per byte, expected an even length, got {shape[-1]}")
        shape[-1] = shape[-1] // 2
    return _contiguous_like(x, shape, dtype)


FAKES = {"fp8_gemm": fp8_gemm, "fp8_gemm_w8a16": fp8_gemm_w8a16, "fp8_quantize": fp8_quantize,
         "mx_quantize": mx_quantize, "fp8_dequantize": fp8_dequantize, "fp8_cast": fp8_cast}
