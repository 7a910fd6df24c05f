"""PyTorch integration: ``torch.ops.fp8gemm.*`` custom ops and ``quantize_``.

Importing this module registers the ops (CPU implementation + fake) under the
``fp8gemm`` namespace for every op the library reports available.
"""
from ._torch_ops import REGISTERED, available  # noqa: F401  (registers the ops)
from ._nn import SCHEMES, FP8Linear, quantize_  # noqa: F401
