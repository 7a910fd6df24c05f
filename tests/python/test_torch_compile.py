"""torch.compile(fullgraph=True, dynamic=True) of a small transformer after quantize_,
for every scheme, on [batch, seq] token inputs of three sizes (hidden 128):

- no graph break (fullgraph=True raises on one; counters must stay empty),
- no recompilation (torch.compiler.set_stance("fail_on_recompile") after the first
  call, and exactly one captured graph),
- compiled == eager within 1e-4 (Inductor fuses the float ops around our ops, e.g. layer
  norm, so the last bits of their inputs may differ; our ops compute identically),
- close to the float model: relative Frobenius error ||y_q - y_f|| / ||y_f|| <= 0.06
  (measured 0.014-0.027 on this model; docs/python.md).
"""
import copy

import fp8gemm_pkg  # noqa: F401
import pytest
import tiny_transformer
import torch
from torch._dynamo.utils import counters

import fp8gemm.torch as ft

SIZES = [(2, 5), (3, 7), (4, 9)]
FLOAT_BOUND = 0.06


@pytest.mark.parametrize("scheme", ft.SCHEMES)
def test_compiled_quantized_transformer(scheme):
    ref = tiny_transformer.make()
    model = ft.quantize_(copy.deepcopy(ref), scheme)
    n_fp8 = sum(isinstance(m, ft.FP8Linear) for m in model.modules())
    assert n_fp8 == 8  # qkv, proj, up, down in each of 2 blocks
    torch._dynamo.reset()
    counters.clear()
    compiled = torch.compile(model, fullgraph=True, dynamic=True)
    with torch.no_grad():
        for i, (b, s) in enumerate(SIZES):
            tokens = torch.randint(0, 97, (b, s), generator=torch.Generator().manual_seed(i))
            with torch.compiler.set_stance("default" if i == 0 else "fail_on_recompile"):
                y_c = compiled(tokens)
            y_e, y_f = model(tokens), ref(tokens)
            assert y_c.shape == (b, s, 128)
            torch.testing.assert_close(y_c, y_e, rtol=1e-4, atol=1e-4)
            rel = ((y_e - y_f).norm() / y_f.norm()).item()
            assert rel <= FLOAT_BOUND, f"{scheme} {b}x{s}: relative error {rel}"
    assert dict(counters["graph_break"]) == {}
    assert counters["stats"]["unique_graphs"] == 1


@pytest.mark.parametrize("scheme", ft.SCHEMES)
def test_compiled_fp8_linear_is_bitwise_eager(scheme):
    """Our ops compute identically under torch.compile: a lone FP8Linear (quantize +
    GEMM ops, nothing Inductor could fuse) gives eager's bits at every size."""
    torch.manual_seed(0)
    layer = torch.nn.Sequential(torch.nn.Linear(128, 72))
    ft.quantize_(layer, scheme)
    assert isinstance(layer[0], ft.FP8Linear)
    torch._dynamo.reset()
    compiled = torch.compile(layer, fullgraph=True, dynamic=True)
    with torch.no_grad():
        for i, (b, s) in enumerate(SIZES):
            x = torch.randn(b, s, 128, generator=torch.Generator().manual_seed(10 + i))
            with torch.compiler.set_stance("default" if i == 0 else "fail_on_recompile"):
                y_c = compiled(x)
            y_e = layer(x)
            assert y_c.shape == y_e.shape == (b, s, 72)
            assert torch.equal(y_c, y_e), f"{scheme} {b}x{s}: compiled differs from eager"
