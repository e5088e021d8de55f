"""PyTorch operations over the runtime.

Each operation is a torch.library custom op (``torch.ops.sparse_attn.*``),
so torch.compile traces it through its fake implementation and CUDA graphs
capture its launch: kernels run on ``torch.cuda.current_stream()`` and the
host never waits for the GPU. Forward only for now.
"""

import functools
import inspect
from typing import Optional, Tuple

import torch

from . import ops
from .runtime import default_runtime


def _launch(kernel, tensors, scalars, device_index):
    # Selecting the device makes its context current on this thread (the
    # runtime launches into the current context) and picks its stream.
    with torch.cuda.device(device_index):
        kernel.launch(tensors, scalars, torch.cuda.current_stream().cuda_stream)


def _empty_attention_outputs(problem, q):
    out = torch.empty(problem.output_shape(), dtype=q.dtype, device=q.device)
    stats = torch.empty(problem.stats_shape(), dtype=torch.float32, device=q.device)
    return out, stats


@functools.lru_cache(maxsize=None)
def _parameters(function):
    return tuple(inspect.signature(function).parameters)


def _by_name(function, named):
    """``function`` (an ops.check_* or ops.*_arguments function) with each of
    its parameters taken by name from ``named``, the ``locals()`` of a custom
    op or its fake: those keep the names of the ops functions' parameters, so
    that no argument list is spelt out twice."""
    return function(**{name: named[name] for name in _parameters(function)})


def _empty_block_indices(problem, q):
    counts_shape, indices_shape = problem.index_shapes()
    kv_num_blocks = torch.empty(counts_shape, dtype=torch.int32, device=q.device)
    kv_indices = torch.empty(indices_shape, dtype=torch.int32, device=q.device)
    return kv_num_blocks, kv_indices


@torch.library.custom_op("sparse_attn::attention", mutates_args=())
def _attention_op(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    normalizer: str,
    alpha: float,
    causal: bool,
    scale: float,
    query_lengths: Optional[torch.Tensor],
    key_lengths: Optional[torch.Tensor],
    kv_num_blocks: Optional[torch.Tensor],
    kv_indices: Optional[torch.Tensor],
    full_kv_num_blocks: Optional[torch.Tensor],
    full_kv_indices: Optional[torch.Tensor],
    mask_block_q: int,
    mask_block_k: int,
    bias: Optional[torch.Tensor],
    elastic_tau: Optional[torch.Tensor],
    return_stats: bool,
    niter: int,
    layout: str,
) -> Tuple[torch.Tensor, torch.Tensor]:
    problem = _by_name(ops.check_attention, locals())
    runtime = default_runtime()
    kernel = ops.find_kernel(runtime, problem)
    out, stats = _empty_attention_outputs(problem, q)
    if problem.varlen:  # the kernels take both lengths; a missing one is full
        if query_lengths is None:
            query_lengths = torch.full(
                (problem.batch,), problem.query_len, dtype=torch.int32, device=q.device
            )
        if key_lengths is None:
            key_lengths = torch.full(
                (problem.batch,), problem.key_len, dtype=torch.int32, device=q.device
            )
    tensors, scalars = _by_name(ops.attention_arguments, locals())
    _launch(kernel, tensors, scalars, problem.device)
    return out, stats


@_attention_op.register_fake
def _attention_fake(
    q,
    k,
    v,
    normalizer,
    alpha,
    causal,
    scale,
    query_lengths,
    key_lengths,
    kv_num_blocks,
    kv_indices,
    full_kv_num_blocks,
    full_kv_indices,
    mask_block_q,
    mask_block_k,
    bias,
    elastic_tau,
    return_stats,
    niter,
    layout,
):
    problem = _by_name(ops.check_attention, locals())
    return _empty_attention_outputs(problem, q)


@torch.library.custom_op("sparse_attn::entmax", mutates_args=())
def _entmax_op(x: torch.Tensor, alpha: float, niter: int) -> torch.Tensor:
    problem = _by_name(ops.check_entmax, locals())
    kernel = ops.find_kernel(default_runtime(), problem)
    y = torch.empty_like(x, memory_format=torch.contiguous_format)
    tensors, scalars = _by_name(ops.entmax_arguments, locals())
    _launch(kernel, tensors, scalars, problem.device)
    return y


@_entmax_op.register_fake
def _entmax_fake(x, alpha, niter):
    _by_name(ops.check_entmax, locals())
    return torch.empty_like(x, memory_format=torch.contiguous_format)


@torch.library.custom_op("sparse_attn::xattention_blocks", mutates_args=())
def _xattention_blocks_op(
    q: torch.Tensor,
    k: torch.Tensor,
    thresholds: torch.Tensor,
    stride: int,
    causal: bool,
    scale: float,
    block_size: int,
    layout: str,
) -> Tuple[torch.Tensor, torch.Tensor]:
    problem = _by_name(ops.check_xattention_blocks, locals())
    kernel = ops.find_kernel(default_runtime(), problem)
    kv_num_blocks, kv_indices = _empty_block_indices(problem, q)
    tensors, scalars = _by_name(ops.select_blocks_arguments, locals())
    _launch(kernel, tensors, scalars, problem.device)
    return kv_num_blocks, kv_indices


@_xattention_blocks_op.register_fake
def _xattention_blocks_fake(q, k, thresholds, stride, causal, scale, block_size, layout):
    problem = _by_name(ops.check_xattention_blocks, locals())
    return _empty_block_indices(problem, q)


