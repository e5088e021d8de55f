"""The arguments of a sparse_attn attention call by the Python package's
names (sparse_attn.ops.check_attention, ops.attention_arguments, the
attention op): its optional tensors (an absent one is None) and a call with
every option off. Plain Python, neither NumPy nor PyTorch: the package's
torch-free tests (test/python) and the GPU tests' float64 reference and
checks (test/gpu) share it.
"""

OPTIONAL_TENSORS = (
    "query_lengths",
    "key_lengths",
    "kv_num_blocks",
    "kv_indices",
    "full_kv_num_blocks",
    "full_kv_indices",
    "bias",
    "elastic_tau",
)


def optional_tensors(**given):
    """Every optional tensor by name: those given, None for the others."""
    unknown = sorted(set(given) - set(OPTIONAL_TENSORS))
    if unknown:
        raise TypeError(f"not optional tensors of an attention call: {', '.join(unknown)}")
    return {name: given.get(name) for name in OPTIONAL_TENSORS}


def check_arguments(**overrides):
    """Keyword arguments of sparse_attn.ops.check_attention for a call with
    every option off (softmax, not causal, no block mask, no statistics, 10
    solver iterations, layout bhnd, no optional tensor), then `overrides`."""
    arguments = dict(
        optional_tensors(),
        normalizer="softmax",
        alpha=1.5,
        causal=False,
        mask_block_q=0,
        mask_block_k=0,
        return_stats=False,
        niter=10,
        layout="bhnd",
    )
    arguments.update(overrides)
    return arguments
