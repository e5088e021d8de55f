"""sparse_attn: adaptive sparse attention kernels for PyTorch.

    import sparse_attn
    out = sparse_attn.attention(q, k, v, normalizer="entmax", alpha=1.5, causal=True)
    p = sparse_attn.entmax(scores, alpha=1.5)

The operations (``attention``, ``entmax``) and the compatibility modules
(``sparse_attn.compat.adasplash``) need PyTorch; the runtime layer
(``sparse_attn.runtime``) and the argument checking (``sparse_attn.ops``) do
not. Kernels come from bundles: ``$SPARSE_ATTN_BUNDLE_PATH`` and the package's
``bundles/`` folder; the runtime library from ``$SPARSE_ATTN_RUNTIME_LIBRARY``
or the package's ``lib/`` folder.
"""

from .runtime import (
    BundleError,
    DriverError,
    DriverNotFoundError,
    KernelNotFoundError,
    Runtime,
    SparseAttnError,
    TensorView,
    ValidationError,
    default_runtime,
)

__version__ = "0.1.0"

_TORCH_FUNCTIONS = ("attention", "entmax", "xattention_blocks", "xattention_prefill")


def __getattr__(name):
    # The PyTorch operations load on first use, so that the rest of the
    # package works where PyTorch is not installed.
    if name in _TORCH_FUNCTIONS:
        from . import functional

        return getattr(functional, name)
    raise AttributeError(f"module 'sparse_attn' has no attribute {name!r}")


__all__ = [
    "BundleError",
    "DriverError",
    "DriverNotFoundError",
    "KernelNotFoundError",
    "Runtime",
    "SparseAttnError",
    "TensorView",
    "ValidationError",
    "attention",
    "default_runtime",
    "entmax",
]
