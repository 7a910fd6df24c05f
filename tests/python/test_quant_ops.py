"""fp8_quantize, mx_quantize and fp8_dequantize against an independent numpy + ml_dtypes
reference written here from the spec, on random and adversarial data, bit for bit,
on every ISA level this CPU has."""
import ml_dtypes
import numpy as np
import pytest

import fp8gemm_ctypes as fg

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

ML = {fg.E4M3FN: ml_dtypes.float8_e4m3fn, fg.E5M2: ml_dtypes.float8_e5m2,
      fg.E4M3FNUZ: ml_dtypes.float8_e4m3fnuz, fg.E5M2FNUZ: ml_dtypes.float8_e5m2fnuz,
      fg.E2M1: ml_dtypes.float4_e2m1fn}
MAX = {fg.E4M3FN: 448.0, fg.E5M2: 57344.0, fg.E4M3FNUZ: 240.0, fg.E5M2FNUZ: 57344.0,
       fg.E2M1: 6.0}
NAN_CODE = {fg.E4M3FN: 0x7F, fg.E5M2: 0x7E}
EMAX = {fg.E4M3FN: 8, fg.E5M2: 15, fg.E2M1: 2}
AVAILABLE, _ = fg.isa_levels()
WIDES = {fg.F32: "f32", fg.BF16: "bf16", fg.F16: "f16"}
GRANS = {fg.PER_TENSOR: "tensor", fg.PER_TOKEN: "token", fg.PER_BLOCK: "block",
         fg.PER_BLOCK2D: "block2d"}


# ------------------------------------------------------------------ the reference
def encode_sat(x32, dt):
    """Saturating RNE: clamp to +-max, then ml_dtypes' cast (NaN stays NaN)."""
    m = np.float32(MAX[dt])
    return np.clip(x32, -m, m).astype(ML[dt]).view(np.uint8)


