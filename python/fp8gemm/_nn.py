"""FP8 linear layers and quantize_(model, scheme): nn.Linear -> FP8 in one call.

Weights are quantized once, at quantize_ time, and stored in the layout the kernels
stream best: codes [N, K] contiguous (nn.Linear's [out, in], passed to the ops as its
[K, N] NT view) plus a contiguous scale, the same layout fp8gemm_pack_weight produces in
C; kept as plain tensors so that torch.compile traces the module as ordinary ops on
buffers. Activations are quantized
per call by the fp8gemm ops, so the forward is two custom ops per layer.
"""
import torch
from torch import nn

ops = torch.ops.fp8gemm

SCHEMES = ("fp8-dynamic", "fp8-block", "mxfp8", "w8a16")


def _quantize_weight(w, scheme):
    """Float [N, K] weight -> (q_weight [N, K] contiguous, weight_scale) for the scheme.

    The ops take the weight as logical [K, N]: forward passes q_weight.t(), a view."""
    w = w.detach().to(torch.float32).contiguous()
    if scheme in ("fp8-dynamic", "w8a16"):
        q, s = ops.fp8_quantize(w, torch.float8_e4m3fn, "token")   # one scale per output channel
        return q, s.reshape(-1).contiguous()                        # [N, K], [N]
    if scheme == "fp8-block":
        q, s = ops.fp8_quantize(w, torch.float8_e4m3fn, "block2d", 128)  # [N/128, K/128] blocks
        return q, s.t().contiguous()                                    # [N, K], [K/128, N/128]
    if scheme == "mxfp8":
        q, s = ops.mx_quantize(w, torch.float8_e4m3fn)               # e8m0 [N, K/32]
        return q, s.t().contiguous()                                 # [N, K], [K/32, N]
    raise ValueError(f"quantize_: scheme: expected one of {', '.join(SCHEMES)}, got {scheme!r}")


class FP8Linear(nn.Module):
    """y = x @ W^T + b with W stored as FP8 codes [N, K] (as nn.Linear.weight) and its scales.

    fp8-dynamic: activations per token, weights per output channel (e4m3fn).
    fp8-block:   activations 1x128 blocks, weights 128x128 blocks (DeepSeek-V3 style).
    mxfp8:       OCP MX: e4m3fn elements, e8m0 scales per 32 along K, both operands.
    w8a16:       weights only (per channel); activations stay in their float dtype.
    Output dtype: the input's (fp8 schemes compute in f32 and round once).
    """

    def __init__(self, linear, scheme):
        super().__init__()
        if scheme not in SCHEMES:
            raise ValueError(f"FP8Linear: scheme: expected one of {', '.join(SCHEMES)}, got {scheme!r}")
        self.scheme = scheme
        self.in_features, self.out_features = linear.in_features, linear.out_features
        q, s = _quantize_weight(linear.weight, scheme)
        self.register_buffer("q_weight", q)
        self.register_buffer("weight_scale", s)
        bias = None if linear.bias is None else linear.bias.detach().to(torch.float32).clone()
        self.register_buffer("bias", bias)

    def forward(self, x):
        if self.scheme == "w8a16":
            return ops.fp8_gemm_w8a16(x, self.q_weight.t(), self.weight_scale, self.bias)
        if self.scheme == "mxfp8":
            qx, sx = ops.mx_quantize(x, torch.float8_e4m3fn)
        elif self.scheme == "fp8-block":
            qx, sx = ops.fp8_quantize(x, torch.float8_e4m3fn, "block", 128)
        else:
            qx, sx = ops.fp8_quantize(x, torch.float8_e4m3fn, "token")
        return ops.fp8_gemm(qx, self.q_weight.t(), x.dtype, sx, self.weight_scale, self.bias)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, scheme={self.scheme}"


def _eligible(linear, scheme):
    """mxfp8 needs K % 32 == 0; everything else takes any shape."""
    return scheme != "mxfp8" or linear.in_features % 32 == 0


def quantize_(model, scheme, *, filter_fn=None):
    """Replaces every nn.Linear of model (in place) by FP8Linear(scheme); returns model.

    filter_fn(module, fully_qualified_name) -> bool picks layers (default: all eligible).
    Layers the scheme cannot take (mxfp8 with in_features % 32 != 0) stay float.
    """
    if scheme not in SCHEMES:
        raise ValueError(f"quantize_: scheme: expected one of {', '.join(SCHEMES)}, got {scheme!r}")
    if not isinstance(model, nn.Module):
        raise TypeError(f"quantize_: model: expected a torch.nn.Module, got {type(model).__name__}")
    targets = [(name, mod) for name, mod in model.named_modules()
               if type(mod) is nn.Linear and _eligible(mod, scheme)
               and (filter_fn is None or filter_fn(mod, name))]
    for name, mod in targets:
        if name == "":
            raise ValueError("quantize_: model is itself an nn.Linear; wrap it in a container")
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, FP8Linear(mod, scheme))
    return model
