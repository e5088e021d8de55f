"""Operation-level checking, kernel selection and launching.

Torch-free: this module works on anything shaped like a tensor (``shape``,
``stride()``, ``dtype``, ``device``, ``data_ptr()``), so its logic is tested
without PyTorch. The conventions (tensor names, logical shapes, scalars,
specialization keys) are those of docs/design/kernel-bundles.md, section
"Operations". The PyTorch-facing functions are in ``functional.py``.
"""

import math

from .runtime import KernelNotFoundError, TensorView, ValidationError, dtype_name

LAYOUTS = ("bhnd", "bnhd")
NORMALIZERS = ("softmax", "entmax", "elastic_softmax")
ATTENTION_DTYPES = ("f16", "bf16", "f32")
# Positions of (batch, heads, sequence, head dim) in each layout; a view in
# the kernels' [B, H, N, D] order is the tensor with dimensions permuted so.
_LOGICAL_ORDER = {"bhnd": (0, 1, 2, 3), "bnhd": (0, 2, 1, 3)}
DEFAULT_NITER = 10


def _fail(operation, message):
    raise ValidationError(f"sparse_attn.{operation}: {message}", "SA_ERROR_VALIDATION")


def _shape(tensor):
    return tuple(int(s) for s in tensor.shape)


def _device_of(operation, name, tensor):
    device = tensor.device
    if getattr(device, "type", None) != "cuda":
        _fail(operation, f"tensor '{name}' is on {device}; the kernels need CUDA tensors")
    return device.index if device.index is not None else 0


def _check_same_device(operation, device, name, tensor):
    other = _device_of(operation, name, tensor)
    if other != device:
        _fail(operation, f"tensor '{name}' is on cuda:{other}, but 'q' is on cuda:{device}")


def _check_per_head(operation, device, name, tensor, heads):
    """One f32 value per query head, beside 'q'."""
    _check_same_device(operation, device, name, tensor)
    if _shape(tensor) != (heads,) or dtype_name(tensor.dtype) != "f32":
        _fail(
            operation,
            f"tensor '{name}' must be f32 of shape [{heads}], got "
            f"{dtype_name(tensor.dtype)} {list(_shape(tensor))}",
        )


def _check_index_vector(operation, name, tensor, length, device):
    if tensor is None:
        return
    _check_same_device(operation, device, name, tensor)
    if _shape(tensor) != (length,):
        _fail(
            operation,
            f"tensor '{name}' must have shape [{length}] (one entry per batch), "
            f"got {list(_shape(tensor))}",
        )
    if dtype_name(tensor.dtype) != "i32":
        _fail(
            operation,
            f"tensor '{name}' has dtype {dtype_name(tensor.dtype)}, but the kernels " "need i32",
        )


class AttentionProblem:
    """A checked attention call: logical sizes and the kernel it needs."""

    def __init__(self, **fields):
        self.__dict__.update(fields)

    def output_shape(self):
        """`out`'s shape in the caller's layout."""
        if self.layout == "bhnd":
            return (self.batch, self.heads, self.query_len, self.value_dim)
        return (self.batch, self.query_len, self.heads, self.value_dim)

    def stats_shape(self):
        return (self.batch, self.heads, self.query_len) if self.statistics else (0,)

    def specializations(self):
        """The specializations to look up, most specific first: entmax with a
        given alpha, then a kernel taking alpha as a scalar."""
        key = {
            "normalizer": self.normalizer,
            "dtype": self.dtype,
            "head_dim": self.head_dim,
            "value_dim": self.value_dim,
            "causal": self.causal,
            "varlen": self.varlen,
            "statistics": self.statistics,
            "mask": "block" if self.mask_block else "none",
        }
        if self.mask_block:
            key["mask_block_q"], key["mask_block_k"] = self.mask_block
            key["full_blocks"] = self.full_blocks
        if self.normalizer == "elastic_softmax":
            key["bias"] = self.has_bias
        if self.normalizer != "entmax":
            return [key]
        return [dict(key, alpha=self.alpha), dict(key, alpha="any")]


