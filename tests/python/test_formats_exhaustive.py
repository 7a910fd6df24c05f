"""Element casts against ml_dtypes (the spec's oracle for the non-saturating cast).

- every f32 bit pattern (2^32) cast to e4m3fn and e5m2, on every ISA level this CPU has;
- all 256 decodes of every format;
- a large random sample plus all specials and code midpoints for the other formats, both
  flavours (the saturating one against ml_dtypes on inputs clamped to +-max first).
Inputs are float32 arrays (float64 would make ml_dtypes round twice).
"""
import time

import ml_dtypes
import numpy as np
import pytest

import fp8gemm_ctypes as fg

ML = {fg.E4M3FN: ml_dtypes.float8_e4m3fn, fg.E5M2: ml_dtypes.float8_e5m2,
      fg.E4M3FNUZ: ml_dtypes.float8_e4m3fnuz, fg.E5M2FNUZ: ml_dtypes.float8_e5m2fnuz,
      fg.E2M1: ml_dtypes.float4_e2m1fn, fg.E8M0: ml_dtypes.float8_e8m0fnu}
MAX = {fg.E4M3FN: 448.0, fg.E5M2: 57344.0, fg.E4M3FNUZ: 240.0, fg.E5M2FNUZ: 57344.0,
       fg.E2M1: 6.0}
AVAILABLE, MISSING = fg.isa_levels()
CHUNK = 1 << 24
# ml_dtypes warns when it turns overflow / Inf into NaN: that is the behaviour under test.
pytestmark = pytest.mark.filterwarnings("ignore:invalid value encountered in cast")


def name(dt):
    return fg.DTYPE_NAMES[dt]


def report_mismatch(what, x, got, want):
    bad = np.nonzero(got != want)[0]
    lines = [f"{what}: {bad.size} mismatches; first ones:"]
    for i in bad[:10]:
        lines.append(f"  x=0x{x.view(np.uint32)[i]:08x} ({x[i]!r}) got 0x{got[i]:02x} "
                     f"want 0x{want[i]:02x}")
    return "\n".join(lines)


def ours(x, dt, saturate=False):
    """Codes from fp8_cast, one per element (e2m1 unpacked from its nibbles)."""
    if dt == fg.E2M1 and x.size % 2:
        x = np.append(x, np.float32(0))[: x.size + 1]
        return ours(x, dt, saturate)[:-1]
    packed = fg.cast(x, dt, saturate)
    if dt == fg.E2M1:
        out = np.empty(packed.size * 2, dtype=np.uint8)
        out[0::2] = packed & 0xF
        out[1::2] = packed >> 4
        return out
    return packed


def oracle(x, dt, saturate=False):
    if saturate:
        x = np.clip(x, np.float32(-MAX[dt]), np.float32(MAX[dt]))  # NaN stays NaN
    return x.astype(ML[dt]).view(np.uint8)


@pytest.mark.parametrize("dt", [fg.E4M3FN, fg.E5M2], ids=name)
def test_every_f32_bit_pattern(dt):
    """2^32 inputs, chunks of 2^24; the ml_dtypes answer is computed once per chunk and
    compared with our cast under every available ISA cap."""
    start = time.time()
    base = np.arange(CHUNK, dtype=np.uint32)
    u = np.empty(CHUNK, dtype=np.uint32)
    for c in range(1 << 32 >> 24):
        np.add(base, np.uint32(c * CHUNK), out=u)
        x = u.view(np.float32)
        want = x.astype(ML[dt]).view(np.uint8)
        for isa in AVAILABLE:
            with fg.max_isa(isa):
                got = fg.cast(x, dt, False)
            if not np.array_equal(got, want):
                pytest.fail(report_mismatch(f"{name(dt)} at {fg.ISA_NAMES[isa]}", x, got, want))
    print(f"{name(dt)}: 2^32 patterns x {len(AVAILABLE)} ISA levels in {time.time() - start:.1f}s")


@pytest.mark.parametrize("isa", MISSING, ids=lambda i: fg.ISA_NAMES[i])
def test_isa_levels_missing_here(isa):
    pytest.skip(f"{fg.ISA_NAMES[isa]} not available on this CPU: its kernels are not tested")


@pytest.mark.parametrize("dt", fg.NARROW, ids=name)
def test_all_256_decodes(dt):
    codes = np.arange(256, dtype=np.uint8)
    ncodes = 16 if dt == fg.E2M1 else 256
    want = codes[:ncodes].view(ML[dt]).astype(np.float32) if dt != fg.E2M1 else \
        np.arange(16, dtype=np.uint8).view(ML[dt]).astype(np.float32)
    got = np.array([_decode_one(int(c), dt) for c in codes[:ncodes]], dtype=np.float32)
    nan_w, nan_g = np.isnan(want), np.isnan(got)
    assert np.array_equal(nan_w, nan_g), f"{name(dt)}: NaN codes differ"
    assert np.array_equal(got[~nan_g].view(np.uint32), want[~nan_w].view(np.uint32)), \
        f"{name(dt)}: decoded values differ"
    # The op path (fp8_dequantize, scale 1) agrees with the one-value API on every ISA.
    if dt != fg.E8M0:
        packed = codes[:ncodes] if dt != fg.E2M1 else \
            (np.arange(0, 16, 2, dtype=np.uint8) | (np.arange(1, 16, 2, dtype=np.uint8) << 4))
        for isa in AVAILABLE:
            with fg.max_isa(isa):
                buf, _ = fg.dequantize(packed, dt, dims=[ncodes])
            vals = buf.view(np.float32)
            assert np.array_equal(np.isnan(vals), nan_g)
            assert np.array_equal(vals[~nan_g].view(np.uint32), got[~nan_g].view(np.uint32))


