"""Puts the build tree's Python package (<build>/python, next to FP8GEMM_LIB) first on
sys.path so the tests import the fp8gemm that this build produced. Import it before fp8gemm."""
import os
import sys

_lib = os.environ.get("FP8GEMM_LIB")
_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD_PYTHON = (os.path.join(os.path.dirname(_lib), "python") if _lib
                else os.path.join(_root, "build", "python"))
if not os.path.isdir(os.path.join(BUILD_PYTHON, "fp8gemm")):
    raise ImportError(f"no fp8gemm package in {BUILD_PYTHON}: build with -DFP8GEMM_PYTHON=ON")
sys.path.insert(0, BUILD_PYTHON)
