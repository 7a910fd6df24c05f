"""fp8gemm: FP8 / MX quantized matrix multiplication for CPUs (Python bindings).

The functions here are the C library's public API: ``*_infer`` return output
descriptors ``(dtype, shape, strides)`` without touching data; the ops write into
outputs you pass. Tensors may be anything with ``__dlpack__`` or the buffer protocol,
``(obj, "e4m3fn")`` to read 1-byte codes as a narrow dtype, or a spelled-out descriptor
``(dtype, shape, strides, data_ptr)``. Errors: ValueError (invalid argument),
NotImplementedError (valid but not served by this build), MemoryError,
UnsupportedHardwareError, RuntimeError. ``pack_weight`` packs a weight once for the
``*_packed`` GEMMs. PyTorch integration: ``fp8gemm.torch``.
"""
from ._native import (  # noqa: F401  (re-exported API)
    PackedWeight,
    UnsupportedHardwareError,
    __version__,
    decode_value,
    encode_value,
    fp8_cast,
    fp8_cast_infer,
    fp8_dequantize,
    fp8_dequantize_infer,
    fp8_gemm,
    fp8_gemm_infer,
    fp8_gemm_packed,
    fp8_gemm_packed_infer,
    fp8_gemm_w8a16,
    fp8_gemm_w8a16_infer,
    fp8_gemm_w8a16_packed,
    fp8_gemm_w8a16_packed_infer,
    fp8_quantize,
    fp8_quantize_infer,
    get_num_threads,
    isa,
    mx_quantize,
    mx_quantize_infer,
    op_capability,
    op_names,
    op_schema,
    pack_weight,
    query,
    set_max_isa,
    set_num_threads,
    version,
)