def _decode_one(code, dt):
    import ctypes
    v = ctypes.c_float()
    fg.check(fg.lib.fp8gemm_decode_value(code, dt, ctypes.byref(v)))
    return v.value


def _specials():
    """Zeros, infinities, NaNs, extremes, and every code value with its midpoints +- 1 ulp."""
    s = [0.0, -0.0, np.inf, -np.inf, np.nan, -np.nan, 1e-45, -1e-45, 3.4e38, -3.4e38]
    vals = []
    for dt in fg.NARROW:
        c = np.arange(16 if dt == fg.E2M1 else 256, dtype=np.uint8)
        v = c.view(ML[dt]).astype(np.float32)
        vals.append(v[np.isfinite(v)])
    v = np.unique(np.concatenate(vals))
    mids = (v[:-1].astype(np.float64) + v[1:]) / 2
    mids = mids.astype(np.float32)
    around = np.concatenate([v, mids, np.nextafter(mids, np.float32(np.inf)),
                             np.nextafter(mids, np.float32(-np.inf)),
                             np.nextafter(v, np.float32(np.inf)),
                             np.nextafter(v, np.float32(-np.inf))])
    return np.concatenate([np.array(s, dtype=np.float32), around, -around]).astype(np.float32)


def _sample(seed):
    rng = np.random.default_rng(seed)
    bits = rng.integers(0, 1 << 32, size=1 << 22, dtype=np.uint64).astype(np.uint32)
    # Half of the sample in the formats' interesting range: |x| in [2^-20, 2^20].
    near = (rng.standard_normal(1 << 22) * np.exp2(rng.integers(-20, 20, 1 << 22)))
    return np.concatenate([bits.view(np.float32), near.astype(np.float32), _specials()])


def _excluded(x, dt):
    """Inputs where ml_dtypes and docs/numerics.md deliberately differ."""
    if dt == fg.E2M1:
        return np.isnan(x)  # we give the NaN's own sign of zero, ml_dtypes the opposite
    if dt == fg.E8M0:
        u = x.view(np.uint32)
        return (u > 0x00400000) & (u < 0x00600000)  # f32 subnormals in (2^-127, 1.5*2^-127)
    return np.zeros(x.shape, dtype=bool)


@pytest.mark.parametrize("saturate", [False, True], ids=["cast", "quantize"])
@pytest.mark.parametrize("dt", fg.NARROW, ids=name)
def test_random_sample(dt, saturate):
    if dt == fg.E8M0 and saturate:
        pytest.skip("e8m0 quantize has its own clamp rules: tested in test_e8m0_quantize_rules")
    x = _sample(1234 + dt)
    keep = ~_excluded(x, dt)
    x = np.ascontiguousarray(x[keep])
    want = oracle(x, dt, saturate)
    for isa in AVAILABLE:
        with fg.max_isa(isa):
            got = ours(x, dt, saturate)
        if not np.array_equal(got, want):
            pytest.fail(report_mismatch(f"{name(dt)} sat={saturate} at {fg.ISA_NAMES[isa]}", x,
                                        got, want))


def test_e2m1_nan_is_signed_zero():
    x = np.array([np.nan, -np.nan, 1.0, -1.0], dtype=np.float32)
    for sat in (False, True):
        assert list(ours(x, fg.E2M1, sat)) == [0x0, 0x8, 0x2, 0xA]


def test_e8m0_quantize_rules():
    """Saturating e8m0: finite values as the cast, 0 -> 0x00, overflow -> 0xFE,
    NaN / Inf / negatives -> 0xFF (docs/numerics.md)."""
    x = _sample(99)
    x = np.ascontiguousarray(x[~_excluded(x, fg.E8M0)])
    got = ours(x, fg.E8M0, True)
    want = oracle(x, fg.E8M0, False).copy()
    want[x == 0] = 0x00
    want[np.isfinite(x) & (x >= np.float32(1.5 * 2.0 ** 127))] = 0xFE
    assert np.array_equal(got, want), report_mismatch("e8m0 quantize", x, got, want)


@pytest.mark.parametrize("wide", [fg.BF16, fg.F16], ids=["bf16", "f16"])
def test_half_inputs_widen_exactly(wide):
    """bf16 / f16 inputs: every 16-bit pattern, cast = cast of the exact f32 value."""
    bits = np.arange(1 << 16, dtype=np.uint16)
    x = bits.view(ml_dtypes.bfloat16 if wide == fg.BF16 else np.float16)
    x32 = x.astype(np.float32)
    for dt in (fg.E4M3FN, fg.E5M2, fg.E4M3FNUZ, fg.E5M2FNUZ):
        for isa in AVAILABLE:
            with fg.max_isa(isa):
                got = fg.cast(x, dt, False, wide=wide)
            want = x32.astype(ML[dt]).view(np.uint8)
            assert np.array_equal(got, want), report_mismatch(
                f"{name(dt)} from {fg.DTYPE_NAMES[wide]}", x32, got, want)
