"""Numerical agreement of the torch ops with torch's own arithmetic:
fp8_gemm / fp8_gemm_w8a16 vs dequantize (torch casts) + matmul in float64, within the
ops.md bound gamma_K * sum|a*b| + ulp_out/2; fp8_gemm vs torch._scaled_mm on CPU for
per-tensor and per-token x per-channel scales; fp8_quantize vs torch's saturating cast
of x / scale; fp8_dequantize vs q.double() * scale; fp8_cast vs torch's .to(float8).
Each test runs at every ISA level the CPU has (fp8gemm.set_max_isa)."""
import fp8gemm_pkg  # noqa: F401
import pytest
import torch

import fp8gemm
import fp8gemm.torch  # noqa: F401

ops = torch.ops.fp8gemm
ISA_LEVELS = ["scalar", "avx2", "avx512", "avx512_bf16"]


@pytest.fixture(autouse=True, params=ISA_LEVELS)
def isa_level(request):
    """Every test runs at each ISA level the CPU has; levels it lacks are reported as skipped."""
    detected = fp8gemm.isa()["detected"]
    if ISA_LEVELS.index(request.param) > ISA_LEVELS.index(detected):
        pytest.skip(f"CPU lacks {request.param} (detected {detected})")
    saved = fp8gemm.isa()["max"]
    fp8gemm.set_max_isa(request.param)
    assert fp8gemm.isa()["active"] == request.param
    yield request.param
    fp8gemm.set_max_isa(saved)
E4, E5 = torch.float8_e4m3fn, torch.float8_e5m2


def gemm_bound(a, b, out_dtype, ref=None):
    """|out - ref| bound of ops.md for dequantized operands a [.., K], b [K, N] (float64);
    ref (with the bias) sets the output rounding term, a @ b when absent."""
    k = a.shape[-1]
    u = 2.0 ** -24
    gamma = k * u / (1 - k * u)
    mag = a.abs() @ b.abs()
    ulp = {torch.float32: 2.0 ** -23, torch.bfloat16: 2.0 ** -7, torch.float16: 2.0 ** -10}[out_dtype]
    ref = a @ b if ref is None else ref
    return gamma * mag + ref.abs() * ulp / 2 + 1e-30


def expand_block(s, rows, cols, br, bc):
    return s.repeat_interleave(br, -2)[..., :rows, :].repeat_interleave(bc, -1)[..., :cols]


