"""C infer vs the Python fake, over the same generated cases: equal shapes, dtypes and
strides where both accept, and equal rejection (same exception class) where either rejects.

Cases: the valid sweep of torch_cases.py, each with one rule broken at a time, and a few
thousand random argument sets drawn from shapes near the valid ones (off-by-one dims,
extra/missing ranks, wrong dtypes), so both sides see the corners of every rule.
"""
import random

import pytest
import torch
import torch_cases
from torch._subclasses.fake_tensor import FakeTensorMode

from fp8gemm import _native
from fp8gemm._dtypes import NAME, dtype_name, spec, torch_shape

E4, E5, E8M0, FP4 = torch.float8_e4m3fn, torch.float8_e5m2, torch.float8_e8m0fnu, torch.float4_e2m1fn_x2
BF16, F16, F32 = torch.bfloat16, torch.float16, torch.float32


def c_infer(op, args):
    """The C infer over the same arguments: list of (dtype name, torch shape, strides)."""
    conv = [spec(a, op) if isinstance(a, torch.Tensor) else
            dtype_name(a, op) if isinstance(a, torch.dtype) else a for a in args]
    res = getattr(_native, op + "_infer")(*conv)
    descs = [res[0]] if op.startswith("fp8_gemm") else list(res) if op in ("fp8_quantize", "mx_quantize") else [res]
    out = []
    for name, shape, strides in descs:
        tshape = torch_shape(name, shape)
        # contiguous strides of the torch container (e2m1: halved last dim)
        st, s = [], 1
        for d in reversed(tshape):
            st.insert(0, s)
            s *= max(d, 1)
        out.append((name, tuple(tshape), tuple(st) if name == "e2m1" else tuple(strides)))
    return out


def fake_infer(op, args):
    with FakeTensorMode() as mode:
        fargs = [mode.from_tensor(a) if isinstance(a, torch.Tensor) else a for a in args]
        res = getattr(torch.ops.fp8gemm, op)(*fargs)
    res = res if isinstance(res, tuple) else (res,)
    return [(NAME[r.dtype], tuple(r.shape), tuple(r.stride())) for r in res]


def outcome(fn, op, args):
    try:
        return "ok", fn(op, args)
    except (ValueError, NotImplementedError) as e:
        return type(e).__name__, None


def check_same(op, args):
    c, f = outcome(c_infer, op, args), outcome(fake_infer, op, args)
    assert c[0] == f[0], f"{op}: C says {c[0]}, fake says {f[0]}"
    assert c[1] == f[1]
    return c[0]


# ------------------------------------------------------------------- generation
def T(shape, dtype=E4):
    return torch.empty(shape, dtype=torch.uint8).view(dtype) if dtype in (E4, E5, E8M0, FP4, torch.float8_e4m3fnuz, torch.float8_e5m2fnuz) \
        else torch.empty(shape, dtype=dtype)


def near(rng, shape):
    """A shape close to `shape`: as is, one dim +-1, a dim dropped or added, or a scalar."""
    shape = list(shape)
    r = rng.random()
    if r < 0.45 or not shape:
        return shape
    if r < 0.7:
        i = rng.randrange(len(shape))
        shape[i] = max(0, shape[i] + rng.choice((-1, 1)))
        return shape
    if r < 0.8:
        return shape[1:]
    if r < 0.9:
        return [1] + shape
    return [rng.choice((1, 2))]


