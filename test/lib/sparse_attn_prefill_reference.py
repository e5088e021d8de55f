"""Float64 NumPy references of the long-context prefill methods.

Written from shared/ALGORITHMS.md sections 5 to 8 and the "Prefill
estimators" section of docs/design/semantics.md, independently of the C++
lowering and evaluator. The known bugs of the published code are not
copied: FlexPrefill converts token budgets to blocks with the actual block
size (not 128), and every scale is 1/sqrt(D) unless given (not
1/sqrt(128)).

Each estimator returns an Estimate: the token-level mask [B, H, Nq, Nk]
(bool), the selected blocks, and `margin`, the smallest distance of any
decision the selection took from flipping (a rank against its neighbour at
a cut, a cumulative mass against its threshold, the pattern distance
against tau), relative to the quantity compared. Tests redraw inputs whose
margin is below what f32 rounding can move, so that "identical selection"
is a fair requirement of an f32 implementation.

Layouts and conventions are those of sparse_attn_reference: q [B, H, Nq, D],
k [B, Hkv, Nk, D], query head h reads key head h // (H // Hkv), causal
masking bottom-right aligned, varlen lengths clamped to the padded extents.
"""

import dataclasses

import numpy as np

import sparse_attn_reference as ref

DENSE, VERTICAL_SLASH, QUERY_AWARE = 0, 1, 2


@dataclasses.dataclass
class Estimate:
    visible: np.ndarray  # [B, H, Nq, Nk] bool, token level
    margin: float = np.inf
    # Method-specific detail: per (b, h) dictionaries.
    detail: dict = dataclasses.field(default_factory=dict)
    patterns: np.ndarray = None  # flexprefill: [B, H] int


# ---------------------------------------------------------------------------
# Shared pieces
# ---------------------------------------------------------------------------


