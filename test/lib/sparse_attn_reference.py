"""Float64 NumPy reference of every sparse_attn op.

Written from shared/ALGORITHMS.md and docs/design/semantics.md (the op
contract), independently of the C++ lowerings, so that the numeric tests
compare two implementations rather than one with itself.

Conventions:
  * attention operands are q [B, H, Nq, D], k [B, Hkv, Nk, D],
    v [B, Hkv, Nk, Dv]; query head h reads key/value head h // (H // Hkv);
  * a block mask is represented by its token-level visibility, a boolean
    array [Bm, Hm, Nq, Nk] whose batch and head extents may be 1 (broadcast);
    the block sizes only matter to mask_from_indices / mask_to_indices /
    block_density, which take them explicitly;
  * everything is computed in float64; round_to_element_type emulates the
    rounding of bf16 / f16 / f32 inputs exactly.
"""

import numpy as np

# ---------------------------------------------------------------------------
# Element types
# ---------------------------------------------------------------------------


def round_to_bf16(values):
    """Rounds to the nearest bf16 (ties to even) through float32, as the
    runtime does with f32 data for a bf16 argument; returns float32 arrays
    holding bf16 values. NaN stays NaN; overflow rounds to infinity."""
    as_f32 = np.asarray(values, dtype=np.float32)
    bits = as_f32.view(np.uint32).astype(np.uint64)
    lsb = (bits >> 16) & 1
    rounded = ((bits + 0x7FFF + lsb) & 0xFFFF0000).astype(np.uint32)
    return np.where(np.isnan(as_f32), as_f32, rounded.view(np.float32))


def round_to_element_type(values, element_type):
    """The values an argument of `element_type` holds, as float64."""
    if element_type == "f32":
        return np.asarray(values, dtype=np.float32).astype(np.float64)
    if element_type == "bf16":
        return round_to_bf16(values).astype(np.float64)
    if element_type == "f16":
        return np.asarray(values, dtype=np.float16).astype(np.float64)
    raise ValueError(f"not a float element type: {element_type}")


# ---------------------------------------------------------------------------
# alpha-entmax
# ---------------------------------------------------------------------------

# Rows are processed in chunks so that the pairwise support test below needs
# at most this many float64 temporaries.
_PAIRWISE_BUDGET = 1 << 22


def _sparsemax_threshold_sorted(ranked):
    """Closed form for alpha = 2 on rows sorted in descending order (-inf
    for invisible entries): the support is the longest prefix with
    u_k > (sum_{i<=k} u_i - 1) / k, and tau = (sum over it - 1) / size."""
    sizes = np.arange(1, ranked.shape[1] + 1)
    prefix = np.cumsum(ranked, axis=1)
    with np.errstate(invalid="ignore"):
        in_support = ranked * sizes > prefix - 1.0
    support = in_support.sum(axis=1)
    total = np.take_along_axis(prefix, support[:, None] - 1, axis=1)[:, 0]
    return (total - 1.0) / support