def _int32(tensor):
    return None if tensor is None else tensor.to(torch.int32)


def attention(
    q,
    k,
    v,
    *,
    normalizer="softmax",
    alpha=1.5,
    causal=False,
    scale=None,
    query_lengths=None,
    key_lengths=None,
    block_mask=None,
    bias=None,
    elastic_tau=None,
    return_stats=False,
    niter=ops.DEFAULT_NITER,
    layout="bhnd"
):
    """Sparse attention on CUDA tensors (docs/design/semantics.md).

    q [B, H, Nq, D], k [B, Hkv, Nk, D], v [B, Hkv, Nk, Dv] in ``layout="bhnd"``,
    or [B, N, H, D] with ``layout="bnhd"`` (any strides with a contiguous last
    dimension; nothing is copied). H must be a multiple of Hkv (grouped-query
    attention). ``normalizer`` is "softmax", "entmax" (with ``alpha`` > 1 and
    ``niter`` solver iterations) or "elastic_softmax" (Lazy attention: causal,
    per-head ``elastic_tau`` [H] and optional ``bias`` [H, W]). ``causal`` is
    bottom-right aligned; ``query_lengths`` / ``key_lengths`` [B] make rows and
    keys past them padding (their outputs are zero); ``block_mask`` is a
    FlexAttention BlockMask (its tensors are used as they are); ``scale``
    defaults to 1/sqrt(D).

    Returns the output in the layout of q (and, with ``return_stats``, the
    [B, H, Nq] float32 statistics: log-sum-exp, or tau for entmax).
    """
    masks = (None, None, None, None, 0, 0)
    if block_mask is not None:
        masks = ops.block_mask_tensors(block_mask)
    kv_num_blocks, kv_indices, full_kv_num_blocks, full_kv_indices, block_q, block_k = masks
    if scale is None:
        scale = ops.default_scale(q.shape[-1])
    out, stats = torch.ops.sparse_attn.attention(
        q,
        k,
        v,
        normalizer,
        float(alpha),
        bool(causal),
        float(scale),
        _int32(query_lengths),
        _int32(key_lengths),
        _int32(kv_num_blocks),
        _int32(kv_indices),
        _int32(full_kv_num_blocks),
        _int32(full_kv_indices),
        block_q,
        block_k,
        None if bias is None else bias.float(),
        None if elastic_tau is None else elastic_tau.float(),
        bool(return_stats),
        int(niter),
        layout,
    )
    return (out, stats) if return_stats else out


def entmax(x, alpha=1.5, dim=-1, niter=ops.DEFAULT_NITER):
    """Row-wise alpha-entmax of a CUDA tensor along ``dim``: p = [(alpha - 1) x
    - tau]_+^(1/(alpha-1)) with tau such that each row sums to 1."""
    moved = x.movedim(dim, -1)
    rows = moved.reshape(-1, moved.shape[-1])  # a view whenever the strides allow
    y = torch.ops.sparse_attn.entmax(rows, float(alpha), int(niter))
    return y.reshape(moved.shape).movedim(-1, dim)


class SelectedBlocks:
    """The index tensors of a block selection in FlexAttention's BlockMask
    vocabulary (kv_num_blocks, kv_indices, BLOCK_SIZE): what
    ``attention(..., block_mask=...)`` reads."""

    def __init__(self, kv_num_blocks, kv_indices, block_size):
        self.kv_num_blocks = kv_num_blocks
        self.kv_indices = kv_indices
        self.BLOCK_SIZE = (block_size, block_size)


def xattention_blocks(
    q, k, *, stride=8, threshold=0.9, causal=True, scale=None, block_size=128, layout="bhnd"
):
    """XAttention's block selection on the GPU (docs/design/semantics.md,
    xattention_mask): antidiagonal scores over groups of ``stride`` rows, the
    softmax over key groups, block masses, then per query block the sink and
    own-position blocks and the most massive others until ``threshold`` of
    the row's mass (a float, or a [H] tensor of per-head thresholds). Returns
    a SelectedBlocks for ``attention(..., block_mask=...)``; nothing waits for
    the GPU."""
    heads = q.shape[1] if layout == "bhnd" else q.shape[2]
    if isinstance(threshold, torch.Tensor):
        thresholds = threshold.to(device=q.device, dtype=torch.float32)
    else:
        thresholds = torch.full((heads,), float(threshold), dtype=torch.float32, device=q.device)
    if scale is None:
        scale = ops.default_scale(q.shape[-1])
    kv_num_blocks, kv_indices = torch.ops.sparse_attn.xattention_blocks(
        q, k, thresholds, int(stride), bool(causal), float(scale), int(block_size), layout
    )
    return SelectedBlocks(kv_num_blocks, kv_indices, int(block_size))


def xattention_prefill(q, k, v, *, stride=8, threshold=0.9, causal=True, scale=None,
                       block_size=128, layout="bhnd"):
    """Softmax attention under XAttention's selection (SparseAttn's
    Xattention_prefill): ``xattention_blocks`` then the block-sparse
    attention kernel, both on the current stream."""
    blocks = xattention_blocks(
        q, k, stride=stride, threshold=threshold, causal=causal, scale=scale,
        block_size=block_size, layout=layout,
    )
    return attention(q, k, v, causal=causal, scale=scale, block_mask=blocks, layout=layout)
