"""quantize_: which layers it replaces, that weights are quantized once (stored as FP8
buffers in the packed [K, N] layout), and that FP8Linear matches the op-level math."""
import fp8gemm_pkg  # noqa: F401
import pytest
import torch

import fp8gemm.torch as ft

ops = torch.ops.fp8gemm


def model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(64, 96), torch.nn.ReLU(), torch.nn.Linear(96, 40),
                               torch.nn.Linear(40, 8))


@pytest.mark.parametrize("scheme", ft.SCHEMES)
def test_replaces_linears_and_stores_packed_fp8(scheme):
    m = ft.quantize_(model(), scheme)
    kinds = [type(x).__name__ for x in m]
    # mxfp8 needs in_features % 32 == 0: the 40 -> 8 layer stays float
    expect_last = "Linear" if scheme == "mxfp8" else "FP8Linear"
    assert kinds == ["FP8Linear", "ReLU", "FP8Linear", expect_last]
    lin = m[0]
    # codes stored [out, in] like nn.Linear.weight (the ops get its [K, N] NT view)
    assert lin.q_weight.dtype == torch.float8_e4m3fn and lin.q_weight.shape == (96, 64)
    assert lin.q_weight.is_contiguous() and lin.weight_scale.is_contiguous()
    assert set(m.state_dict()) >= {"0.q_weight", "0.weight_scale", "0.bias"}


def test_weights_are_quantized_once():
    m = ft.quantize_(model(), "fp8-dynamic")
    before = m[0].q_weight.clone()
    ptr = m[0].q_weight.data_ptr()
    for _ in range(2):
        m(torch.randn(3, 64))
    assert m[0].q_weight.data_ptr() == ptr and torch.equal(m[0].q_weight.view(torch.uint8), before.view(torch.uint8))


def test_filter_fn_picks_layers():
    m = ft.quantize_(model(), "w8a16", filter_fn=lambda mod, name: name == "2")
    assert [type(x).__name__ for x in m] == ["Linear", "ReLU", "FP8Linear", "Linear"]


def test_fp8_dynamic_forward_is_the_two_ops():
    ref = model()[0]
    lin = ft.FP8Linear(ref, "fp8-dynamic")
    x = torch.randn(2, 5, 64)
    qx, sx = ops.fp8_quantize(x, torch.float8_e4m3fn, "token")
    qw, sw = ops.fp8_quantize(ref.weight.detach(), torch.float8_e4m3fn, "token")
    expect = ops.fp8_gemm(qx, qw.t(), torch.float32, sx, sw.reshape(-1), ref.bias.detach())
    assert torch.equal(lin(x), expect)  # NT view of the plain weight == packed [K, N]


@pytest.mark.parametrize("scheme", ft.SCHEMES)
def test_bf16_activations_give_bf16(scheme):
    m = ft.quantize_(model(), scheme)
    y = m[:3](torch.randn(4, 64).to(torch.bfloat16))
    assert y.dtype == torch.bfloat16 and y.shape == (4, 40)
