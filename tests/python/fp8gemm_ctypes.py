"""ctypes bindings to libfp8gemm (path in FP8GEMM_LIB) for the Python tests.

Tensors are numpy arrays: `tensor(arr, dtype)` builds an fp8gemm_tensor over the array's
memory with element strides (e2m1 arrays are the packed uint8 bytes, with logical dims).
"""
import ctypes
import os

import numpy as np

MAX_DIMS = 8

# fp8gemm_dtype
E4M3FN, E5M2, E4M3FNUZ, E5M2FNUZ, E2M1, E8M0, BF16, F16, F32 = range(1, 10)
DTYPE_NAMES = {E4M3FN: "e4m3fn", E5M2: "e5m2", E4M3FNUZ: "e4m3fnuz", E5M2FNUZ: "e5m2fnuz",
               E2M1: "e2m1", E8M0: "e8m0", BF16: "bf16", F16: "f16", F32: "f32"}
NARROW = [E4M3FN, E5M2, E4M3FNUZ, E5M2FNUZ, E2M1, E8M0]
FP8 = [E4M3FN, E5M2, E4M3FNUZ, E5M2FNUZ]

# fp8gemm_status
OK, INVALID_ARGUMENT, UNIMPLEMENTED = 0, 1, 2
# fp8gemm_granularity
PER_TENSOR, PER_TOKEN, PER_BLOCK, PER_BLOCK2D = 1, 2, 3, 4
# fp8gemm_mx_scale_mode
MX_FLOOR, MX_RCEIL = 1, 2
# fp8gemm_isa
ISA_NAMES = ["scalar", "avx2", "avx512", "avx512_bf16"]
DEFAULT_MIN_SCALE = 1.0 / (448.0 * 512.0)


class Tensor(ctypes.Structure):
    _fields_ = [("dtype", ctypes.c_int), ("ndim", ctypes.c_int32),
                ("dims", ctypes.c_int64 * MAX_DIMS), ("strides", ctypes.c_int64 * MAX_DIMS),
                ("data", ctypes.c_void_p)]


class KernelInfo(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("isa", ctypes.c_int)]


def _load():
    path = os.environ.get("FP8GEMM_LIB")
    if not path:
        raise RuntimeError("FP8GEMM_LIB must name libfp8gemm.so (ctest sets it)")
    lib = ctypes.CDLL(path)
    T = ctypes.POINTER(Tensor)
    sigs = {
        "fp8gemm_last_error": (ctypes.c_char_p, []),
        "fp8gemm_isa_detected": (ctypes.c_int, []),
        "fp8gemm_get_max_isa": (ctypes.c_int, []),
        "fp8gemm_set_max_isa": (ctypes.c_int, [ctypes.c_int]),
        "fp8gemm_set_num_threads": (ctypes.c_int, [ctypes.c_int]),
        "fp8gemm_get_num_threads": (ctypes.c_int, []),
        "fp8gemm_encode_value": (ctypes.c_int, [ctypes.c_float, ctypes.c_int, ctypes.c_int,
                                                ctypes.POINTER(ctypes.c_uint8)]),
        "fp8gemm_decode_value": (ctypes.c_int, [ctypes.c_uint8, ctypes.c_int,
                                                ctypes.POINTER(ctypes.c_float)]),
        "fp8gemm_fp8_cast": (ctypes.c_int, [T, ctypes.c_int, ctypes.c_int, T]),
        "fp8gemm_fp8_cast_infer": (ctypes.c_int, [T, ctypes.c_int, ctypes.c_int, T]),
        "fp8gemm_fp8_quantize": (ctypes.c_int, [T, ctypes.c_int, ctypes.c_int, ctypes.c_int64,
                                                T, T, ctypes.c_double, T, T]),
        "fp8gemm_fp8_quantize_infer": (ctypes.c_int, [T, ctypes.c_int, ctypes.c_int,
                                                      ctypes.c_int64, T, T, ctypes.c_double,
                                                      T, T]),
        "fp8gemm_mx_quantize": (ctypes.c_int, [T, ctypes.c_int, ctypes.c_int64, ctypes.c_int,
                                               T, T]),
        "fp8gemm_mx_quantize_infer": (ctypes.c_int, [T, ctypes.c_int, ctypes.c_int64,
                                                     ctypes.c_int, T, T]),
        "fp8gemm_fp8_dequantize": (ctypes.c_int, [T, T, ctypes.c_int, ctypes.c_int64, T]),
        "fp8gemm_fp8_dequantize_infer": (ctypes.c_int, [T, T, ctypes.c_int, ctypes.c_int64,
                                                        T]),
    }
    for name, (res, args) in sigs.items():
        fn = getattr(lib, name)
        fn.restype = res
        fn.argtypes = args
    return lib


lib = _load()


class Fp8gemmError(RuntimeError):
    def __init__(self, status, message):
        super().__init__(f"status {status}: {message}")
        self.status = status
        self.message = message


def check(status):
    if status != OK:
        raise Fp8gemmError(status, lib.fp8gemm_last_error().decode())


def last_error():
    return lib.fp8gemm_last_error().decode()