@pytest.mark.parametrize("out_dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("scheme", ["tensor", "token-channel", "block", "mx"])
@pytest.mark.parametrize("layout", ["NN", "NT"])
def test_fp8_gemm_vs_float64_reference(scheme, layout, out_dtype):
    g = torch.Generator().manual_seed(1)
    m, k, n = 37, 288, 150
    x = (torch.randn(3, m, k, generator=g) * 3).to(E4)
    w = (torch.randn(k, n, generator=g) * 2).to(E4) if layout == "NN" else (torch.randn(n, k, generator=g) * 2).to(E4).t()
    if scheme == "tensor":
        sa, sw = torch.rand(1, generator=g) + 0.5, torch.rand([], generator=g) + 0.5
        fa, fw = sa.double(), sw.double()
    elif scheme == "token-channel":
        sa, sw = torch.rand(3, m, 1, generator=g) + 0.5, torch.rand(n, generator=g) + 0.5
        fa, fw = sa.double(), sw.double()
    elif scheme == "block":
        sa = torch.rand(3, m, (k + 127) // 128, generator=g) + 0.5
        sw = torch.rand((k + 127) // 128, (n + 127) // 128, generator=g) + 0.5
        fa = sa.double().repeat_interleave(128, -1)[..., :k]
        fw = expand_block(sw.double(), k, n, 128, 128)
    else:
        sa = torch.randint(120, 134, (3, m, k // 32), generator=g, dtype=torch.uint8).view(torch.float8_e8m0fnu)
        sw = torch.randint(120, 134, (k // 32, n), generator=g, dtype=torch.uint8).view(torch.float8_e8m0fnu)
        fa = sa.double().repeat_interleave(32, -1)
        fw = sw.double().repeat_interleave(32, 0)
    bias = torch.randn(n, generator=g)
    out = ops.fp8_gemm(x, w, out_dtype, sa, sw, bias)
    a, b = x.double() * fa, w.double() * fw
    ref = a @ b + bias.double()
    assert out.dtype == out_dtype and out.shape == (3, m, n)
    assert torch.all((out.double() - ref).abs() <= gemm_bound(a, b, out_dtype, ref) + ref.abs() * 2.0 ** -24)


@pytest.mark.parametrize("scale", ["channel", "group128", "e8m0-group32"])
@pytest.mark.parametrize("in_dtype", [torch.float32, torch.bfloat16])
def test_fp8_gemm_w8a16_vs_float64_reference(scale, in_dtype):
    g = torch.Generator().manual_seed(2)
    k, n = 256, 72
    x = torch.randn(2, 5, k, generator=g).to(in_dtype)
    w = (torch.randn(n, k, generator=g) * 2).to(E5).t()
    if scale == "channel":
        sw = torch.rand(n, generator=g) + 0.5
        fw = sw.double()
    elif scale == "group128":
        sw = torch.rand(k // 128, n, generator=g) + 0.5
        fw = sw.double().repeat_interleave(128, 0)
    else:
        sw = torch.randint(120, 134, (k // 32, n), generator=g, dtype=torch.uint8).view(torch.float8_e8m0fnu)
        fw = sw.double().repeat_interleave(32, 0)
    out = ops.fp8_gemm_w8a16(x, w, sw, None)
    a, b = x.double(), w.double() * fw
    ref = a @ b
    assert out.dtype == in_dtype
    assert torch.all((out.double() - ref).abs() <= gemm_bound(a, b, in_dtype) + ref.abs() * 2.0 ** -24)


@pytest.mark.parametrize("scheme", ["tensor", "rowwise"])
def test_fp8_gemm_vs_torch_scaled_mm(scheme):
    g = torch.Generator().manual_seed(3)
    m, k, n = 32, 256, 48
    x = (torch.randn(m, k, generator=g) * 3).to(E4)
    wt = (torch.randn(n, k, generator=g) * 2).to(E4)  # checkpoint layout; _scaled_mm wants b column-major
    if scheme == "tensor":
        sa, sw = torch.tensor(0.75), torch.tensor(1.25)
        ours = ops.fp8_gemm(x, wt.t(), torch.float32, sa.reshape(1), sw.reshape(1), None)
    else:
        sa, sw = torch.rand(m, 1, generator=g) + 0.5, torch.rand(1, n, generator=g) + 0.5
        ours = ops.fp8_gemm(x, wt.t(), torch.float32, sa, sw, None)
    theirs = torch._scaled_mm(x, wt.t(), sa, sw, out_dtype=torch.float32)
    a, b = x.double() * sa.double(), wt.t().double() * sw.double()
    # both accumulate in f32 in their own order: each within the bound of the exact value
    assert torch.all((ours.double() - theirs.double()).abs() <= 2 * gemm_bound(a, b, torch.float32))


@pytest.mark.parametrize("dtype", [E4, E5])
def test_fp8_quantize_matches_torch_cast(dtype):
    g = torch.Generator().manual_seed(4)
    x = torch.randn(4, 7, 96, generator=g) * torch.logspace(-3, 3, 96)
    q, s = ops.fp8_quantize(x, dtype, "token")
    fmax = torch.finfo(dtype).max
    s_ref = (x.abs().amax(-1, keepdim=True) / fmax).clamp_min(1.0 / (448 * 512))
    assert torch.equal(s, s_ref)
    q_ref = (x / s_ref).clamp(-fmax, fmax).to(dtype)
    assert torch.equal(q.view(torch.uint8), q_ref.view(torch.uint8))


def test_fp8_dequantize_matches_torch():
    g = torch.Generator().manual_seed(5)
    q = torch.randint(0, 256, (3, 5, 64), generator=g, dtype=torch.uint8).view(E4)
    q = torch.where(q.float().isnan(), torch.zeros((), dtype=E4), q)
    s = torch.rand(3, 5, 1, generator=g) + 0.5
    out = ops.fp8_dequantize(q, s, torch.float32)
    assert torch.equal(out, (q.double() * s.double()).float())


@pytest.mark.parametrize("dtype", [E4, E5, torch.float8_e4m3fnuz, torch.float8_e5m2fnuz])
def test_fp8_cast_matches_torch(dtype):
    g = torch.Generator().manual_seed(6)
    x = torch.randn(1000, generator=g) * 100
    fmax = torch.finfo(dtype).max
    x = x.clamp(-fmax, fmax)  # torch's cast of out-of-range values is not the spec's
    assert torch.equal(ops.fp8_cast(x, dtype).view(torch.uint8), x.to(dtype).view(torch.uint8))