def _entmax_threshold_sorted(ranked, exponent):
    """General alpha on rows sorted in descending order (-inf for invisible
    entries), exponent = 1 / (alpha - 1).

    The k-th largest value u_k belongs to the support iff
    F(u_k) = sum_i [u_i - u_k]_+^exponent < 1 (F is decreasing and the row
    maximum alone contributes 1 at tau = max - 1). On the support, tau lies in
    [max(u_{k+1}, u_1 - 1), u_k) where g(tau) = sum_{i<=k} (u_i - tau)^exponent
    - 1 is smooth and strictly decreasing: bisect it until the bracket holds
    two adjacent doubles. Ties need no special care: tied entries pass or fail
    the support test together."""
    rows, width = ranked.shape
    finite = np.isfinite(ranked)
    support = np.empty(rows, dtype=np.int64)
    chunk = max(1, _PAIRWISE_BUDGET // max(1, width * width))
    for start in range(0, rows, chunk):
        part = ranked[start:start + chunk]
        with np.errstate(invalid="ignore"):  # -inf - -inf for invisible pairs
            gaps = part[:, :, None] - part[:, None, :]  # [row, i, k]: u_i - u_k
            powered = np.where(gaps > 0, np.maximum(gaps, 0) ** exponent, 0.0)
        mass = powered.sum(axis=1)
        support[start:start + chunk] = (
            (mass < 1.0) & finite[start:start + chunk]).sum(axis=1)

    in_support = np.arange(width)[None, :] < support[:, None]
    values = np.where(in_support, ranked, 0.0)
    upper = np.take_along_axis(ranked, support[:, None] - 1, axis=1)[:, 0]
    below = np.take_along_axis(
        np.concatenate([ranked, np.full((rows, 1), -np.inf)], axis=1),
        support[:, None], axis=1)[:, 0]
    lower = np.maximum(below, ranked[:, 0] - 1.0)

    def excess(tau):
        gaps = np.where(in_support, values - tau[:, None], 0.0)
        return (np.maximum(gaps, 0.0) ** exponent).sum(axis=1) - 1.0

    # Each bisection step halves the bracket; 2100 steps exhaust any double
    # range, and the loop stops as soon as every bracket is two neighbours.
    for _ in range(2100):
        middle = 0.5 * (lower + upper)
        active = (middle > lower) & (middle < upper)
        if not active.any():
            break
        positive = excess(middle) > 0
        lower = np.where(active & positive, middle, lower)
        upper = np.where(active & ~positive, middle, upper)
    return np.where(np.abs(excess(lower)) <= np.abs(excess(upper)), lower,
                    upper)


def entmax_threshold(x, alpha, visible=None):
    """The entmax threshold tau of every row (last axis) of x, with
    sum_j [x_j - tau]_+^(1/(alpha-1)) = 1 over the visible entries; x is
    already in threshold units ((alpha - 1) times the scores). Rows without
    visible entries get +inf."""
    if not alpha > 1:
        raise ValueError(f"entmax needs alpha > 1, got {alpha}")
    x = np.asarray(x, dtype=np.float64)
    if visible is None:
        visible = np.ones(x.shape, dtype=bool)
    width = x.shape[-1]
    rows = np.where(visible, x, -np.inf).reshape(-1, width)
    tau = np.full(rows.shape[0], np.inf)
    nonempty = np.asarray(visible).reshape(-1, width).any(axis=1)
    if nonempty.any():
        selected = rows[nonempty]
        # Shift by the row maximum: tau - max lies in [-1, 0), whatever the
        # magnitude of the scores.
        top = selected.max(axis=1)
        ranked = -np.sort(-(selected - top[:, None]), axis=1)
        if alpha == 2:
            shifted = _sparsemax_threshold_sorted(ranked)
        else:
            shifted = _entmax_threshold_sorted(ranked, 1.0 / (alpha - 1.0))
        tau[nonempty] = top + shifted
    return tau.reshape(x.shape[:-1])


def entmax_weights(x, tau, alpha, visible=None):
    """[x - tau]_+^(1/(alpha-1)) with tau per row; 0 where not visible."""
    gaps = np.maximum(np.asarray(x, dtype=np.float64) - np.asarray(tau)[..., None], 0.0)
    weights = gaps ** (1.0 / (alpha - 1.0))
    if visible is not None:
        weights = np.where(visible, weights, 0.0)
    return weights


def entmax(values, alpha):
    """sparse_attn.entmax: row-wise alpha-entmax along the last axis of a
    tensor of any rank >= 1, every entry visible."""
    x = (alpha - 1.0) * np.asarray(values, dtype=np.float64)
    return entmax_weights(x, entmax_threshold(x, alpha), alpha)


# ---------------------------------------------------------------------------
# Attention
# ---------------------------------------------------------------------------


def _valid_lengths(lengths, batch, extent):
    if lengths is None:
        return np.full(batch, extent, dtype=np.int64)
    return np.clip(np.asarray(lengths, dtype=np.int64), 0, extent)


def query_positions(batch, nq, nk, query_lengths=None, key_lengths=None):
    """pos[b, i] = i + Lk - Lq: bottom-right aligned absolute positions."""
    lq = _valid_lengths(query_lengths, batch, nq)
    lk = _valid_lengths(key_lengths, batch, nk)
    return np.arange(nq)[None, :] + (lk - lq)[:, None]


def attention_visibility(batch, heads, nq, nk, causal=False, mask=None,
                         query_lengths=None, key_lengths=None):
    """visible[b, h, i, j] of sparse_attn.attention (varlen, causal, mask)."""
    lq = _valid_lengths(query_lengths, batch, nq)
    lk = _valid_lengths(key_lengths, batch, nk)
    rows = np.arange(nq)[None, :, None] < lq[:, None, None]
    cols = np.arange(nk)[None, None, :] < lk[:, None, None]
    visible = rows & cols
    if causal:
        positions = query_positions(batch, nq, nk, query_lengths, key_lengths)
        visible = visible & (np.arange(nk)[None, None, :] <= positions[:, :, None])
    visible = np.broadcast_to(visible[:, None], (batch, heads, nq, nk))
    if mask is not None:
        visible = visible & np.broadcast_to(mask, (batch, heads, nq, nk))
    return visible


def attention_scores(q, k, query_lengths=None, key_lengths=None, bias=None,
                     scale=None):
    """s [B, H, Nq, Nk] = scale * q . k (+ bias[h, pos_i - j] for
    0 <= pos_i - j < W), before any masking; scale defaults to 1/sqrt(D)."""
    q = np.asarray(q, dtype=np.float64)
    k = np.asarray(k, dtype=np.float64)
    batch, heads, nq, head_dim = q.shape
    nk = k.shape[2]
    if scale is None:
        scale = 1.0 / np.sqrt(head_dim)
    keys = np.repeat(k, heads // k.shape[1], axis=1)  # head h reads kv head h // g
    scores = scale * np.einsum("bhid,bhjd->bhij", q, keys)
    if bias is not None:
        bias = np.asarray(bias, dtype=np.float64)
        positions = query_positions(batch, nq, nk, query_lengths, key_lengths)
        offsets = positions[:, :, None] - np.arange(nk)[None, None, :]
        window = (offsets >= 0) & (offsets < bias.shape[1])
        gathered = bias[:, np.clip(offsets, 0, bias.shape[1] - 1)]  # [H,B,i,j]
        scores = scores + np.where(window[:, None], gathered.transpose(1, 0, 2, 3), 0.0)
    return scores


def attention_weights(q, k, normalizer="softmax", alpha=None, causal=False,
                      mask=None, query_lengths=None, key_lengths=None,
                      bias=None, tau=None, scale=None):
    """The weights w [B, H, Nq, Nk] of sparse_attn.attention and its
    statistics [B, H, Nq] (log-sum-exp, or the entmax threshold).

    normalizer: "softmax", "entmax" (with alpha) or "elastic_softmax" (with
    tau [H]); bias [H, W] is added at offset pos_i - j in [0, W)."""
    batch, heads, nq, _ = np.shape(q)
    nk = np.shape(k)[2]
    scores = attention_scores(q, k, query_lengths, key_lengths, bias, scale)
    visible = attention_visibility(batch, heads, nq, nk, causal, mask,
                                   query_lengths, key_lengths)
    nonempty = visible.any(axis=-1)

    if normalizer == "entmax":
        x = (alpha - 1.0) * scores
        threshold = entmax_threshold(x, alpha, visible)
        return entmax_weights(x, threshold, alpha, visible), threshold

    masked = np.where(visible, scores, -np.inf)
    row_max = np.where(nonempty, masked.max(axis=-1), 0.0)
    exponentials = np.where(visible, np.exp(masked - row_max[..., None]), 0.0)
    row_sum = exponentials.sum(axis=-1)
    safe_sum = np.where(nonempty, row_sum, 1.0)
    probabilities = exponentials / safe_sum[..., None]
    lse = np.where(nonempty, row_max + np.log(safe_sum), -np.inf)
    if normalizer == "softmax":
        return probabilities, lse
    if normalizer == "elastic_softmax":
        # Empty rows (including those with pos_i < 0) have no weights; keep
        # the division away from pos_i + 1 <= 0 there.
        positions = query_positions(batch, nq, nk, query_lengths, key_lengths)
        denominators = np.where(positions >= 0, positions + 1, 1)
        shift = (np.asarray(tau, dtype=np.float64)[None, :, None]
                 / denominators[:, None, :])
        elastic = np.maximum(0.0, probabilities + shift[..., None])
        return np.where(visible, elastic, 0.0), lse
    raise ValueError(f"unknown normalizer {normalizer!r}")


def attention(q, k, v, **options):
    """sparse_attn.attention: (output [B, H, Nq, Dv], statistics [B, H, Nq]).
    Options as for attention_weights."""
    weights, statistics = attention_weights(q, k, **options)
    group = weights.shape[1] // v.shape[1]
    values = np.repeat(np.asarray(v, dtype=np.float64), group, axis=1)
    return np.einsum("bhij,bhjd->bhid", weights, values), statistics


# ---------------------------------------------------------------------------
# Block masks (token-level visibility [B, H, Nq, Nk])
# ---------------------------------------------------------------------------


def dense_mask(batch, heads, nq, nk):
    return np.ones((batch, heads, nq, nk), dtype=bool)


def causal_mask(batch, heads, nq, nk):
    """j <= i + (Nk - Nq)."""
    visible = np.arange(nk)[None, :] <= np.arange(nq)[:, None] + (nk - nq)
    return np.broadcast_to(visible, (batch, heads, nq, nk)).copy()


def streaming_mask(batch, heads, nq, nk, sink, window):
    """With p = i + Nk - Nq: j <= p and (j < sink or p - j < window)."""
    position = np.arange(nq)[:, None] + (nk - nq)
    key = np.arange(nk)[None, :]
    visible = (key <= position) & ((key < sink) | (position - key < window))
    return np.broadcast_to(visible, (batch, heads, nq, nk)).copy()


def _blocks_to_tokens(blocks, nq, nk, block_q, block_k):
    tokens = np.repeat(np.repeat(blocks, block_q, axis=2), block_k, axis=3)
    return tokens[:, :, :nq, :nk]


def _listed_blocks(counts, indices, num_key_blocks):
    """[B, H, QB, KB] booleans: key block J is among the first
    clamp(count, 0, KB) entries of the index row; entries outside [0, KB)
    select nothing."""
    counts = np.clip(np.asarray(counts, dtype=np.int64), 0, num_key_blocks)
    indices = np.asarray(indices, dtype=np.int64)
    slot = np.arange(indices.shape[-1])
    selected = (slot < counts[..., None]) & (indices >= 0) & (indices < num_key_blocks)
    hits = (indices[..., None] == np.arange(num_key_blocks)) & selected[..., None]
    return hits.any(axis=-2)


def mask_from_indices(kv_num_blocks, kv_indices, nq, nk, block_q, block_k,
                      full_kv_num_blocks=None, full_kv_indices=None):
    """sparse_attn.mask_from_indices: every pair of a listed block visible."""
    num_key_blocks = -(-nk // block_k)
    blocks = _listed_blocks(kv_num_blocks, kv_indices, num_key_blocks)
    if full_kv_num_blocks is not None:
        blocks = blocks | _listed_blocks(full_kv_num_blocks, full_kv_indices,
                                         num_key_blocks)
    return _blocks_to_tokens(blocks, nq, nk, block_q, block_k)


def mask_union(lhs, rhs):
    """Elementwise OR; batch / head extents of 1 broadcast."""
    return np.logical_or(lhs, rhs)


def mask_intersect(lhs, rhs):
    """Elementwise AND; batch / head extents of 1 broadcast."""
    return np.logical_and(lhs, rhs)


def _block_counts(mask, block_q, block_k):
    """(visible pairs, pairs) of every block (I, J): [B, H, QB, KB] and
    [QB, KB]; edge blocks are cropped to the sequence."""
    batch, heads, nq, nk = mask.shape
    qb, kb = -(-nq // block_q), -(-nk // block_k)
    padded = np.zeros((batch, heads, qb * block_q, kb * block_k), dtype=np.int64)
    padded[:, :, :nq, :nk] = mask
    area = np.zeros((qb * block_q, kb * block_k), dtype=np.int64)
    area[:nq, :nk] = 1
    visible = padded.reshape(batch, heads, qb, block_q, kb, block_k).sum(axis=(3, 5))
    pairs = area.reshape(qb, block_q, kb, block_k).sum(axis=(1, 3))
    return visible, pairs


def _ascending_lists(selected):
    """Counts and zero-padded ascending index rows of a [..., KB] boolean."""
    counts = selected.sum(axis=-1)
    order = np.argsort(~selected, axis=-1, kind="stable")
    slot = np.arange(selected.shape[-1])
    indices = np.where(slot < counts[..., None], order, 0)
    return counts.astype(np.int32), indices.astype(np.int32)


def mask_to_indices(mask, block_q, block_k):
    """sparse_attn.mask_to_indices: (kv_num_blocks, kv_indices,
    full_kv_num_blocks, full_kv_indices) as int32."""
    visible, pairs = _block_counts(np.asarray(mask, dtype=bool), block_q, block_k)
    partial = (visible > 0) & (visible < pairs)
    full = visible == pairs
    return _ascending_lists(partial) + _ascending_lists(full)


def block_density(mask, block_q, block_k):
    """[B, H]: the fraction of the QB * KB blocks that are not empty."""
    visible, pairs = _block_counts(np.asarray(mask, dtype=bool), block_q, block_k)
    return (visible > 0).mean(axis=(2, 3))