def tensor(arr, dtype, dims=None):
    """An fp8gemm_tensor over numpy array `arr` (kept alive by the caller).

    dims: logical dims when they differ from arr.shape (e2m1: last dim doubled).
    """
    t = Tensor()
    t.dtype = dtype
    shape = tuple(arr.shape) if dims is None else tuple(dims)
    t.ndim = len(shape)
    assert arr.ndim == len(shape), "dims must have the array's rank"
    for i, d in enumerate(shape):
        t.dims[i] = d
        t.strides[i] = arr.strides[i] // arr.itemsize
        if dtype == E2M1:  # strides count logical elements, two per byte
            t.strides[i] = 1 if i == len(shape) - 1 else 2 * arr.strides[i]
    t.data = arr.ctypes.data if arr.size else None
    return t


def empty_like_desc(desc):
    """A zeroed contiguous numpy buffer for an output descriptor."""
    dims = [desc.dims[i] for i in range(desc.ndim)]
    numel = int(np.prod(dims)) if dims else 1
    bits = {E2M1: 4, BF16: 16, F16: 16, F32: 32}.get(desc.dtype, 8)
    nbytes = (numel * bits + 7) // 8
    buf = np.zeros(max(nbytes, 1), dtype=np.uint8)
    desc.data = buf.ctypes.data
    return buf[:nbytes]


# ------------------------------------------------------------ numpy <-> wide dtypes
def wide_array(x32, dtype):
    """f32 numpy values -> the array our library reads for `dtype` (bf16 / f16 / f32)."""
    import ml_dtypes
    x32 = np.asarray(x32, dtype=np.float32)
    if dtype == F32:
        return x32
    if dtype == F16:
        return x32.astype(np.float16)
    return x32.astype(ml_dtypes.bfloat16)


# ------------------------------------------------------------------------ ops
def cast(x, to, saturate=False, wide=F32):
    """fp8_cast of numpy f32/f16/bf16 array x (any strides) -> uint8 codes (e2m1 packed)."""
    xt = tensor(x, wide)
    out = Tensor()
    check(lib.fp8gemm_fp8_cast_infer(ctypes.byref(xt), to, int(saturate), ctypes.byref(out)))
    buf = empty_like_desc(out)
    check(lib.fp8gemm_fp8_cast(ctypes.byref(xt), to, int(saturate), ctypes.byref(out)))
    return buf


def dequantize(codes, dtype, scale=None, scale_dtype=F32, out_dtype=F32, group_size=0, dims=None):
    qt = tensor(codes, dtype, dims)
    st = tensor(scale, scale_dtype) if scale is not None else None
    out = Tensor()
    sp = ctypes.byref(st) if st is not None else None
    check(lib.fp8gemm_fp8_dequantize_infer(ctypes.byref(qt), sp, out_dtype, group_size,
                                           ctypes.byref(out)))
    buf = empty_like_desc(out)
    check(lib.fp8gemm_fp8_dequantize(ctypes.byref(qt), sp, out_dtype, group_size,
                                     ctypes.byref(out)))
    return buf, out


def quantize(x, fp8_dtype, granularity, group_size=128, scale=None, scale_ub=None,
             min_scale=DEFAULT_MIN_SCALE, wide=F32):
    """fp8_quantize -> (q codes uint8 [input shape], scale f32 [scale shape])."""
    xt = tensor(x, wide)
    st = tensor(scale, F32) if scale is not None else None
    ub = tensor(scale_ub, F32) if scale_ub is not None else None
    sp = ctypes.byref(st) if st is not None else None
    up = ctypes.byref(ub) if ub is not None else None
    qd, sd = Tensor(), Tensor()
    check(lib.fp8gemm_fp8_quantize_infer(ctypes.byref(xt), fp8_dtype, granularity, group_size,
                                         sp, up, min_scale, ctypes.byref(qd), ctypes.byref(sd)))
    qb, sb = empty_like_desc(qd), empty_like_desc(sd)
    check(lib.fp8gemm_fp8_quantize(ctypes.byref(xt), fp8_dtype, granularity, group_size, sp, up,
                                   min_scale, ctypes.byref(qd), ctypes.byref(sd)))
    qshape = [qd.dims[i] for i in range(qd.ndim)]
    sshape = [sd.dims[i] for i in range(sd.ndim)]
    return qb.reshape(qshape), sb.view(np.float32).reshape(sshape)


def mx_quantize(x, elem, mode, wide=F32, block_size=32):
    """mx_quantize -> (q bytes, e2m1 packed [rows, K/2]; e8m0 scale codes [*, K/32])."""
    xt = tensor(x, wide)
    qd, sd = Tensor(), Tensor()
    check(lib.fp8gemm_mx_quantize_infer(ctypes.byref(xt), elem, block_size, mode,
                                        ctypes.byref(qd), ctypes.byref(sd)))
    qb, sb = empty_like_desc(qd), empty_like_desc(sd)
    check(lib.fp8gemm_mx_quantize(ctypes.byref(xt), elem, block_size, mode, ctypes.byref(qd),
                                  ctypes.byref(sd)))
    sshape = [sd.dims[i] for i in range(sd.ndim)]
    return qb, sb.reshape(sshape)


# ------------------------------------------------------------------------ ISA cap
def isa_levels():
    """(available, missing): ISA levels this CPU has / lacks."""
    top = lib.fp8gemm_isa_detected()
    return list(range(top + 1)), list(range(top + 1, len(ISA_NAMES)))


class max_isa:
    """Context manager capping the ISA (kernels chosen at or below it)."""

    def __init__(self, isa):
        self.isa = isa

    def __enter__(self):
        self.saved = lib.fp8gemm_get_max_isa()
        check(lib.fp8gemm_set_max_isa(self.isa))

    def __exit__(self, *exc):
        lib.fp8gemm_set_max_isa(self.saved)
