"""Generated argument sets for the torch op tests (opcheck, C infer vs fake).

Every case is (op name, args tuple) built from real CPU tensors. Shapes cover 2-D, 3-D,
4-D and permuted inputs, NN and NT weights, batched weights, every scale scheme and every
bias form; invalid_cases() breaks one rule at a time.
"""
import itertools

import fp8gemm_pkg  # noqa: F401
import torch

import fp8gemm.torch  # noqa: F401  (registers torch.ops.fp8gemm)

E4 = torch.float8_e4m3fn
E8M0 = torch.float8_e8m0fnu
FP4 = torch.float4_e2m1fn_x2
K, N = 160, 24  # K: two 1x128 blocks, five MX blocks


def fp8(shape, dtype=E4, gen=None):
    return (torch.randn(shape, generator=gen) * 4).to(dtype)


def e8m0(shape):
    return torch.randint(120, 134, shape, dtype=torch.uint8).view(E8M0)


def positive(shape):
    return torch.rand(shape) + 0.5


def input_layouts(k=K):
    """(label, q_input tensor) over ranks and strides; the permuted one is a view."""
    yield "2d", fp8([6, k])
    yield "3d", fp8([2, 3, k])
    yield "4d", fp8([2, 2, 3, k])
    yield "permuted", fp8([3, 2, k]).permute(1, 0, 2)


def weight_layouts(k=K, n=N, dtype=E4):
    yield "NN", fp8([k, n], dtype)
    yield "NT", fp8([n, k], dtype).t()


def rows_shape(x, last):
    return list(x.shape[:-1]) + [last]


def scale_schemes(x, k=K, n=N):
    """(label, input_scales, weight_scale) for every pairing of ops.md."""
    yield "none", None, None
    yield "tensor", positive([1]), positive([])
    yield "token-channel", positive(rows_shape(x, 1)), positive([n])
    yield "tensor-channel2d", positive([1, 1]), positive([1, n])
    yield "block", positive(rows_shape(x, (k + 127) // 128)), positive([(k + 127) // 128, (n + 127) // 128])
    yield "mx", e8m0(rows_shape(x, k // 32)), e8m0([k // 32, n])


def bias_forms(x, n=N):
    yield "none", None
    yield "empty", torch.empty(0)
    yield "scalar", torch.randn([1])
    yield "column", torch.randn([n]).to(torch.bfloat16)
    yield "row", torch.randn(rows_shape(x, 1))
    yield "full", torch.randn(rows_shape(x, n)).to(torch.float16)


def gemm_cases():
    out_dtypes = itertools.cycle([None, torch.bfloat16, torch.float32, torch.float16])
    weights = itertools.cycle(["NN", "NT"])
    biases = itertools.cycle(range(6))
    for xl, x in input_layouts():
        for sl, sa, sw in scale_schemes(x):
            wl = next(weights)
            w = dict(weight_layouts())[wl]
            bl, b = list(bias_forms(x))[next(biases)]
            yield f"fp8_gemm-{xl}-{wl}-{sl}-bias_{bl}", "fp8_gemm", (x, w, next(out_dtypes), sa, sw, b)
    # batched weight [B, K, N] with q_input [B, M, K]
    x, w = fp8([2, 5, K]), fp8([2, K, N])
    yield "fp8_gemm-batched", "fp8_gemm", (x, w, torch.float32, positive([2, 5, 1]), positive([2, 1, N]), None)


def w8a16_cases():
    biases = itertools.cycle(range(6))
    for xl, x8 in input_layouts():
        x = x8.float().to(torch.bfloat16) if xl != "permuted" else torch.randn(3, 2, K).permute(1, 0, 2)
        for (wl, w), (sl, sw) in itertools.product(
                list(weight_layouts()),
                [("none", None), ("tensor", positive([1])), ("channel", positive([N])),
                 ("group64", positive([(K + 63) // 64, N]).to(torch.bfloat16)),
                 ("block32", positive([K // 32, 1])), ("mx", e8m0([K // 32, N]))]):
            bl, b = list(bias_forms(x))[next(biases)]
            if b is not None and b.numel() == x.numel() // K * N:
                b = b.to(torch.float32)
            yield f"w8a16-{xl}-{wl}-{sl}-bias_{bl}", "fp8_gemm_w8a16", (x, w, sw, b)


def quant_cases():
    for xl, x in [("2d", torch.randn(6, K)), ("3d", torch.randn(2, 3, K).to(torch.bfloat16)),
                  ("4d", torch.randn(2, 2, 3, K).to(torch.float16)),
                  ("permuted", torch.randn(3, 2, K).permute(1, 0, 2))]:
        for gran, g in [("tensor", 128), ("token", 128), ("block", 128), ("block", 48), ("block2d", 2)]:
            yield f"quant-{xl}-{gran}{g}", "fp8_quantize", (x, E4, gran, g)
        yield f"quant-{xl}-static", "fp8_quantize", (x, torch.float8_e5m2, "token", 128, positive(rows_shape(x, 1)))
        yield f"quant-{xl}-ub", "fp8_quantize", (x, torch.float8_e4m3fnuz, "tensor", 128, None, torch.tensor([2.0]))
        for elem, mode in [(E4, "floor"), (torch.float8_e5m2, "rceil"), (FP4, "floor")]:
            yield f"mx-{xl}-{elem}-{mode}", "mx_quantize", (x, elem, 32, mode)
        for to in [E4, torch.float8_e5m2fnuz, E8M0, FP4]:
            yield f"cast-{xl}-{to}", "fp8_cast", (x.abs() if to == E8M0 else x, to, to == E4)


def dequant_cases():
    for xl, q in input_layouts():
        rows = rows_shape(q, 1)
        for sl, s, g in [("none", None, 0), ("tensor", positive([]), 0), ("token", positive(rows), 0),
                         ("block", positive(rows_shape(q, 2)), 0), ("block48", positive(rows_shape(q, 4)), 48),
                         ("mx", e8m0(rows_shape(q, K // 32)), 0)]:
            yield f"dequant-{xl}-{sl}", "fp8_dequantize", (q, s, torch.bfloat16, g)
    q = fp8([4, 6, K])
    yield "dequant-block2d", "fp8_dequantize", (q, positive([4, 1, 2]), torch.float32, 0)
    yield "dequant-block2d-g4", "fp8_dequantize", (q, positive([4, 2, 40]), torch.float32, 4)
    packed = torch.randint(0, 256, (3, K // 2), dtype=torch.uint8)
    yield "dequant-fp4-mx", "fp8_dequantize", (packed.view(FP4), e8m0([3, K // 32]), torch.float32, 0)
    yield "dequant-fp4-uint8", "fp8_dequantize", (packed, None, torch.float16, 0)


def valid_cases():
    yield from gemm_cases()
    yield from w8a16_cases()
    yield from quant_cases()
    yield from dequant_cases()
