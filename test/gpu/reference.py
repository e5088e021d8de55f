"""Float64 PyTorch references of the sparse_attn operations, written from
docs/design/semantics.md (not from any kernel). They run on whatever device
their inputs are on.

    python3 test/gpu/reference.py   # checks them against element-by-element loops (CPU)
"""

import math
import os
import sys

import torch

# The float64 NumPy references of the prefill estimators (test/lib), shared
# with the CPU numerics tests rather than written twice, and the names of the
# optional tensors of an attention call, shared with the CPU tests of the
# Python package.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

from sparse_attn_arguments import optional_tensors  # noqa: E402


def block_mask_visibility(kv_num_blocks, kv_indices, query_len, key_len, block_q, block_k):
    """The token-level visibility [Bm, Hm, Nq, Nk] of FlexAttention index
    tensors: key block J is visible from query block I iff J is one of the
    first clamp(count, 0, KB) entries of the row; out-of-range entries select
    nothing."""
    key_blocks = -(-key_len // block_k)
    counts = kv_num_blocks.long().clamp(0, key_blocks)
    slots = torch.arange(kv_indices.shape[3], device=kv_indices.device)
    listed = slots.view(1, 1, 1, -1) < counts.unsqueeze(-1)
    indices = kv_indices.long()
    valid = listed & (indices >= 0) & (indices < key_blocks)
    blocks = torch.zeros(
        *kv_indices.shape[:3], key_blocks + 1, dtype=torch.bool, device=kv_indices.device
    )
    # Invalid entries go to the extra column, which is dropped.
    blocks.scatter_(3, torch.where(valid, indices, key_blocks), True)
    blocks = blocks[..., :key_blocks]
    tokens = blocks.repeat_interleave(block_q, dim=2).repeat_interleave(block_k, dim=3)
    return tokens[:, :, :query_len, :key_len]


def xattention_selection(q, k, block, stride, thresholds, causal, scale):
    """XAttention's selection as FlexAttention index tensors, from test/lib's
    float64 reference (semantics.md, xattention_mask): (kv_num_blocks
    [B, H, QB], kv_indices [B, H, QB, KB], margin), `margin` being the
    smallest relative distance of any decision from flipping."""
    import sparse_attn_prefill_reference as prefill

    estimate = prefill.xattention_mask(
        q.double().cpu().numpy(),
        k.double().cpu().numpy(),
        (block, block),
        stride=stride,
        thresholds=thresholds.double().cpu().numpy(),
        causal=causal,
        scale=scale,
    )
    batch, heads, query_len = q.shape[:3]
    query_blocks, key_blocks = -(-query_len // block), -(-k.shape[2] // block)
    counts = torch.zeros(batch, heads, query_blocks, dtype=torch.int32)
    indices = torch.zeros(batch, heads, query_blocks, key_blocks, dtype=torch.int32)
    for (b, h), detail in estimate.detail.items():
        for row, selected in enumerate(detail["selected"]):
            listed = torch.nonzero(torch.as_tensor(selected)).flatten()
            counts[b, h, row] = len(listed)
            indices[b, h, row, : len(listed)] = listed.to(torch.int32)
    return counts, indices, estimate.margin


def entmax_threshold(x, alpha, visible):
    """tau with sum over visible j of [x_j - tau]_+^(1/(alpha-1)) = 1, per
    row, by bisection on [max - 1, max] to float64 precision; +inf for rows
    with nothing visible."""
    exponent = 1.0 / (alpha - 1.0)
    masked = torch.where(visible, x, torch.full_like(x, -math.inf))
    top = masked.amax(dim=-1, keepdim=True)
    empty = torch.isinf(top)
    top = torch.where(empty, torch.zeros_like(top), top)
    low, high = top - 1.0, top.clone()
    for _ in range(200):
        middle = (low + high) / 2
        mass = (torch.clamp(masked - middle, min=0) ** exponent).sum(dim=-1, keepdim=True)
        too_low = mass >= 1.0
        low = torch.where(too_low, middle, low)
        high = torch.where(too_low, high, middle)
    tau = (low + high) / 2
    return torch.where(empty, torch.full_like(tau, math.inf), tau)


def entmax(x, alpha):
    """Row-wise entmax along the last dimension (every entry visible)."""
    x = (alpha - 1.0) * x.double()
    tau = entmax_threshold(x, alpha, torch.ones_like(x, dtype=torch.bool))
    return torch.clamp(x - tau, min=0) ** (1.0 / (alpha - 1.0))


def attention(
    q,
    k,
    v,
    *,
    normalizer="softmax",
    alpha=1.5,
    causal=False,
    scale=None,
    block_q=128,
    block_k=128,
    **optional,
):
    """(out [B, H, Nq, Dv], stats [B, H, Nq]) in float64 for [B, H, N, D]
    inputs: stats are the log-sum-exp (softmax, elastic softmax) or tau in
    units of x (entmax); empty rows give zeros and -inf / +inf. `optional`:
    any of the optional tensors of test/lib's sparse_attn_arguments (those of
    the block mask in blocks of block_q x block_k); the others are absent."""
    optional = optional_tensors(**optional)
    q, k, v = q.double(), k.double(), v.double()
    batch, heads, query_len, head_dim = q.shape
    key_len = k.shape[2]
    group = heads // k.shape[1]
    k = k.repeat_interleave(group, dim=1)
    v = v.repeat_interleave(group, dim=1)
    device = q.device
    if scale is None:
        scale = 1.0 / math.sqrt(head_dim)

    def lengths_of(lengths, full):
        if lengths is None:
            return torch.full((batch,), full, dtype=torch.long, device=device)
        return lengths.long().clamp(0, full)

    valid_queries = lengths_of(optional["query_lengths"], query_len).view(batch, 1, 1, 1)
    valid_keys = lengths_of(optional["key_lengths"], key_len).view(batch, 1, 1, 1)
    i = torch.arange(query_len, device=device).view(1, 1, -1, 1)
    j = torch.arange(key_len, device=device).view(1, 1, 1, -1)
    position = i + (valid_keys - valid_queries)  # bottom-right aligned
    visible = (i < valid_queries) & (j < valid_keys)
    if causal:
        visible = visible & (j <= position)
    if optional["kv_num_blocks"] is not None:
        mask = block_mask_visibility(
            optional["kv_num_blocks"], optional["kv_indices"], query_len, key_len, block_q, block_k
        )
        if optional["full_kv_num_blocks"] is not None:
            mask = mask | block_mask_visibility(
                optional["full_kv_num_blocks"],
                optional["full_kv_indices"],
                query_len,
                key_len,
                block_q,
                block_k,
            )
        visible = visible & mask  # the mask's batch and head extents of 1 broadcast

    scores = scale * torch.einsum("bhid,bhjd->bhij", q, k)
    bias = optional["bias"]
    if bias is not None:
        distance = position - j
        width = bias.shape[1]
        inside = (distance >= 0) & (distance < width)
        gathered = bias.double()[:, distance.clamp(0, width - 1).squeeze(1)]  # [H, B, Nq, Nk]
        scores = scores + torch.where(inside, gathered.permute(1, 0, 2, 3), 0.0)
    empty = ~visible.any(dim=-1, keepdim=True)

    if normalizer == "entmax":
        x = (alpha - 1.0) * scores
        tau = entmax_threshold(x, alpha, visible)
        weights = torch.where(visible, torch.clamp(x - tau, min=0) ** (1.0 / (alpha - 1.0)), 0.0)
        stats = tau.squeeze(-1)
    else:
        masked = torch.where(visible, scores, -math.inf)
        top = torch.where(empty, 0.0, masked.amax(dim=-1, keepdim=True))
        exponentials = torch.where(visible, torch.exp(masked - top), 0.0)
        total = exponentials.sum(dim=-1, keepdim=True)
        weights = exponentials / torch.where(empty, 1.0, total)
        stats = torch.where(empty, -math.inf, top + torch.log(total)).squeeze(-1)
        if normalizer == "elastic_softmax":
            threshold = optional["elastic_tau"].double().view(1, heads, 1, 1) / (position + 1)
            weights = torch.where(visible, torch.clamp(weights + threshold, min=0), 0.0)
    weights = torch.where(empty, 0.0, weights)
    return torch.einsum("bhij,bhjd->bhid", weights, v), stats


def _loop_attention(
    q, k, v, normalizer, alpha, causal, scale, query_lengths, key_lengths, mask, bias, elastic_tau
):
    """semantics.md spelt out one row at a time, for the self-test."""
    batch, heads, query_len, _ = q.shape
    key_len, group = k.shape[2], heads // k.shape[1]
    out = torch.zeros(batch, heads, query_len, v.shape[3], dtype=torch.float64)
    stats = torch.zeros(batch, heads, query_len, dtype=torch.float64)
    for b in range(batch):
        lq = (
            min(max(int(query_lengths[b]), 0), query_len)
            if query_lengths is not None
            else query_len
        )
        lk = min(max(int(key_lengths[b]), 0), key_len) if key_lengths is not None else key_len
        for h in range(heads):
            for i in range(query_len):
                position = i + lk - lq
                keys = [
                    j
                    for j in range(key_len)
                    if i < lq
                    and j < lk
                    and (not causal or j <= position)
                    and (
                        mask is None
                        or mask[min(b, mask.shape[0] - 1), min(h, mask.shape[1] - 1), i, j]
                    )
                ]
                if not keys:
                    stats[b, h, i] = math.inf if normalizer == "entmax" else -math.inf
                    continue
                s = {}
                for j in keys:
                    s[j] = scale * float(q[b, h, i].double() @ k[b, h // group, j].double())
                    if bias is not None and 0 <= position - j < bias.shape[1]:
                        s[j] += float(bias[h, position - j])
                if normalizer == "entmax":
                    x = {j: (alpha - 1) * s[j] for j in keys}
                    low, high = max(x.values()) - 1, max(x.values())
                    for _ in range(200):
                        middle = (low + high) / 2
                        mass = sum(max(x[j] - middle, 0) ** (1 / (alpha - 1)) for j in keys)
                        low, high = (middle, high) if mass >= 1 else (low, middle)
                    tau = (low + high) / 2
                    w = {j: max(x[j] - tau, 0) ** (1 / (alpha - 1)) for j in keys}
                    stats[b, h, i] = tau
                else:
                    m = max(s.values())
                    total = sum(math.exp(s[j] - m) for j in keys)
                    w = {j: math.exp(s[j] - m) / total for j in keys}
                    stats[b, h, i] = m + math.log(total)
                    if normalizer == "elastic_softmax":
                        w = {
                            j: max(0.0, w[j] + float(elastic_tau[h]) / (position + 1)) for j in keys
                        }
                for j in keys:
                    out[b, h, i] += w[j] * v[b, h // group, j].double()
    return out, stats


def _loop_block_mask(counts, indices, query_len, key_len, block_q, block_k):
    """mask_from_indices of semantics.md, one pair at a time."""
    key_blocks = -(-key_len // block_k)
    mask = torch.zeros(counts.shape[0], counts.shape[1], query_len, key_len, dtype=torch.bool)
    for b in range(counts.shape[0]):
        for h in range(counts.shape[1]):
            for i in range(query_len):
                row = i // block_q
                listed = indices[b, h, row, : min(max(int(counts[b, h, row]), 0), key_blocks)]
                for j in range(key_len):
                    mask[b, h, i, j] = (j // block_k) in [int(x) for x in listed]
    return mask


def _self_test():
    generator = torch.Generator().manual_seed(0)

    def randn(*shape):
        return torch.randn(*shape, generator=generator, dtype=torch.float64)

    batch, heads, kv_heads, query_len, key_len, dim = 2, 4, 2, 7, 11, 5
    q, k, v = (
        randn(batch, heads, query_len, dim),
        randn(batch, kv_heads, key_len, dim),
        randn(batch, kv_heads, key_len, 3),
    )
    lengths_q, lengths_k = torch.tensor([5, 7]), torch.tensor([11, 0])
    counts = torch.tensor([[[1, 2, 0, 3]]], dtype=torch.int32)  # blocks of 2 x 3
    indices = torch.tensor(
        [[[[3, 0, 0, 0], [0, 2, 0, 0], [1, 1, 1, 1], [2, 1, 9, 0]]]], dtype=torch.int32
    )
    mask = _loop_block_mask(counts, indices, query_len, key_len, 2, 3)
    assert torch.equal(block_mask_visibility(counts, indices, query_len, key_len, 2, 3), mask)
    bias, tau = randn(heads, 4), -torch.rand(heads, generator=generator, dtype=torch.float64)
    cases = [
        dict(normalizer="softmax"),
        dict(normalizer="softmax", causal=True, query_lengths=lengths_q, key_lengths=lengths_k),
        dict(normalizer="entmax", alpha=1.5, causal=True),
        dict(normalizer="entmax", alpha=1.3, query_lengths=lengths_q),
        dict(normalizer="entmax", alpha=2.0, block=True),
        dict(normalizer="elastic_softmax", causal=True, bias=bias, elastic_tau=tau),
        dict(normalizer="softmax", block=True, causal=True),
    ]
    for case in cases:
        block = case.pop("block", False)
        arguments = dict(
            normalizer="softmax",
            alpha=1.5,
            causal=False,
            query_lengths=None,
            key_lengths=None,
            bias=None,
            elastic_tau=None,
        )
        arguments.update(case)
        expected = _loop_attention(q, k, v, scale=0.7, mask=mask if block else None, **arguments)
        masks = (
            dict(kv_num_blocks=counts, kv_indices=indices, block_q=2, block_k=3) if block else {}
        )
        actual = attention(q, k, v, scale=0.7, **arguments, **masks)
        for name, a, e in zip(("out", "stats"), actual, expected):
            same_infinities = torch.equal(torch.isinf(a), torch.isinf(e)) and torch.equal(
                a[torch.isinf(a)], e[torch.isinf(e)]
            )
            finite = torch.isfinite(e)
            error = (a[finite] - e[finite]).abs().max().item() if finite.any() else 0.0
            assert same_infinities and error < 1e-9, f"{case}: {name} differs by {error}"
    rows = randn(6, 9)
    for alpha in (1.5, 2.0, 1.2):
        p = entmax(rows, alpha)
        assert (p.sum(-1) - 1).abs().max() < 1e-12 and (p >= 0).all()
    print(f"reference self-test: {len(cases)} attention cases and 3 entmax cases match")


if __name__ == "__main__":
    _self_test()
