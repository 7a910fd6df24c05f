"""torch.library registration of the fp8gemm ops (namespace ``fp8gemm``).

Schemas come from the C registry (fp8gemm_op_schema). The CPU implementation asks the C
infer for the output descriptors, allocates them, and hands the C op the tensors' own
memory (no copies, any strides). Each op is defined, implemented and given its fake only
if the library reports it available (fp8gemm_query over the op's schemes and dtypes).
"""
import torch

from . import _fakes, _native
from ._dtypes import dtype_name, empty_from, spec

NAMESPACE = "fp8gemm"

def available(op):
    """True if the library serves op for at least one scheme and dtype here (the
    schemes and dtypes to ask about come from the C registry)."""
    schemes, dtypes = _native.op_capability(op)
    for scheme in schemes:
        for dt in dtypes:
            try:
                _native.query(op, scheme, dt)
                return True
            except (NotImplementedError, ValueError):
                pass
    return False


# ------------------------------------------------------------ CPU implementations
def _fp8_gemm(q_input, q_weight, out_dtype, input_scales, weight_scale, bias=None):
    args = (spec(q_input, "fp8_gemm: q_input"), spec(q_weight, "fp8_gemm: q_weight"),
            dtype_name(out_dtype, "fp8_gemm: out_dtype"), spec(input_scales, "fp8_gemm: input_scales"),
            spec(weight_scale, "fp8_gemm: weight_scale"), spec(bias, "fp8_gemm: bias"))
    desc, _ = _native.fp8_gemm_infer(*args)
    out = empty_from(desc, q_input.device)
    _native.fp8_gemm(*args, out=spec(out, "out"))
    return out


def _fp8_gemm_w8a16(input, q_weight, weight_scale, bias=None):
    op = "fp8_gemm_w8a16"
    args = (spec(input, f"{op}: input"), spec(q_weight, f"{op}: q_weight"),
            spec(weight_scale, f"{op}: weight_scale"), spec(bias, f"{op}: bias"))
    desc, _ = _native.fp8_gemm_w8a16_infer(*args)
    out = empty_from(desc, input.device)
    _native.fp8_gemm_w8a16(*args, out=spec(out, "out"))
    return out


def _fp8_quantize(input, fp8_dtype, granularity="token", group_size=128, scale=None,
                  scale_ub=None, min_scale=4.359654017857143e-06):
    op = "fp8_quantize"
    args = (spec(input, f"{op}: input"), dtype_name(fp8_dtype, f"{op}: fp8_dtype"), granularity,
            group_size, spec(scale, f"{op}: scale"), spec(scale_ub, f"{op}: scale_ub"), min_scale)
    qd, sd = _native.fp8_quantize_infer(*args)
    q, s = empty_from(qd, input.device), empty_from(sd, input.device)
    _native.fp8_quantize(*args, q=spec(q, "q"), scale_out=spec(s, "scale_out"))
    return q, s


def _mx_quantize(input, elem_dtype, block_size=32, scale_mode="floor"):
    op = "mx_quantize"
    args = (spec(input, f"{op}: input"), dtype_name(elem_dtype, f"{op}: elem_dtype"), block_size,
            scale_mode)
    qd, sd = _native.mx_quantize_infer(*args)
    q, s = empty_from(qd, input.device), empty_from(sd, input.device)
    _native.mx_quantize(*args, q=spec(q, "q"), scales=spec(s, "scales"))
    return q, s


def _fp8_dequantize(q, scale, out_dtype, group_size=0):
    op = "fp8_dequantize"
    args = (spec(q, f"{op}: q"), spec(scale, f"{op}: scale"),
            dtype_name(out_dtype, f"{op}: out_dtype"), group_size)
    desc = _native.fp8_dequantize_infer(*args)
    out = empty_from(desc, q.device)
    _native.fp8_dequantize(*args, out=spec(out, "out"))
    return out


def _fp8_cast(x, dtype, saturate=False):
    args = (spec(x, "fp8_cast: x"), dtype_name(dtype, "fp8_cast: dtype"), saturate)
    desc = _native.fp8_cast_infer(*args)
    out = empty_from(desc, x.device)
    _native.fp8_cast(*args, out=spec(out, "out"))
    return out


REAL = {"fp8_gemm": _fp8_gemm, "fp8_gemm_w8a16": _fp8_gemm_w8a16,
        "fp8_quantize": _fp8_quantize, "mx_quantize": _mx_quantize,
        "fp8_dequantize": _fp8_dequantize, "fp8_cast": _fp8_cast}


# ------------------------------------------------------------------ registration
def _register():
    lib = torch.library.Library(NAMESPACE, "FRAGMENT")
    registered = []
    for op in _native.op_names():
        if op not in REAL or not available(op):
            continue
        lib.define(_native.op_schema(op))
        lib.impl(op, REAL[op], "CPU")
        torch.library.register_fake(f"{NAMESPACE}::{op}", _fakes.FAKES[op], lib=lib)
        registered.append(op)
    return lib, tuple(registered)


# The Library object must live as long as the registrations (module lifetime).
_LIB, REGISTERED = _register()