def random_gemm(rng):
    k = rng.choice((32, 64, 130, 7))
    n = rng.choice((1, 5, 129))
    lead = [rng.choice((1, 2, 3)) for _ in range(rng.randrange(0, 3))]
    batched = rng.random() < 0.2
    if batched:
        lead = [2, 3]
    x = T(lead + [k], rng.choice((E4, E4, E5, BF16)))
    rows = 1
    for d in lead:
        rows *= d
    wshape = ([2, k, n] if batched else [k, n])
    w = T(near(rng, wshape), rng.choice((E4, E5, E4, F32)))
    if rng.random() < 0.3 and w.dim() == 2:
        w = T(list(reversed(w.shape)), w.dtype).t()
    kb, nb = (k + 127) // 128, (n + 127) // 128
    sa_shapes = [None, [1], [], lead + [1], lead + [kb], lead + [k // 32], [rows, 1]]
    sw_shapes = [None, [1], [n], [1, n], [n, 1], [kb, nb], [k // 32, n], [2, k // 32, n], [1, 1, n]]
    sa = rng.choice(sa_shapes)
    sw = rng.choice(sw_shapes)
    mx = rng.random() < 0.3
    sdt = lambda: E8M0 if mx else rng.choice((F32, F32, F32, BF16))
    sa = None if sa is None else T(near(rng, sa), sdt())
    sw = None if sw is None else T(near(rng, sw), sdt())
    bias = rng.choice([None, [0], [1], [n], lead + [1], lead + [n], [n + 1]])
    bias = None if bias is None else T(near(rng, bias), rng.choice((F32, BF16, F16, E4)))
    return "fp8_gemm", (x, w, rng.choice((None, BF16, F16, F32, E4)), sa, sw, bias)


def random_w8a16(rng):
    _, (x, w, _, _, sw, bias) = random_gemm(rng)
    x = T(list(x.shape), rng.choice((F32, BF16, F16, E4)))
    if sw is not None and rng.random() < 0.5:
        k, n = x.shape[-1], w.shape[-1]
        g = rng.choice((32, 64, 128, 16))
        sw = T(near(rng, [(k + g - 1) // g, rng.choice((n, (n + g - 1) // g))]), rng.choice((F32, BF16, E8M0)))
    return "fp8_gemm_w8a16", (x, w, sw, bias)


def random_quant(rng):
    shape = [rng.choice((1, 2, 3, 5)) for _ in range(rng.randrange(0, 3))] + [rng.choice((32, 64, 50, 7, 0))]
    x = T(shape, rng.choice((F32, BF16, F16, E4)))
    kind = rng.randrange(4)
    if kind == 0:
        gran = rng.choice(("tensor", "token", "block", "block2d", "rows"))
        g = rng.choice((128, 32, 3, 0, -1))
        scale = None
        if rng.random() < 0.3:
            want = [1] if gran in ("tensor", "rows") else list(shape[:-1]) + [1]
            scale = T(near(rng, want), rng.choice((F32, F32, BF16)))
        ub = T(near(rng, [1]), rng.choice((F32, BF16))) if rng.random() < 0.2 else None
        min_scale = rng.choice((4.359654017857143e-06, 4.359654017857143e-06, 1e-3, 0.0, -1.0, 1e-50, float("inf")))
        return "fp8_quantize", (x, rng.choice((E4, E5, torch.float8_e4m3fnuz, E8M0)), gran, g, scale, ub, min_scale)
    if kind == 1:
        return "mx_quantize", (x, rng.choice((E4, E5, FP4, torch.float8_e4m3fnuz)), rng.choice((32, 32, 64, 0)),
                               rng.choice(("floor", "rceil", "up")))
    if kind == 2:
        return "fp8_cast", (x, rng.choice((E4, E5, E8M0, FP4, F32)), rng.random() < 0.5)
    q = T(shape, rng.choice((E4, E5, FP4, torch.uint8, F32)))
    rows_last = lambda last: list(q.shape[:-1]) + [last]
    s = rng.choice([None, [1], rows_last(1), rows_last(1), rows_last(2), [2, 1, 1]])
    s = None if s is None else T(near(rng, s), rng.choice((F32, E8M0, BF16)))
    return "fp8_dequantize", (q, s, rng.choice((F32, BF16, F16, E4)), rng.choice((0, 0, 32, 16, -1)))


def broken_cases():
    """Each valid case with one argument replaced by a wrong-dtype / wrong-shape tensor."""
    for label, op, args in torch_cases.valid_cases():
        for i, a in enumerate(args):
            if isinstance(a, torch.Tensor) and a.dim() >= 1:
                bad = list(a.shape)
                bad[-1] += 1
                yield f"{label}-arg{i}-shape", op, args[:i] + (T(bad, a.dtype),) + args[i + 1:]


GENERATORS = (random_gemm, random_w8a16, random_quant, random_quant)


def test_valid_sweep_agrees_and_is_accepted():
    for label, op, args in torch_cases.valid_cases():
        assert check_same(op, args) == "ok", label


def test_broken_sweep_agrees():
    outcomes = [check_same(op, args) for _, op, args in broken_cases()]
    assert outcomes.count("ValueError") > len(outcomes) // 2  # most single breaks are rejections


@pytest.mark.parametrize("seed", range(4))
def test_random_cases_agree(seed):
    rng = random.Random(seed)
    seen = {"ok": 0, "ValueError": 0, "NotImplementedError": 0}
    for _ in range(600):
        op, args = rng.choice(GENERATORS)(rng)
        seen[check_same(op, args)] += 1
    assert seen["ok"] > 30 and seen["ValueError"] > 100  # both sides of every rule exercised
