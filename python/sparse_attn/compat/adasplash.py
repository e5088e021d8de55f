"""AdaSplash's API (github.com/deep-spin/adasplash) over sparse_attn kernels.

Same signatures and defaults: ``from sparse_attn.compat.adasplash import
adasplash`` replaces ``from adasplash import adasplash``. Inputs are
[B, H, N, D]; ``varlen`` holds per-batch valid lengths of right-padded
queries and keys (padded output rows are zero). ``niter`` (``n_iter``) is
passed to our kernels as their solver iteration count; when AdaSplash leaves
it to the implementation (``niter=None``) ours chooses. ``use_histogram``
and ``fast_math`` only pick AdaSplash's own solver start and arithmetic and
are accepted for compatibility.
"""

from .. import functional, ops


def _entmax_attention(q, k, v, alpha, is_causal, varlen, niter):
    return functional.attention(
        q,
        k,
        v,
        normalizer="entmax",
        alpha=alpha,
        causal=is_causal,
        query_lengths=varlen,
        key_lengths=varlen,
        niter=ops.DEFAULT_NITER if niter is None else niter,
        layout="bhnd",
    )


def adasplash(q, k, v, alpha=1.5, is_causal=True, varlen=None, niter=None):
    """Entmax attention with block masking."""
    return _entmax_attention(q, k, v, alpha, is_causal, varlen, niter)


def adasplash_no_block_mask(q, k, v, alpha=1.5, is_causal=False, varlen=None, niter=10):
    """Entmax attention without block masking (same result)."""
    return _entmax_attention(q, k, v, alpha, is_causal, varlen, niter)


def triton_entmax(x, alpha=1.5, n_iter=2, use_histogram=True, fast_math=False):
    """Row-wise entmax over the last dimension."""
    del use_histogram, fast_math  # AdaSplash's solver choices; ours are the kernel's
    return functional.entmax(x, alpha=alpha, dim=-1, niter=n_iter)


__all__ = ["adasplash", "adasplash_no_block_mask", "triton_entmax"]