def check_attention(
    q,
    k,
    v,
    *,
    normalizer,
    alpha,
    causal,
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
    """Checks an attention call (semantics: docs/design/semantics.md) and
    returns its AttentionProblem; ValidationError says what is wrong. Reads
    only shapes, strides, dtypes and devices (works on fake tensors)."""
    op = "attention"
    if layout not in LAYOUTS:
        _fail(op, f"layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    if normalizer not in NORMALIZERS:
        _fail(op, f"normalizer must be one of {', '.join(NORMALIZERS)}, got {normalizer!r}")
    order = _LOGICAL_ORDER[layout]
    shapes = {}
    for name, tensor in (("q", q), ("k", k), ("v", v)):
        shape = _shape(tensor)
        if len(shape) != 4:
            _fail(
                op,
                f"tensor '{name}' must have rank 4 ([{layout.upper()}]), got shape "
                f"{list(shape)}",
            )
        shapes[name] = tuple(shape[d] for d in order)
    device = _device_of(op, "q", q)
    for name, tensor in (("k", k), ("v", v)):
        _check_same_device(op, device, name, tensor)
    dtype = dtype_name(q.dtype)
    if dtype not in ATTENTION_DTYPES:
        _fail(op, f"tensor 'q' has dtype {dtype}; the kernels take {', '.join(ATTENTION_DTYPES)}")
    for name, tensor in (("k", k), ("v", v)):
        if dtype_name(tensor.dtype) != dtype:
            _fail(op, f"tensor '{name}' has dtype {dtype_name(tensor.dtype)}, but 'q' has {dtype}")

    batch, heads, query_len, head_dim = shapes["q"]
    kb, kv_heads, key_len, kd = shapes["k"]
    vb, vh, vn, value_dim = shapes["v"]
    if kb != batch or vb != batch:
        _fail(op, f"batch sizes differ: q {batch}, k {kb}, v {vb}")
    if kd != head_dim:
        _fail(op, f"head dimensions differ: q {head_dim}, k {kd}")
    if (vh, vn) != (kv_heads, key_len):
        _fail(op, f"'v' has {vh} heads and {vn} keys, but 'k' has {kv_heads} and {key_len}")
    if kv_heads == 0 or heads % kv_heads != 0:
        _fail(op, f"query heads ({heads}) must be a multiple of key/value heads ({kv_heads})")
    for name, tensor in (("q", q), ("k", k), ("v", v)):
        if tuple(tensor.stride())[3] != 1 and _shape(tensor)[3] > 1:
            _fail(
                op,
                f"tensor '{name}' must be contiguous in its last dimension (stride 1), "
                f"got strides {list(tensor.stride())}",
            )

    if normalizer == "entmax" and not alpha > 1:
        _fail(op, f"entmax needs alpha > 1, got {alpha}")
    if normalizer == "elastic_softmax":
        if not causal:
            _fail(op, "elastic softmax (Lazy attention) is always causal: pass causal=True")
        if elastic_tau is None:
            _fail(op, "elastic softmax needs 'elastic_tau' (one threshold per query head)")
        _check_per_head(op, device, "elastic_tau", elastic_tau, heads)
    elif elastic_tau is not None or bias is not None:
        _fail(op, "'bias' and 'elastic_tau' belong to elastic softmax only")
    if bias is not None:
        _check_same_device(op, device, "bias", bias)
        shape = _shape(bias)
        if len(shape) != 2 or shape[0] != heads or dtype_name(bias.dtype) != "f32":
            _fail(
                op,
                f"tensor 'bias' must be f32 of shape [{heads}, W], got "
                f"{dtype_name(bias.dtype)} {list(shape)}",
            )
    if niter < 1:
        _fail(op, f"niter must be at least 1, got {niter}")

    _check_index_vector(op, "query_lengths", query_lengths, batch, device)
    _check_index_vector(op, "key_lengths", key_lengths, batch, device)

    mask_block = None
    full_blocks = False
    if kv_num_blocks is not None or kv_indices is not None:
        if kv_num_blocks is None or kv_indices is None:
            _fail(op, "a block mask needs both 'kv_num_blocks' and 'kv_indices'")
        if mask_block_q < 1 or mask_block_k < 1:
            _fail(op, f"block mask sizes must be positive, got {mask_block_q} x {mask_block_k}")
        query_blocks = -(-query_len // mask_block_q)
        key_blocks = -(-key_len // mask_block_k)
        full_blocks = full_kv_num_blocks is not None or full_kv_indices is not None
        pairs = [("kv_num_blocks", kv_num_blocks, "kv_indices", kv_indices)]
        if full_blocks:
            if full_kv_num_blocks is None or full_kv_indices is None:
                _fail(op, "full blocks need both 'full_kv_num_blocks' and 'full_kv_indices'")
            pairs.append(
                ("full_kv_num_blocks", full_kv_num_blocks, "full_kv_indices", full_kv_indices)
            )
        for count_name, counts, index_name, indices in pairs:
            for name, tensor in ((count_name, counts), (index_name, indices)):
                _check_same_device(op, device, name, tensor)
                if dtype_name(tensor.dtype) != "i32":
                    _fail(
                        op,
                        f"tensor '{name}' has dtype {dtype_name(tensor.dtype)}, but the "
                        "kernels need i32",
                    )
            count_shape, index_shape = _shape(counts), _shape(indices)
            if (
                len(count_shape) != 3
                or count_shape[0] not in (1, batch)
                or count_shape[1] not in (1, heads)
                or count_shape[2] != query_blocks
            ):
                _fail(
                    op,
                    f"tensor '{count_name}' must have shape [1 or {batch}, 1 or {heads}, "
                    f"{query_blocks}] ({query_len} queries in blocks of {mask_block_q}), "
                    f"got {list(count_shape)}",
                )
            if len(index_shape) != 4 or index_shape[:3] != count_shape:
                _fail(
                    op,
                    f"tensor '{index_name}' must have shape {list(count_shape)} + [K], got "
                    f"{list(index_shape)}",
                )
            if index_shape[3] > key_blocks:
                _fail(
                    op,
                    f"tensor '{index_name}' lists up to {index_shape[3]} key blocks, but "
                    f"{key_len} keys make only {key_blocks} blocks of {mask_block_k}",
                )
        mask_block = (mask_block_q, mask_block_k)
    elif full_kv_num_blocks is not None or full_kv_indices is not None:
        _fail(op, "full blocks need 'kv_num_blocks' and 'kv_indices' too")

    return AttentionProblem(
        op=op,
        layout=layout,
        normalizer=normalizer,
        alpha=float(alpha) if normalizer == "entmax" else None,
        causal=bool(causal),
        batch=batch,
        heads=heads,
        kv_heads=kv_heads,
        query_len=query_len,
        key_len=key_len,
        head_dim=head_dim,
        value_dim=value_dim,
        dtype=dtype,
        device=device,
        varlen=query_lengths is not None or key_lengths is not None,
        statistics=bool(return_stats),
        mask_block=mask_block,
        full_blocks=full_blocks,
        has_bias=bias is not None,
        niter=int(niter),
    )


def find_kernel(runtime, problem):
    """The kernel for a checked problem, trying its specializations in turn;
    KernelNotFoundError keeps the runtime's list of what exists."""
    errors = []
    for specialization in problem.specializations():
        try:
            return runtime.find_kernel(problem.op, specialization)
        except KernelNotFoundError as error:
            errors.append(str(error))
    raise KernelNotFoundError(
        f"sparse_attn.{problem.op}: no kernel for this call in the loaded bundles (set "
        "SPARSE_ATTN_BUNDLE_PATH to bundles built for it).\n" + "\n".join(errors),
        "SA_ERROR_NOT_FOUND",
    )


def attention_arguments(
    problem,
    kernel,
    *,
    q,
    k,
    v,
    out,
    stats,
    scale,
    query_lengths,
    key_lengths,
    kv_num_blocks,
    kv_indices,
    full_kv_num_blocks,
    full_kv_indices,
    bias,
    elastic_tau,
):
    """The named tensors (as [B, H, N, D] views) and scalars of a launch.
    Missing lengths of a varlen call are the full lengths (`query_lengths`
    and `key_lengths` come filled in by the caller)."""
    order = _LOGICAL_ORDER[problem.layout]
    tensors = {
        "q": TensorView.of(q).permuted(order),
        "k": TensorView.of(k).permuted(order),
        "v": TensorView.of(v).permuted(order),
        "out": TensorView.of(out).permuted(order),
    }
    optional = {
        "stats": stats if problem.statistics else None,
        "query_lengths": query_lengths,
        "key_lengths": key_lengths,
        "kv_num_blocks": kv_num_blocks,
        "kv_indices": kv_indices,
        "full_kv_num_blocks": full_kv_num_blocks,
        "full_kv_indices": full_kv_indices,
        "bias": bias,
        "elastic_tau": elastic_tau,
    }
    tensors.update((name, TensorView.of(t)) for name, t in optional.items() if t is not None)
    scalars = {"scale": float(scale)}
    if problem.normalizer == "entmax":
        scalars["niter"] = problem.niter
        if kernel.specialization_dict().get("alpha") == "any":
            scalars["alpha"] = problem.alpha
    return tensors, scalars


def default_scale(head_dim):
    return 1.0 / math.sqrt(head_dim) if head_dim else 1.0


class EntmaxProblem:
    """A checked row-wise entmax over [rows, columns]."""

    def __init__(self, **fields):
        self.__dict__.update(fields)

    def specializations(self):
        key = {"dtype": self.dtype}
        return [dict(key, alpha=self.alpha), dict(key, alpha="any")]


def check_entmax(x, *, alpha, niter):
    """Checks a row-wise entmax of a [rows, columns] tensor."""
    op = "entmax"
    shape = _shape(x)
    if len(shape) != 2:
        _fail(op, f"expected a [rows, columns] tensor, got shape {list(shape)}")
    device = _device_of(op, "x", x)
    dtype = dtype_name(x.dtype)
    if dtype not in ATTENTION_DTYPES:
        _fail(op, f"tensor 'x' has dtype {dtype}; the kernels take {', '.join(ATTENTION_DTYPES)}")
    if not alpha > 1:
        _fail(op, f"entmax needs alpha > 1, got {alpha}")
    if niter < 1:
        _fail(op, f"niter must be at least 1, got {niter}")
    return EntmaxProblem(
        op=op,
        rows=shape[0],
        columns=shape[1],
        dtype=dtype,
        device=device,
        alpha=float(alpha),
        niter=int(niter),
    )


def entmax_arguments(problem, kernel, *, x, y):
    scalars = {"niter": problem.niter}
    if kernel.specialization_dict().get("alpha") == "any":
        scalars["alpha"] = problem.alpha
    return {"x": TensorView.of(x), "y": TensorView.of(y)}, scalars


def block_mask_tensors(block_mask):
    """(kv_num_blocks, kv_indices, full_kv_num_blocks, full_kv_indices,
    block_q, block_k) of a FlexAttention BlockMask, or of any object with
    those attributes and BLOCK_SIZE; the tensors are handed over unchanged."""
    try:
        block_q, block_k = block_mask.BLOCK_SIZE
        return (
            block_mask.kv_num_blocks,
            block_mask.kv_indices,
            getattr(block_mask, "full_kv_num_blocks", None),
            getattr(block_mask, "full_kv_indices", None),
            int(block_q),
            int(block_k),
        )
    except (AttributeError, TypeError, ValueError):
        _fail(
            "attention",
            "block_mask must be a FlexAttention BlockMask (kv_num_blocks, "
            "kv_indices, optional full_kv_num_blocks / full_kv_indices, "
            f"BLOCK_SIZE), got {type(block_mask).__name__}",
        )


class SelectBlocksProblem:
    """A checked XAttention block selection."""

    def __init__(self, **fields):
        self.__dict__.update(fields)

    def specializations(self):
        return [
            {
                "method": "xattention",
                "stride": self.stride,
                "dtype": self.dtype,
                "head_dim": self.head_dim,
                "causal": self.causal,
                "varlen": False,
                "mask_block_q": self.block_size,
                "mask_block_k": self.block_size,
            }
        ]

    def index_shapes(self):
        """Shapes of (kv_num_blocks, kv_indices)."""
        rows = (self.batch, self.heads, -(-self.query_len // self.block_size))
        return rows, rows + (-(-self.key_len // self.block_size),)


def check_xattention_blocks(q, k, *, stride, thresholds, causal, block_size, layout):
    """Checks an XAttention block selection (docs/design/semantics.md,
    xattention_mask; thresholds: a [H] f32 tensor)."""
    op = "select_blocks"
    if layout not in LAYOUTS:
        _fail(op, f"layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    order = _LOGICAL_ORDER[layout]
    shapes = {}
    for name, tensor in (("q", q), ("k", k)):
        shape = _shape(tensor)
        if len(shape) != 4:
            _fail(op, f"tensor '{name}' must have rank 4 ([{layout.upper()}]), got {list(shape)}")
        shapes[name] = tuple(shape[d] for d in order)
        if tuple(tensor.stride())[3] != 1 and shape[3] > 1:
            _fail(op, f"tensor '{name}' must be contiguous in its last dimension")
    device = _device_of(op, "q", q)
    _check_same_device(op, device, "k", k)
    dtype = dtype_name(q.dtype)
    if dtype not in ("f16", "bf16") or dtype_name(k.dtype) != dtype:
        _fail(op, f"q and k must both be f16 or bf16, got {dtype} and {dtype_name(k.dtype)}")
    batch, heads, query_len, head_dim = shapes["q"]
    kb, kv_heads, key_len, kd = shapes["k"]
    if kb != batch or kd != head_dim:
        _fail(op, f"'k' has shape {list(shapes['k'])}, which does not fit 'q' {list(shapes['q'])}")
    if kv_heads == 0 or heads % kv_heads != 0:
        _fail(op, f"query heads ({heads}) must be a multiple of key heads ({kv_heads})")
    if stride < 1 or block_size % stride != 0:
        _fail(op, f"the stride ({stride}) must divide the block size ({block_size})")
    _check_per_head(op, device, "thresholds", thresholds, heads)
    return SelectBlocksProblem(
        op=op,
        layout=layout,
        stride=int(stride),
        dtype=dtype,
        head_dim=head_dim,
        causal=bool(causal),
        batch=batch,
        heads=heads,
        query_len=query_len,
        key_len=key_len,
        block_size=int(block_size),
        device=device,
    )


def select_blocks_arguments(problem, *, q, k, thresholds, kv_num_blocks, kv_indices, scale):
    order = _LOGICAL_ORDER[problem.layout]
    tensors = {
        "q": TensorView.of(q).permuted(order),
        "k": TensorView.of(k).permuted(order),
        "thresholds": TensorView.of(thresholds),
        "kv_num_blocks": TensorView.of(kv_num_blocks),
        "kv_indices": TensorView.of(kv_indices),
    }
    return tensors, {"scale": float(scale)}
