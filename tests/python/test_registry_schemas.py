"""The C registry's schema strings (via `fp8gemm ops`) are valid torch.library schemas
whose argument names, types and defaults are the ones the C API documents."""
import os
import subprocess

import pytest

torch = pytest.importorskip("torch")

CLI = os.environ["FP8GEMM_CLI"]
DEFAULT_MIN_SCALE = 1.0 / (448.0 * 512.0)  # FP8GEMM_DEFAULT_MIN_SCALE in fp8gemm.h

# name -> [(argument, torch type string, default)] in C argument order (include/fp8gemm.h).
EXPECTED = {
    "fp8_gemm": [("q_input", "Tensor", None), ("q_weight", "Tensor", None),
                 ("out_dtype", "Optional[int]", None), ("input_scales", "Optional[Tensor]", None),
                 ("weight_scale", "Optional[Tensor]", None), ("bias", "Optional[Tensor]", None)],
    "fp8_gemm_w8a16": [("input", "Tensor", None), ("q_weight", "Tensor", None),
                       ("weight_scale", "Optional[Tensor]", None), ("bias", "Optional[Tensor]", None)],
    "fp8_quantize": [("input", "Tensor", None), ("fp8_dtype", "int", None),
                     ("granularity", "str", "token"), ("group_size", "int", 128),
                     ("scale", "Optional[Tensor]", None), ("scale_ub", "Optional[Tensor]", None),
                     ("min_scale", "float", DEFAULT_MIN_SCALE)],
    "mx_quantize": [("input", "Tensor", None), ("elem_dtype", "int", None),
                    ("block_size", "int", 32), ("scale_mode", "str", "floor")],
    "fp8_dequantize": [("q", "Tensor", None), ("scale", "Optional[Tensor]", None),
                       ("out_dtype", "int", None), ("group_size", "int", 0)],
    "fp8_cast": [("x", "Tensor", None), ("dtype", "int", None), ("saturate", "bool", False)],
}
OUTPUTS = {"fp8_quantize": 2, "mx_quantize": 2}


def schemas():
    out = subprocess.run([CLI, "ops"], check=True, capture_output=True, text=True).stdout
    return out.splitlines()


def test_every_op_listed_once():
    names = [s.split("(", 1)[0] for s in schemas()]
    assert names == list(EXPECTED)


@pytest.mark.parametrize("line", schemas())
def test_schema_parses_with_expected_arguments(line):
    parsed = torch._C.parse_schema("fp8gemm::" + line)
    name = line.split("(", 1)[0]
    got = [(a.name, str(a.type), a.default_value) for a in parsed.arguments]
    # ScalarType prints as int in torch's type system.
    assert [(n, t) for n, t, _ in got] == [(n, t) for n, t, _ in EXPECTED[name]]
    for (arg, _, default), (_, _, want) in zip(got, EXPECTED[name]):
        assert default == want, arg  # min_scale: the exact double, no rounding on the way
    assert len(parsed.returns) == OUTPUTS.get(name, 1)
    assert all(str(r.type) == "Tensor" for r in parsed.returns)


def test_schemas_define_in_a_library():
    lib = torch.library.Library("fp8gemm_registry_check", "FRAGMENT")
    for line in schemas():
        lib.define(line)
