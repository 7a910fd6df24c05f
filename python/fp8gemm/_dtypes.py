"""torch dtype <-> fp8gemm dtype names, and torch tensors as C descriptors.

Packed FP4 (e2m1) is torch.float4_e2m1fn_x2 (uint8 is accepted as input too): a
container of shape [*, K/2], two values per byte, element 2i in the low nibble. The C
library counts e2m1 in logical elements ([*, K]); spec() and torch_shape() convert.
"""
import torch

FP8 = (torch.float8_e4m3fn, torch.float8_e5m2, torch.float8_e4m3fnuz, torch.float8_e5m2fnuz)
WIDE = (torch.float32, torch.bfloat16, torch.float16)
E2M1 = torch.float4_e2m1fn_x2
E8M0 = torch.float8_e8m0fnu

NAME = {
    torch.float8_e4m3fn: "e4m3fn", torch.float8_e5m2: "e5m2",
    torch.float8_e4m3fnuz: "e4m3fnuz", torch.float8_e5m2fnuz: "e5m2fnuz",
    E2M1: "e2m1", torch.uint8: "e2m1", E8M0: "e8m0",
    torch.bfloat16: "bf16", torch.float16: "f16", torch.float32: "f32",
}
TORCH = {name: dt for dt, name in NAME.items() if dt is not torch.uint8}


def dtype_name(dtype, what):
    """The C name of a torch dtype argument (None stays None)."""
    if dtype is None:
        return None
    if not isinstance(dtype, torch.dtype):
        raise TypeError(f"{what}: expected a torch.dtype, got {type(dtype).__name__}")
    if dtype not in NAME:
        raise ValueError(f"{what}: expected one of {sorted(set(NAME.values()))} as a torch "
                         f"dtype, got {dtype}")
    return NAME[dtype]


def is_e2m1(t):
    return t.dtype in (E2M1, torch.uint8)


def spec(t, what):
    """A CPU tensor as the descriptor tuple the extension takes (no copy); None passes."""
    if t is None:
        return None
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{what}: expected a torch.Tensor, got {type(t).__name__}")
    if t.device.type != "cpu":
        raise ValueError(f"{what}: expected a CPU tensor, got device {t.device}")
    name = dtype_name(t.dtype, f"{what}.dtype")
    shape, strides = list(t.shape), list(t.stride())
    if name == "e2m1" and shape:
        last = strides[-1]
        strides = [2 * s for s in strides]
        strides[-1] = 1 if (last == 1 or shape[-1] <= 1) else 2 * last
        shape[-1] *= 2
    return (name, shape, strides, t.data_ptr())


def torch_shape(name, shape):
    """A C output shape in torch's terms (e2m1: packed container, last dim halved)."""
    shape = list(shape)
    if name == "e2m1" and shape:
        shape[-1] //= 2
    return shape


def empty_from(desc, device):
    """Allocates the output a C infer result describes (always contiguous)."""
    name, shape, strides = desc
    if name == "e2m1":
        return torch.empty(torch_shape(name, shape), dtype=E2M1, device=device)
    return torch.empty_strided(shape, strides, dtype=TORCH[name], device=device)