def group_amax(a, gran, g):
    """max |x| per scale group (NaN ignored), as the scale array's shape."""
    a = np.where(np.isnan(a), np.float32(0), np.abs(a)).astype(np.float32)
    if gran == fg.PER_TENSOR:
        return np.array([a.max() if a.size else 0], dtype=np.float32)
    if gran == fg.PER_TOKEN:
        return a.max(axis=-1, keepdims=True, initial=np.float32(0))
    K = a.shape[-1]
    nbk = -(-K // g)
    pad = [(0, 0)] * (a.ndim - 1) + [(0, nbk * g - K)]
    a = np.pad(a, pad)  # zeros never raise a max of absolute values
    if gran == fg.PER_BLOCK:
        return a.reshape(a.shape[:-1] + (nbk, g)).max(axis=-1, initial=np.float32(0))
    R = a.shape[-2]
    nbr = -(-R // g)
    a = np.pad(a, [(0, 0)] * (a.ndim - 2) + [(0, nbr * g - R), (0, 0)])
    a = a.reshape(a.shape[:-2] + (nbr, g, nbk, g))
    return a.max(axis=(-3, -1), initial=np.float32(0))


def expand(s, shape, gran, g):
    """Scale per element of an input of `shape`."""
    if gran == fg.PER_TENSOR:
        return np.full(shape, s.reshape(-1)[0], dtype=np.float32)
    if gran == fg.PER_TOKEN:
        return np.broadcast_to(s, shape)
    K = shape[-1]
    e = np.repeat(s, g, axis=-1)[..., :K]
    if gran == fg.PER_BLOCK:
        return e
    return np.repeat(e, g, axis=-2)[..., :shape[-2], :]


def ref_fp8_quantize(x32, dt, gran, g, static=None, ub=None, min_scale=fg.DEFAULT_MIN_SCALE):
    if static is not None:
        s = np.asarray(static, dtype=np.float32)
    else:
        amax = group_amax(x32, gran, g)
        if ub is not None:
            amax = np.where(np.float32(ub) < amax, np.float32(ub), amax).astype(np.float32)
        s = np.maximum(amax / np.float32(MAX[dt]), np.float32(min_scale)).astype(np.float32)
    q = encode_sat((x32 / expand(s, x32.shape, gran, g)).astype(np.float32), dt)
    return q, s


def e8m0_code(amax, elem, mode):
    """The MX scale code of one block, from the definitions (exact float64 powers)."""
    emax = EMAX[elem]
    if mode == fg.MX_FLOOR:
        _, e = np.frexp(np.float64(amax))  # amax = m * 2^e, m in [0.5, 1)
        k = int(e) - 1 - emax
    else:  # smallest k with amax <= elem_max * 2^k
        k = int(np.ceil(np.log2(np.float64(amax) / MAX[elem])))
        while np.ldexp(MAX[elem], k) < amax:
            k += 1
        while np.ldexp(MAX[elem], k - 1) >= amax:
            k -= 1
    return min(max(k + 127, 0), 254)


def ref_mx_quantize(x32, elem, mode):
    blocks = x32.reshape(-1, 32)
    codes = np.empty(blocks.shape[0], dtype=np.uint8)
    q = np.empty(blocks.shape, dtype=np.uint8)
    for b, blk in enumerate(blocks):
        if not np.all(np.isfinite(blk)):
            codes[b] = 0xFF
            q[b] = NAN_CODE.get(elem, 0)
            continue
        amax = np.abs(blk).max()
        codes[b] = 0 if amax == 0 else e8m0_code(amax, elem, mode)
        X = np.float32(np.ldexp(1.0, int(codes[b]) - 127))
        q[b] = encode_sat((blk / X).astype(np.float32), elem)
    if elem == fg.E2M1:
        q = q.reshape(-1)
        q = (q[0::2] | (q[1::2] << 4)).astype(np.uint8)
    return q.reshape(-1), codes.reshape(x32.shape[:-1] + (x32.shape[-1] // 32,))


def decode(codes, dt):
    return codes.view(ML[dt]).astype(np.float32)


# ------------------------------------------------------------------------ data
def widened(x32, wide):
    """What the library sees: the input rounded to the wide dtype, back in f32."""
    return fg.wide_array(x32, wide).astype(np.float32)


def adversarial(R, K, seed, scale_exp=0):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((R, K)) * np.exp2(scale_exp)).astype(np.float32)
    x.flat[rng.integers(0, x.size, max(1, x.size // 50))] = np.nan
    if R > 2:
        x[1] = 0  # a zero row (and so zero blocks)
        # amax 448 gives s = 1 exactly (e4m3fn, per token): x / s keeps the exact ties
        # 1.0625 (-> 1), 1.1875 (-> 1.25) and 2^-10 (-> 0) of docs/numerics.md
        x[2, :] = np.float32(1.0625)
        x[2, ::3] = np.float32(1.1875)
        x[2, 1::3] = np.float32(2.0 ** -10)
        x[2, 0] = np.float32(448.0)
    if R > 4:
        x[3, :] = np.float32(2.0 ** 7)  # amax at a power of two
        x[3, ::2] = np.float32(-1e-40)  # tiny (f32 subnormal)
        x[4, : min(K, 3)] = np.float32(3e38)  # huge
    return x


CASES = [  # (R, K, g)
    (1, 1, 1), (1, 7, 3), (5, 1, 128), (6, 200, 128), (7, 37, 5), (9, 256, 128), (3, 130, 64),
    (33, 515, 128), (64, 1000, 64),
]


def run_quantize(x, dt, gran, g, wide, **kw):
    return fg.quantize(fg.wide_array(x, wide), dt, gran, g, wide=wide, **kw)


@pytest.mark.parametrize("wide", list(WIDES), ids=WIDES.get)
@pytest.mark.parametrize("gran", list(GRANS), ids=GRANS.get)
@pytest.mark.parametrize("dt", fg.FP8, ids=fg.DTYPE_NAMES.get)
def test_fp8_quantize_dynamic(dt, gran, wide):
    for i, (R, K, g) in enumerate(CASES):
        x = adversarial(R, K, seed=i * 31 + dt, scale_exp=(i % 5) * 4 - 8)
        xw = widened(x, wide)
        want_q, want_s = ref_fp8_quantize(xw, dt, gran, g)
        for isa in AVAILABLE:
            with fg.max_isa(isa):
                q, s = run_quantize(x, dt, gran, g, wide)
            where = f"{fg.DTYPE_NAMES[dt]} {GRANS[gran]} {R}x{K} g={g} at {fg.ISA_NAMES[isa]}"
            assert s.shape == want_s.shape, where
            assert np.array_equal(s.view(np.uint32), want_s.view(np.uint32)), \
                f"{where}: scales {s.ravel()[:8]} want {want_s.ravel()[:8]}"
            bad = np.nonzero(q != want_q)
            assert bad[0].size == 0, f"{where}: q differs at {list(zip(*bad))[:5]}"


@pytest.mark.parametrize("gran", list(GRANS), ids=GRANS.get)
def test_fp8_quantize_static_ub_min_scale(gran):
    R, K, g = 6, 70, 32
    x = adversarial(R, K, seed=5)
    x[0, 0] = np.inf
    x[0, 1] = -np.inf
    _, shape_s = ref_fp8_quantize(x, fg.E4M3FN, gran, g)
    static = (np.arange(shape_s.size, dtype=np.float32).reshape(shape_s.shape) + 1) / 7
    for isa in AVAILABLE:
        with fg.max_isa(isa):
            q, s = fg.quantize(x, fg.E4M3FN, gran, g, scale=static)
            want_q, _ = ref_fp8_quantize(x, fg.E4M3FN, gran, g, static=static)
            assert np.array_equal(q, want_q) and np.array_equal(s, static), "static"
            ub = np.array([2.5], dtype=np.float32)
            q, s = fg.quantize(x, fg.E5M2, gran, g, scale_ub=ub, min_scale=1e-3)
            want_q, want_s = ref_fp8_quantize(x, fg.E5M2, gran, g, ub=2.5, min_scale=1e-3)
            assert np.array_equal(s.view(np.uint32), want_s.view(np.uint32)), "ub scales"
            assert np.array_equal(q, want_q), "ub codes"
            assert np.all(np.isfinite(s)), "a finite ub bounds Inf inputs"


def test_inf_without_ub_gives_inf_scale_and_nan_codes():
    x = np.array([[1.0, np.inf, -2.0, 0.0]], dtype=np.float32)
    q, s = fg.quantize(x, fg.E4M3FN, fg.PER_TOKEN)
    assert np.isinf(s[0, 0])
    # 1/Inf = +0, Inf/Inf = NaN (its sign is the CPU's default NaN: x86 sets it), -2/Inf = -0
    assert q[0, 0] == 0x00 and q[0, 1] in (0x7F, 0xFF) and q[0, 2] == 0x80 and q[0, 3] == 0


def test_zero_input_gives_min_scale_and_zero_codes():
    x = np.zeros((3, 5), dtype=np.float32)
    for gran in GRANS:
        q, s = fg.quantize(x, fg.E4M3FN, gran, 2)
        assert np.all(q == 0)
        assert np.all(s == np.float32(fg.DEFAULT_MIN_SCALE))


@pytest.mark.parametrize("gran", list(GRANS), ids=GRANS.get)
def test_fp8_quantize_strided_inputs(gran):
    x = adversarial(12, 96, seed=11)
    views = [x[::2], x[:, ::3], x.T.copy().T, np.asfortranarray(x)[1:7, 5:90]]
    for v in views:
        want_q, want_s = ref_fp8_quantize(np.ascontiguousarray(v), fg.E4M3FN, gran, 16)
        q, s = fg.quantize(v, fg.E4M3FN, gran, 16)
        assert np.array_equal(q, want_q) and np.array_equal(s.view(np.uint32),
                                                            want_s.view(np.uint32))
    x3 = adversarial(12, 64, seed=12).reshape(3, 4, 64)
    perm = np.transpose(x3.reshape(4, 3, 64), (1, 0, 2))  # a permuted [m, b, K] view
    want_q, want_s = ref_fp8_quantize(np.ascontiguousarray(perm), fg.E5M2, gran, 16)
    q, s = fg.quantize(perm, fg.E5M2, gran, 16)
    assert np.array_equal(q, want_q) and np.array_equal(s.view(np.uint32), want_s.view(np.uint32))


# -------------------------------------------------------------------------- MX
def mx_data(rows, K, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, K)).astype(np.float32)
    x *= np.exp2(rng.integers(-30, 30, (rows, K // 32, 1))).repeat(32, axis=2).reshape(rows, K)
    flat = x.reshape(-1, 32)
    n = flat.shape[0]
    flat[0] = 0                         # block of zeros
    flat[1 % n, 3] = np.nan             # NaN block
    flat[2 % n, 5] = -np.inf            # Inf block
    flat[3 % n, 0] = np.float32(1.9 * 4)  # amax mantissa above 1.75: floor != rceil
    flat[4 % n] = np.float32(2.0 ** 5)  # amax at a power of two
    flat[5 % n, :2] = np.float32(3.3e38)  # huge
    flat[6 % n] = np.float32(1e-42)     # tiny: scale clamps to 2^-127
    flat[7 % n] = np.float32(448.0)     # exactly elem max
    flat[8 % n, 0] = np.float32(448.0 * 2 ** 3)
    return x


@pytest.mark.parametrize("wide", list(WIDES), ids=WIDES.get)
@pytest.mark.parametrize("mode", [fg.MX_FLOOR, fg.MX_RCEIL], ids=["floor", "rceil"])
@pytest.mark.parametrize("elem", [fg.E4M3FN, fg.E5M2, fg.E2M1], ids=fg.DTYPE_NAMES.get)
def test_mx_quantize(elem, mode, wide):
    for rows, K in [(1, 32), (3, 64), (10, 320), (2, 2048 + 64)]:
        x = mx_data(rows, K, seed=rows * K + elem)
        xw = widened(x, wide)
        want_q, want_s = ref_mx_quantize(xw, elem, mode)
        for isa in AVAILABLE:
            with fg.max_isa(isa):
                q, s = fg.mx_quantize(fg.wide_array(x, wide), elem, mode, wide=wide)
            where = f"{fg.DTYPE_NAMES[elem]} {rows}x{K} at {fg.ISA_NAMES[isa]}"
            assert np.array_equal(s, want_s), f"{where}: scales {s.ravel()[:10]} want " \
                                              f"{want_s.ravel()[:10]}"
            assert np.array_equal(q, want_q), f"{where}: elements differ"


def test_mx_floor_and_rceil_differ_where_the_spec_says():
    x = np.zeros((1, 32), dtype=np.float32)
    x[0, 0] = 1.9  # e4m3: mantissa 1.9 > 1.75
    _, sf = fg.mx_quantize(x, fg.E4M3FN, fg.MX_FLOOR)
    _, sr = fg.mx_quantize(x, fg.E4M3FN, fg.MX_RCEIL)
    assert sf[0, 0] == 127 - 8 and sr[0, 0] == 127 - 7
    x[0, 0] = 1.75
    _, sf = fg.mx_quantize(x, fg.E4M3FN, fg.MX_FLOOR)
    _, sr = fg.mx_quantize(x, fg.E4M3FN, fg.MX_RCEIL)
    assert sf[0, 0] == sr[0, 0] == 127 - 8


def test_mx_strided_input():
    x = mx_data(8, 128, seed=3)
    v = x[::2, :]
    want_q, want_s = ref_mx_quantize(np.ascontiguousarray(v), fg.E4M3FN, fg.MX_RCEIL)
    q, s = fg.mx_quantize(v, fg.E4M3FN, fg.MX_RCEIL)
    assert np.array_equal(q, want_q) and np.array_equal(s, want_s)


# ------------------------------------------------------------------- dequantize
OUTS = {fg.F32: np.float32, fg.F16: np.float16, fg.BF16: ml_dtypes.bfloat16}


def out_values(buf, out_dtype, shape):
    return buf.view(OUTS[out_dtype]).reshape(shape).astype(np.float32)


def same_values(a, b):
    return np.array_equal(np.isnan(a), np.isnan(b)) and \
        np.array_equal(a[~np.isnan(a)].view(np.uint32), b[~np.isnan(b)].view(np.uint32))


@pytest.mark.parametrize("out_dtype", list(OUTS), ids=lambda d: fg.DTYPE_NAMES[d])
@pytest.mark.parametrize("gran", list(GRANS), ids=GRANS.get)
@pytest.mark.parametrize("dt", fg.FP8, ids=fg.DTYPE_NAMES.get)
def test_fp8_dequantize(dt, gran, out_dtype):
    rng = np.random.default_rng(dt * 10 + gran)
    for R, K, g in CASES:
        codes = rng.integers(0, 256, (R, K), dtype=np.uint8)
        _, shape_s = ref_fp8_quantize(np.zeros((R, K), np.float32), dt, gran, g)
        s = np.exp2(rng.integers(-20, 20, shape_s.shape)).astype(np.float32) * \
            rng.uniform(0.5, 2, shape_s.shape).astype(np.float32)
        want = (decode(codes, dt) * expand(s, (R, K), gran, g)).astype(np.float32)
        want = want.astype(OUTS[out_dtype]).astype(np.float32)
        for isa in AVAILABLE:
            with fg.max_isa(isa):
                buf, _ = fg.dequantize(codes, dt, s, out_dtype=out_dtype, group_size=g)
            got = out_values(buf, out_dtype, (R, K))
            assert same_values(got, want), f"{R}x{K} g={g} at {fg.ISA_NAMES[isa]}"


@pytest.mark.parametrize("elem", [fg.E4M3FN, fg.E5M2, fg.E2M1], ids=fg.DTYPE_NAMES.get)
def test_mx_round_trip_dequantize(elem):
    """mx_quantize then fp8_dequantize with the e8m0 scales = decode * 2^(code-127)."""
    x = mx_data(4, 256, seed=77)
    q, s = fg.mx_quantize(x, elem, fg.MX_FLOOR)
    qv = q.reshape(4, -1)
    for isa in AVAILABLE:
        with fg.max_isa(isa):
            buf, _ = fg.dequantize(qv, elem, s, scale_dtype=fg.E8M0, dims=[4, 256])
        got = out_values(buf, fg.F32, (4, 256))
        if elem == fg.E2M1:
            unpacked = np.empty(q.size * 2, dtype=np.uint8)
            unpacked[0::2], unpacked[1::2] = q & 0xF, q >> 4
            vals = decode(unpacked, elem).reshape(4, 256)
        else:
            vals = decode(q, elem).reshape(4, 256)
        sc = np.where(s == 0xFF, np.float32(np.nan),
                      np.ldexp(np.float32(1), s.astype(np.int32) - 127).astype(np.float32))
        want = (vals * np.repeat(sc, 32, axis=-1)).astype(np.float32)
        assert same_values(got, want)


def test_dequantize_strided_codes():
    rng = np.random.default_rng(8)
    codes = rng.integers(0, 256, (16, 48), dtype=np.uint8)
    s = rng.uniform(0.1, 3, (16, 1)).astype(np.float32)
    for view, sv in [(codes[::2], s[::2]), (codes.T.copy().T, s), (codes[:, ::3], s)]:
        want = (decode(np.ascontiguousarray(view), fg.E4M3FN) * sv).astype(np.float32)
        buf, _ = fg.dequantize(view, fg.E4M3FN, sv)
        assert same_values(out_values(buf, fg.F32, view.shape), want)
