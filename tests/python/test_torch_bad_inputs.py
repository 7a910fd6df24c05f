"""Bad inputs from Python raise clear exceptions (type and message naming the argument);
nothing crashes the interpreter. Each case runs the real op (CPU) and, where it reaches
the fake, the fake too (meta tensors)."""
import fp8gemm_pkg  # noqa: F401
import pytest
import torch

import fp8gemm.torch as ft

ops = torch.ops.fp8gemm
E4 = torch.float8_e4m3fn


def q(*shape):
    return torch.zeros(shape).to(E4)


CASES = [
    # (label, callable, exception, message fragment)
    ("gemm float input", lambda: ops.fp8_gemm(torch.zeros(2, 64), q(64, 8), None, None, None), ValueError, "q_input.dtype"),
    ("gemm K mismatch", lambda: ops.fp8_gemm(q(2, 64), q(63, 8), None, None, None), ValueError, "q_weight.shape[0] (63) must equal q_input.shape[-1] (64)"),
    ("gemm int8 weight", lambda: ops.fp8_gemm(q(2, 64), torch.zeros(64, 8, dtype=torch.int8), None, None, None), ValueError, "q_weight.dtype"),
    ("gemm bad out_dtype", lambda: ops.fp8_gemm(q(2, 64), q(64, 8), torch.int32, None, None), ValueError, "out_dtype"),
    ("gemm unpaired scales", lambda: ops.fp8_gemm(q(2, 256), q(256, 8), None, torch.ones(2, 2), torch.ones(8)), ValueError, "do not pair"),
    ("gemm bias shape", lambda: ops.fp8_gemm(q(2, 64), q(64, 8), None, None, None, torch.ones(7)), ValueError, "bias.shape"),
    ("gemm scalar weight", lambda: ops.fp8_gemm(q(2, 64), q(64), None, None, None), ValueError, "q_weight.ndim"),
    ("gemm non-tensor", lambda: ops.fp8_gemm([1, 2], q(64, 8), None, None, None), (TypeError, RuntimeError), ""),
    ("gemm string dtype", lambda: ops.fp8_gemm(q(2, 64), q(64, 8), "bf16", None, None), (TypeError, RuntimeError), ""),
    ("gemm meta device", lambda: ops.fp8_gemm(q(2, 64).to("meta"), q(64, 8), None, None, None), ValueError, "one device"),
    ("w8a16 fp8 input", lambda: ops.fp8_gemm_w8a16(q(2, 64), q(64, 8), None), ValueError, "input.dtype"),
    ("quantize bad granularity", lambda: ops.fp8_quantize(torch.ones(2, 64), E4, "rows"), ValueError, "granularity"),
    ("quantize fp8 input", lambda: ops.fp8_quantize(q(2, 64), E4), ValueError, "input.dtype"),
    ("quantize to bf16", lambda: ops.fp8_quantize(torch.ones(2, 64), torch.bfloat16), ValueError, "fp8_dtype"),
    ("quantize zero group", lambda: ops.fp8_quantize(torch.ones(2, 64), E4, "block", 0), ValueError, "group_size"),
    ("quantize min_scale 0", lambda: ops.fp8_quantize(torch.ones(2, 64), E4, "token", 128, None, None, 0.0), ValueError, "min_scale"),
    ("quantize static scale shape", lambda: ops.fp8_quantize(torch.ones(2, 64), E4, "token", 128, torch.ones(3, 1)), ValueError, "scale.shape"),
    ("mx K not multiple of 32", lambda: ops.mx_quantize(torch.ones(2, 48), E4), ValueError, "multiple of 32"),
    ("mx block 64", lambda: ops.mx_quantize(torch.ones(2, 64), E4, 64), NotImplementedError, "block_size"),
    ("mx bad mode", lambda: ops.mx_quantize(torch.ones(2, 64), E4, 32, "round"), ValueError, "scale_mode"),
    ("dequantize float q", lambda: ops.fp8_dequantize(torch.ones(2, 64), None, torch.float32), ValueError, "q.dtype"),
    ("dequantize bad scale", lambda: ops.fp8_dequantize(q(2, 64), torch.ones(3), torch.float32), ValueError, "scale.shape"),
    ("cast odd fp4", lambda: ops.fp8_cast(torch.ones(3), torch.float4_e2m1fn_x2), ValueError, "even"),
    ("cast to f32", lambda: ops.fp8_cast(torch.ones(3), torch.float32), ValueError, "to"),
    ("quantize_ bad scheme", lambda: ft.quantize_(torch.nn.Sequential(torch.nn.Linear(64, 8)), "int4"), ValueError, "scheme"),
    ("quantize_ not a module", lambda: ft.quantize_("model", "fp8-dynamic"), TypeError, "nn.Module"),
]


@pytest.mark.parametrize("label, fn, exc, frag", CASES, ids=[c[0] for c in CASES])
def test_bad_input_raises(label, fn, exc, frag):
    with pytest.raises(exc or ValueError) as e:
        fn()
    assert frag is None or frag in str(e.value)


def test_fake_rejects_like_real():
    """The same bad calls traced with meta tensors raise the same exception class."""
    with torch.device("meta"):
        with pytest.raises(ValueError, match="must equal"):
            ops.fp8_gemm(torch.empty(2, 64, dtype=E4), torch.empty(63, 8, dtype=E4), None, None, None)
        with pytest.raises(NotImplementedError):
            ops.mx_quantize(torch.empty(2, 64), E4, 64)


def test_huge_and_odd_descriptors_do_not_crash():
    from fp8gemm import _native
    huge = ("e4m3fn", [2**62, 2**62], [2**62, 1], 0)
    with pytest.raises(ValueError):
        _native.fp8_gemm_infer(huge, ("e4m3fn", [2**62, 8], [8, 1], 0))
    with pytest.raises(ValueError):
        _native.fp8_cast(("f32", [4], [-1], 0), "e4m3fn", out=("e4m3fn", [4], [1], 0))


def test_quantize_rejects_bare_linear():
    with pytest.raises(ValueError, match="wrap it"):
        ft.quantize_(torch.nn.Linear(64, 8), "fp8-dynamic")