def _ceil_div(a, b):
    return -(-a // b)


class _Head:
    """The quantities of one (b, h) every estimator uses."""

    def __init__(self, q, k, b, h, nq, nk, query_lengths, key_lengths, scale):
        heads, kv_heads = q.shape[1], k.shape[1]
        self.lq = int(ref._valid_lengths(query_lengths, q.shape[0], nq)[b])
        self.lk = int(ref._valid_lengths(key_lengths, q.shape[0], nk)[b])
        self.off = self.lk - self.lq
        self.q = np.asarray(q[b, h, : self.lq], dtype=np.float64)
        self.k = np.asarray(k[b, h // (heads // kv_heads), : self.lk], dtype=np.float64)
        self.scale = 1.0 / np.sqrt(q.shape[3]) if scale is None else scale

    def position(self, i):
        return i + self.off

    def estimation_rows(self, rows):
        """Softmax over the visible keys of scale * q_i . k_j for the rows;
        all zero for a row without a visible key."""
        scores = self.scale * self.q[rows] @ self.k.T
        visible = np.arange(self.lk)[None, :] <= self.position(rows)[:, None]
        masked = np.where(visible, scores, -np.inf)
        top = np.where(visible.any(axis=1), masked.max(axis=1, initial=-np.inf), 0.0)
        weights = np.where(visible, np.exp(masked - top[:, None]), 0.0)
        totals = weights.sum(axis=1)
        return weights / np.where(totals > 0, totals, 1.0)[:, None]

    def diagonal_sums(self, rows, weights):
        """sum over the rows of weights[i, pos_i - o] for o in [0, Lk)."""
        sums = np.zeros(self.lk)
        for row, i in enumerate(rows):
            position = self.position(i)
            columns = np.arange(min(position, self.lk - 1), -1, -1)
            sums[position - columns] += weights[row, columns]
        return sums

    def last_row(self, block, block_q):
        return min((block + 1) * block_q, self.lq) - 1

    def own_blocks(self, block, block_q, block_k):
        """D(I): the key blocks holding the positions of the rows of I."""
        last = self.last_row(block, block_q) + self.off
        if last < 0:
            return set()
        first = max(block * block_q + self.off, 0)
        return set(range(first // block_k, last // block_k + 1))


def ranked(values, candidates=None):
    """Indices in ranked order: descending value, ties to the lower index."""
    indices = np.arange(len(values)) if candidates is None else np.asarray(
        sorted(candidates), dtype=np.int64)
    order = np.lexsort((indices, -np.asarray(values)[indices]))
    return indices[order]


def top_k(values, k, forced):
    """The forced set plus the first max(0, k - |forced|) others in ranked
    order; also the relative gap at the cut (inf when there is no cut)."""
    others = ranked(values, set(range(len(values))) - set(forced))
    take = max(0, k - len(forced))
    chosen = set(forced) | set(others[:take].tolist())
    margin = np.inf
    if 0 < take < len(others):
        scale = max(abs(values[others[0]]), np.finfo(float).tiny)
        margin = (values[others[take - 1]] - values[others[take]]) / scale
    return chosen, margin


def _blocks_to_tokens(selected, head, block_q, block_k, nq, nk, causal=True):
    """Token-level mask of one head from its selected blocks."""
    rows = np.arange(nq)[:, None]
    columns = np.arange(nk)[None, :]
    visible = (rows < head.lq) & (columns < head.lk)
    if causal:
        visible &= columns <= rows + head.off
    tokens = np.repeat(np.repeat(selected, block_q, axis=0), block_k, axis=1)
    padded = np.zeros((_ceil_div(nq, block_q) * block_q, _ceil_div(nk, block_k) * block_k),
                      dtype=bool)
    padded[: tokens.shape[0], : tokens.shape[1]] = tokens
    return visible & padded[:nq, :nk]


# ---------------------------------------------------------------------------
# XAttention (ALGORITHMS.md section 5)
# ---------------------------------------------------------------------------


def antidiagonal_scores(head, stride):
    """z[a, c] = (scale / S) sum_t q[S a + S - 1 - t] . k[S c + t], rows past
    Lq and keys past Lk read as zero."""
    groups_q, groups_k = _ceil_div(head.lq, stride), _ceil_div(head.lk, stride)
    q = np.zeros((groups_q * stride, head.q.shape[1]))
    k = np.zeros((groups_k * stride, head.k.shape[1]))
    q[: head.lq], k[: head.lk] = head.q, head.k
    # Reverse the rows inside each query group: row S a + t pairs key S c + t.
    reversed_q = q.reshape(groups_q, stride, q.shape[1])[:, ::-1, :]
    grouped_k = k.reshape(groups_k, stride, k.shape[1])
    return head.scale / stride * np.einsum("atd,ctd->ac", reversed_q, grouped_k)


def xattention_block_mass(head, stride, block_q, block_k, causal):
    """A[I, J] over the valid blocks."""
    z = antidiagonal_scores(head, stride)
    groups_q, groups_k = z.shape
    last = np.minimum(stride * np.arange(groups_q) + stride, head.lq) - 1
    visible = np.ones_like(z, dtype=bool)
    if causal:
        visible = stride * np.arange(groups_k)[None, :] <= (last + head.off)[:, None]
    masked = np.where(visible, z, -np.inf)
    top = np.where(visible.any(axis=1), masked.max(axis=1, initial=-np.inf), 0.0)
    weights = np.where(visible, np.exp(masked - top[:, None]), 0.0)
    totals = weights.sum(axis=1)
    p = weights / np.where(totals > 0, totals, 1.0)[:, None]
    blocks_q, blocks_k = _ceil_div(head.lq, block_q), _ceil_div(head.lk, block_k)
    mass = np.zeros((blocks_q, blocks_k))
    np.add.at(mass, (((stride * np.arange(groups_q)) // block_q)[:, None],
                     ((stride * np.arange(groups_k)) // block_k)[None, :]), p)
    return mass


def xattention_mask(q, k, block, stride=8, threshold=0.9, thresholds=None, causal=True,
                    query_lengths=None, key_lengths=None, scale=None):
    """sparse_attn.xattention_mask; `block` is (BQ, BK). detail[(b, h)]
    holds the block mass A, the selected blocks and the selected mass."""
    batch, heads, nq, _ = q.shape
    nk = k.shape[2]
    block_q, block_k = block
    estimate = Estimate(np.zeros((batch, heads, nq, nk), dtype=bool))
    for b in range(batch):
        for h in range(heads):
            head = _Head(q, k, b, h, nq, nk, query_lengths, key_lengths, scale)
            theta = threshold if thresholds is None else float(thresholds[h])
            mass = xattention_block_mass(head, stride, block_q, block_k, causal)
            blocks_q, blocks_k = mass.shape
            selected = np.zeros((blocks_q, blocks_k), dtype=bool)
            reached = np.zeros(blocks_q)
            for row in range(blocks_q):
                total = mass[row].sum()
                forced = ({0} | head.own_blocks(row, block_q, block_k)) & set(range(blocks_k))
                kept = mass[row, sorted(forced)].sum()
                for j in forced:
                    selected[row, j] = True
                order = ranked(mass[row], set(range(blocks_k)) - forced)
                scale_row = max(total, np.finfo(float).tiny)
                for position, j in enumerate(order):
                    estimate.margin = min(estimate.margin, abs(kept - theta * total) / scale_row)
                    if not kept < theta * total:
                        # The last selected block and this one must not swap.
                        if position > 0:
                            gap = mass[row, order[position - 1]] - mass[row, j]
                            estimate.margin = min(estimate.margin, gap / scale_row)
                        break
                    selected[row, j] = True
                    kept += mass[row, j]
                reached[row] = kept
            estimate.detail[(b, h)] = dict(mass=mass, selected=selected, reached=reached,
                                           threshold=theta)
            estimate.visible[b, h] = _blocks_to_tokens(selected, head, block_q, block_k, nq,
                                                       nk, causal)
    return estimate


# ---------------------------------------------------------------------------
# FlexPrefill (ALGORITHMS.md section 6)
# ---------------------------------------------------------------------------


def coverage_count(values, gamma):
    """#{r : sum of the r + 1 largest values <= gamma} + 1, and the distance
    of the cumulative sums from gamma."""
    prefix = np.cumsum(np.asarray(values)[ranked(values)])
    return int((prefix <= gamma).sum()) + 1, float(np.abs(prefix - gamma).min(initial=np.inf))


def jensen_shannon_distance(p, q):
    """sqrt(max(0, JSD)) in nats, 0 ln 0 = 0."""
    middle = (p + q) / 2

    def kl(x):
        positive = x > 0
        return float((x[positive] * np.log(x[positive] / middle[positive])).sum())

    return float(np.sqrt(max(0.0, 0.5 * kl(p) + 0.5 * kl(q))))


def _block_means(values, length, block):
    """Mean of the rows of each block of `values[:length]`."""
    blocks = _ceil_div(length, block)
    return np.stack([values[j * block: min((j + 1) * block, length)].mean(axis=0)
                     for j in range(blocks)]) if blocks else np.zeros((0, values.shape[1]))


def flexprefill_mask(q, k, block, gamma=0.9, tau=0.1, min_budget=1024, max_budget=None,
                     query_lengths=None, key_lengths=None, scale=None):
    """sparse_attn.flexprefill_mask with square blocks of size `block`.
    estimate.patterns [B, H]: 0 dense, 1 vertical-slash, 2 query-aware."""
    batch, heads, nq, _ = q.shape
    nk = k.shape[2]
    estimate = Estimate(np.zeros((batch, heads, nq, nk), dtype=bool))
    estimate.patterns = np.zeros((batch, heads), dtype=np.int32)
    low = _ceil_div(min_budget, block)
    high = np.inf if max_budget is None else _ceil_div(max_budget, block)
    for b in range(batch):
        for h in range(heads):
            head = _Head(q, k, b, h, nq, nk, query_lengths, key_lengths, scale)
            blocks_q, blocks_k = _ceil_div(head.lq, block), _ceil_div(head.lk, block)
            selected = np.zeros((blocks_q, blocks_k), dtype=bool)
            detail = {}
            if head.lq == 0 or head.lk <= max(2 * block, low * block):
                selected[:] = True
                pattern = DENSE
            else:
                rows = np.arange(head.lq - min(block, head.lq), head.lq)
                weights = head.estimation_rows(rows)
                vertical = weights.sum(axis=0) / len(rows)
                slash = head.diagonal_sums(rows, weights) / len(rows)

                def blocks(values):
                    count, distance = coverage_count(values, gamma)
                    estimate.margin = min(estimate.margin, distance)
                    return int(min(max(count // block + 1, low), high))

                k_vertical, k_slash = blocks(vertical), blocks(slash)
                profile_v = np.array([vertical[j * block:(j + 1) * block].sum()
                                      for j in range(blocks_k)])
                profile_s = np.array([slash[o * block:(o + 1) * block].sum()
                                      for o in range(blocks_k)])
                query_mean = head.q[rows].mean(axis=0)
                key_means = _block_means(head.k, head.lk, block)
                logits = head.scale * key_means @ query_mean
                estimated = np.exp(logits - logits.max())
                estimated /= estimated.sum()
                distance = jensen_shannon_distance(estimated, profile_v)
                estimate.margin = min(estimate.margin, abs(distance - tau))
                pattern = QUERY_AWARE if distance < tau else VERTICAL_SLASH
                if pattern == QUERY_AWARE:
                    k_vertical = k_slash = low
                chosen_v, margin_v = top_k(profile_v, k_vertical, {0})
                chosen_s, margin_s = top_k(profile_s, k_slash, {0})
                estimate.margin = min(estimate.margin, margin_v, margin_s)
                for row in range(blocks_q):
                    last = head.last_row(row, block) + head.off
                    for j in range(blocks_k):
                        on_slash = last >= 0 and (last // block - j) in chosen_s
                        selected[row, j] = j in chosen_v or on_slash
                    for j in head.own_blocks(row, block, block):
                        selected[row, j] = True
                if pattern == QUERY_AWARE:
                    selected |= _global_top_p(head, key_means, block, gamma, estimate)
                detail = dict(vertical=vertical, slash=slash, profile_v=profile_v,
                              profile_s=profile_s, distance=distance,
                              budgets=(k_vertical, k_slash), chosen_v=chosen_v,
                              chosen_s=chosen_s)
            estimate.patterns[b, h] = pattern
            estimate.detail[(b, h)] = dict(detail, selected=selected, pattern=pattern)
            estimate.visible[b, h] = _blocks_to_tokens(selected, head, block, block, nq, nk)
    return estimate


def _global_top_p(head, key_means, block, gamma, estimate):
    """Query-aware blocks: pooled block attention under block causality,
    the entries whose ranked cumulative sum stays <= gamma * rows."""
    blocks_q, blocks_k = _ceil_div(head.lq, block), key_means.shape[0]
    query_means = _block_means(head.q, head.lq, block)
    scores = np.zeros((blocks_q, blocks_k))
    candidates = []
    rows = 0
    for row in range(blocks_q):
        last = head.last_row(row, block) + head.off
        allowed = np.arange(blocks_k)[: (last // block + 1) if last >= 0 else 0]
        if len(allowed) == 0:
            continue
        rows += 1
        logits = head.scale * key_means[allowed] @ query_means[row]
        weights = np.exp(logits - logits.max())
        scores[row, allowed] = weights / weights.sum()
        candidates += [row * blocks_k + j for j in allowed]
    flat = scores.reshape(-1)
    order = ranked(flat, candidates)
    prefix = np.cumsum(flat[order])
    keep = prefix <= gamma * rows
    count = int(keep.sum())
    if len(order):
        estimate.margin = min(estimate.margin,
                              float(np.abs(prefix - gamma * rows).min()) / max(rows, 1))
        if 0 < count < len(order):
            estimate.margin = min(estimate.margin, flat[order[count - 1]] - flat[order[count]])
    selected = np.zeros(blocks_q * blocks_k, dtype=bool)
    selected[order[keep]] = True
    return selected.reshape(blocks_q, blocks_k)


# ---------------------------------------------------------------------------
# MInference vertical-slash (ALGORITHMS.md section 7)
# ---------------------------------------------------------------------------


def vertical_slash_mask(q, k, vertical_size=1000, slash_size=6096, last_queries=64, sink=30,
                        local=100, budgets=None, query_lengths=None, key_lengths=None,
                        scale=None):
    """sparse_attn.vertical_slash_mask (token level). detail[(b, h)] holds
    the kept columns and offsets."""
    batch, heads, nq, _ = q.shape
    nk = k.shape[2]
    estimate = Estimate(np.zeros((batch, heads, nq, nk), dtype=bool))
    for b in range(batch):
        for h in range(heads):
            head = _Head(q, k, b, h, nq, nk, query_lengths, key_lengths, scale)
            sizes = (vertical_size, slash_size) if budgets is None else tuple(
                max(0, int(x)) for x in budgets[h])
            columns, offsets = set(), set()
            if head.lq > 0 and head.lk > 0:
                rows = np.arange(head.lq - min(last_queries, head.lq), head.lq)
                weights = head.estimation_rows(rows)
                vertical = weights.sum(axis=0)
                slash = head.diagonal_sums(rows, weights)
                columns, margin_v = top_k(vertical, sizes[0], set(range(min(sink, head.lk))))
                offsets, margin_s = top_k(slash, sizes[1], set(range(min(local, head.lk))))
                estimate.margin = min(estimate.margin, margin_v, margin_s)
            i = np.arange(nq)[:, None]
            j = np.arange(nk)[None, :]
            position = i + head.off
            kept = np.isin(j, list(columns)) | np.isin(position - j, list(offsets))
            estimate.visible[b, h] = (i < head.lq) & (j < head.lk) & (j <= position) & kept
            estimate.detail[(b, h)] = dict(columns=columns, offsets=offsets)
    return estimate


# ---------------------------------------------------------------------------
# Head routing and prefill
# ---------------------------------------------------------------------------


def mask_route_heads(kinds, shape, streaming=None, masks=()):
    """sparse_attn.mask_route_heads: shape [B, H, Nq, Nk] of the result."""
    batch, heads, nq, nk = shape
    routed = np.zeros(shape, dtype=bool)
    for h, kind in enumerate(np.asarray(kinds)):
        if kind == 0:
            source = np.ones((1, 1, nq, nk), dtype=bool)
        elif kind == -1 and streaming is not None:
            source = streaming
        elif 1 <= kind <= len(masks):
            source = masks[kind - 1]
        else:
            continue
        source = np.broadcast_to(source, (batch, heads, nq, nk))
        routed[:, h] = source[:, h]
    return routed
