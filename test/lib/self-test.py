# Self-consistency checks of the float64 reference (sparse_attn_reference)
# against brute-force and closed-form oracles written differently, and of the
# MLIR the test helpers emit (it must verify with sparse-attn-opt).
#
# RUN: %python %s %t

import itertools
import math
import os
import subprocess
import sys

import numpy as np

import sparse_attn_reference as ref
import sparse_attn_testing as testing

SEED = testing.test_seed(20240611)
rng = np.random.default_rng(SEED)
report = testing.Report("self-test", SEED)


# --- entmax ----------------------------------------------------------------


def brute_force_sparsemax(z):
    """Euclidean projection onto the simplex by trying every support."""
    n = len(z)
    for size in range(1, n + 1):
        for support in itertools.combinations(range(n), size):
            tau = (sum(z[i] for i in support) - 1.0) / size
            inside = all(z[i] > tau for i in support)
            outside = all(z[i] <= tau for i in range(n) if i not in support)
            if inside and outside:
                return np.array([max(zi - tau, 0.0) for zi in z])
    raise AssertionError("no feasible support")


def one_point_five_closed_form(x):
    """alpha = 1.5 on x = z / 2: on a support of the k largest entries
    sum (x_i - tau)^2 = 1 is a quadratic; take the k that is consistent."""
    ranked = sorted(x, reverse=True)
    for size in range(1, len(x) + 1):
        top = ranked[:size]
        total, squares = sum(top), sum(t * t for t in top)
        discriminant = total * total - size * (squares - 1.0)
        if discriminant < 0:
            continue
        tau = (total - math.sqrt(discriminant)) / size
        below = ranked[size] if size < len(x) else -math.inf
        if top[-1] > tau >= below:
            return tau
    raise AssertionError("no consistent support")


def plain_bisection_threshold(x, alpha):
    """Bisection of sum [x - tau]_+^(1/(alpha-1)) = 1 on [max - 1, max]
    without sorting, 200 halvings."""
    lower, upper = max(x) - 1.0, max(x)
    for _ in range(200):
        middle = 0.5 * (lower + upper)
        mass = sum(max(xi - middle, 0.0) ** (1.0 / (alpha - 1.0)) for xi in x)
        lower, upper = (middle, upper) if mass > 1.0 else (lower, middle)
    return 0.5 * (lower + upper)


for trial in range(40):
    n = int(rng.integers(1, 9))
    z = rng.standard_normal(n) * float(rng.choice([0.1, 1.0, 5.0]))
    if trial % 4 == 0 and n > 2:
        z[1] = z[0]  # ties
    label = f"sparsemax brute force z={z.tolist()}"
    report.expect_close(label, "weights", ref.entmax(z, 2.0), brute_force_sparsemax(z), 1e-13)

for trial in range(40):
    n = int(rng.integers(1, 40))
    z = rng.standard_normal(n) * float(rng.choice([0.3, 1.0, 10.0]))
    tau = ref.entmax_threshold(z / 2.0, 1.5)
    label = f"alpha 1.5 closed form z={z.tolist()}"
    report.expect(abs(tau - one_point_five_closed_form(z / 2.0)) <= 1e-14 * (1 + abs(tau)),
                  label, "threshold differs from the quadratic closed form")

for alpha in (1.1, 1.25, 1.5, 2.0, 3.0):
    for trial in range(10):
        n = int(rng.integers(1, 30))
        z = rng.standard_normal(n) * float(rng.choice([0.01, 1.0, 30.0]))
        if trial % 3 == 0:
            z = np.round(z)  # many ties
        x = (alpha - 1.0) * z
        label = f"alpha {alpha} z={z.tolist()}"
        tau = float(ref.entmax_threshold(x, alpha))
        p = ref.entmax(z, alpha)
        report.expect(abs(p.sum() - 1.0) <= 1e-13, label, f"sum {p.sum()!r}")
        report.expect(x.max() - 1.0 <= tau <= x.max() - n ** (1.0 - alpha) + 1e-15,
                      label, f"threshold {tau} outside its bracket")
        report.expect(abs(tau - plain_bisection_threshold(x.tolist(), alpha)) <= 1e-12,
                      label, "threshold differs from plain bisection")
        report.expect(np.array_equal(p > 0, x > tau), label, "support is not x > tau")
        report.expect_close(label, "shift invariance", ref.entmax(z + 3.0, alpha), p, 1e-10)
        permutation = rng.permutation(n)
        report.expect_close(label, "permutation", ref.entmax(z[permutation], alpha),
                            p[permutation], 1e-14)

# alpha -> 1 tends to softmax.
z = rng.standard_normal(12)
softmax = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
report.expect_close("alpha 1.0001 vs softmax", "weights", ref.entmax(z, 1.0001), softmax, 1e-3)

# Rank > 2 and empty rows.
block = rng.standard_normal((2, 3, 4, 5))
report.expect_close("entmax rank 4", "rows", ref.entmax(block, 1.5),
                    np.stack([ref.entmax(row, 1.5) for row in block.reshape(-1, 5)]
                             ).reshape(block.shape), 1e-15)
empty = ref.entmax_threshold(np.zeros((2, 3)), 1.5, visible=np.array([[1, 0, 1], [0, 0, 0]], bool))
report.expect(np.isfinite(empty[0]) and empty[1] == np.inf, "empty row", f"thresholds {empty}")


# --- attention against a per-element loop ------------------------------------


def loop_attention(q, k, v, normalizer, alpha, causal, mask, query_lengths, key_lengths,
                   bias, tau, scale):
    """Literal transcription of docs/design/semantics.md, one row at a time."""
    batch, heads, nq, head_dim = q.shape
    kv_heads, nk = k.shape[1], k.shape[2]
    scale = 1.0 / math.sqrt(head_dim) if scale is None else scale
    out = np.zeros(q.shape[:3] + v.shape[3:])
    stats = np.zeros(q.shape[:3])
    for b, h, i in itertools.product(range(batch), range(heads), range(nq)):
        lq = nq if query_lengths is None else min(max(int(query_lengths[b]), 0), nq)
        lk = nk if key_lengths is None else min(max(int(key_lengths[b]), 0), nk)
        pos = i + lk - lq
        kv = h // (heads // kv_heads)
        keys, scores = [], []
        for j in range(nk):
            if i >= lq or j >= lk or (causal and j > pos):
                continue
            if mask is not None and not mask[0 if mask.shape[0] == 1 else b,
                                             0 if mask.shape[1] == 1 else h, i, j]:
                continue
            s = scale * float(np.dot(q[b, h, i], k[b, kv, j]))
            if bias is not None and 0 <= pos - j < bias.shape[1]:
                s += bias[h, pos - j]
            keys.append(j)
            scores.append(s)
        if not keys:
            stats[b, h, i] = math.inf if normalizer == "entmax" else -math.inf
            continue
        if normalizer == "entmax":
            x = [(alpha - 1.0) * s for s in scores]
            threshold = plain_bisection_threshold(x, alpha)
            weights = [max(xi - threshold, 0.0) ** (1.0 / (alpha - 1.0)) for xi in x]
            stats[b, h, i] = threshold
        else:
            top = max(scores)
            total = sum(math.exp(s - top) for s in scores)
            weights = [math.exp(s - top) / total for s in scores]
            stats[b, h, i] = top + math.log(total)
            if normalizer == "elastic_softmax":
                weights = [max(0.0, w + tau[h] / (pos + 1)) for w in weights]
        for j, w in zip(keys, weights):
            out[b, h, i] += w * v[b, kv, j]
    return out, stats


for trial in range(12):
    normalizer = ["softmax", "entmax", "elastic_softmax"][trial % 3]
    batch, kv_heads, group = int(rng.integers(1, 4)), int(rng.integers(1, 3)), [1, 2, 4][trial % 3]
    heads = kv_heads * group
    nq, nk = int(rng.integers(1, 12)), int(rng.integers(1, 12))
    q, k, v = testing.random_attention_operands(rng, batch, heads, kv_heads, nq, nk, 4, 3)
    which = ["both", "query", "key", None][trial % 4]
    query_lengths, key_lengths = (testing.random_varlen(rng, batch, nq, nk, which)
                                  if which else (None, None))
    options = dict(
        normalizer=normalizer, alpha=[1.25, 1.5, 2.0, 3.0][trial % 4] if normalizer == "entmax" else None,
        causal=normalizer == "elastic_softmax" or trial % 2 == 0,
        mask=rng.random((1 if trial % 2 else batch, 1 if trial % 4 < 2 else heads, nq, nk)) < 0.7,
        query_lengths=query_lengths, key_lengths=key_lengths,
        bias=rng.standard_normal((heads, int(rng.integers(1, 15)))) if trial % 2 else None,
        tau=rng.uniform(-2, 0.5, heads) if normalizer == "elastic_softmax" else None,
        scale=None if trial % 3 else 0.3)
    label = f"attention loop trial {trial} ({normalizer})"
    expected_out, expected_stats = loop_attention(q, k, v, **options)
    out, stats = ref.attention(q, k, v, **options)
    report.expect_close(label, "output", out, expected_out, 1e-12)
    report.expect_statistics(label, "statistics", stats, expected_stats, 1e-12)
    report.expect(np.all(out[stats == (np.inf if normalizer == "entmax" else -np.inf)] == 0),
                  label, "empty rows are not zero")

# The causal flag equals the causal mask when there is no varlen.
q, k, v = testing.random_attention_operands(rng, 2, 4, 2, 13, 13, 8)
for nq in (7, 13):
    for nk in (5, 13):
        qs, ks, vs = q[:, :, :nq], np.resize(k, (2, 2, nk, 8)), np.resize(v, (2, 2, nk, 8))
        flagged = ref.attention(qs, ks, vs, causal=True)[0]
        masked = ref.attention(qs, ks, vs, mask=ref.causal_mask(1, 1, nq, nk))[0]
        report.expect_close(f"causal flag vs mask {nq}x{nk}", "output", flagged, masked, 1e-15)


# --- masks --------------------------------------------------------------------

report.expect(np.array_equal(ref.streaming_mask(1, 1, 9, 9, 0, 100), ref.causal_mask(1, 1, 9, 9)),
              "streaming", "sink 0 and a window past N must be causal")
report.expect(np.array_equal(ref.streaming_mask(1, 1, 5, 9, 0, 1)[0, 0],
                             np.eye(5, 9, k=4, dtype=bool)),
              "streaming", "window 1 must be the (bottom-right) diagonal")
report.expect(np.allclose(ref.block_density(ref.causal_mask(1, 2, 64, 64), 16, 16), 10 / 16),
              "density", "causal 4x4 blocks must have density 10/16")

for trial in range(20):
    batch, heads = int(rng.integers(1, 3)), int(rng.integers(1, 3))
    block_q, block_k = int(rng.choice([4, 8, 16])), int(rng.choice([4, 8, 16]))
    nq, nk = int(rng.integers(1, 50)), int(rng.integers(1, 50))
    qb, kb = -(-nq // block_q), -(-nk // block_k)
    counts = rng.integers(-1, kb + 3, size=(batch, heads, qb))
    indices = rng.integers(-2, kb + 2, size=(batch, heads, qb, kb))
    label = f"from/to indices trial {trial} {nq}x{nk}/{block_q}x{block_k}"
    mask = ref.mask_from_indices(counts, indices, nq, nk, block_q, block_k)
    # Literal reading of the listing.
    listed = np.zeros((batch, heads, qb, kb), bool)
    for b, h, i in itertools.product(range(batch), range(heads), range(qb)):
        for s in range(min(max(counts[b, h, i], 0), kb)):
            if 0 <= indices[b, h, i, s] < kb:
                listed[b, h, i, indices[b, h, i, s]] = True
    partial_n, partial_i, full_n, full_i = ref.mask_to_indices(mask, block_q, block_k)
    report.expect(np.all(partial_n == 0), label, "from_indices blocks are whole: none partial")
    report.expect_equal(label, "full counts", full_n, listed.sum(-1))
    for b, h, i in itertools.product(range(batch), range(heads), range(qb)):
        row = np.flatnonzero(listed[b, h, i])
        expected = np.concatenate([row, np.zeros(kb - len(row), int)])
        report.expect_equal(label, f"full indices {b},{h},{i}", full_i[b, h, i], expected)
    # Back again from the indices (partial as the main pair, full as the full pair):
    # every non-empty block of m becomes a full block.
    tokens = rng.random((batch, heads, nq, nk)) < 0.2
    tokens[..., : nq // 2, :] = ref.causal_mask(batch, heads, nq, nk)[..., : nq // 2, :]
    listing = ref.mask_to_indices(tokens, block_q, block_k)
    again = ref.mask_from_indices(listing[0], listing[1], nq, nk, block_q, block_k,
                                  listing[2], listing[3])
    report.expect(np.all(again >= tokens), label, "from_indices(to_indices(m)) must cover m")
    relisted = ref.mask_to_indices(again, block_q, block_k)
    report.expect_equal(label, "re-listed partial", relisted[0], 0 * listing[0])
    report.expect_equal(label, "re-listed full", relisted[2], listing[0] + listing[2])
    occupied = np.zeros((batch, heads, qb, kb))
    for b, h, i, j in itertools.product(range(batch), range(heads), range(qb), range(kb)):
        occupied[b, h, i, j] = tokens[b, h, i * block_q:(i + 1) * block_q,
                                      j * block_k:(j + 1) * block_k].any()
    report.expect_close(label, "density", ref.block_density(tokens, block_q, block_k),
                        occupied.mean(axis=(2, 3)), 1e-15)

lhs = rng.random((1, 3, 5, 6)) < 0.5
rhs = rng.random((2, 1, 5, 6)) < 0.5
union, intersection = ref.mask_union(lhs, rhs), ref.mask_intersect(lhs, rhs)
report.expect(union.shape == (2, 3, 5, 6) and np.array_equal(union[1, 2], lhs[0, 2] | rhs[1, 0])
              and np.array_equal(intersection[1, 2], lhs[0, 2] & rhs[1, 0]),
              "union/intersect", "broadcast of batch and head extents of 1")


# --- bf16 rounding against float64 arithmetic ---------------------------------

bits = rng.integers(0, 2**32, size=200000, dtype=np.uint64).astype(np.uint32)
values = bits.view(np.float32)
values = values[np.isfinite(values)]
rounded = ref.round_to_bf16(values).astype(np.float64)
exact = values.astype(np.float64)
down = (values.view(np.uint32) & 0xFFFF0000).view(np.float32).astype(np.float64)
up_bits = (values.view(np.uint32).astype(np.uint64) & 0xFFFF0000) + 0x10000
up = up_bits.astype(np.uint32).view(np.float32).astype(np.float64)
# Past the largest bf16 the next step is 2^128 (rounding there gives infinity).
up_value = np.where(np.isinf(up), np.copysign(2.0**128, up), up)
distance_down, distance_up = np.abs(exact - down), np.abs(up_value - exact)
even_down = ((values.view(np.uint32) >> 16) & 1) == 0
expected = np.where(distance_down < distance_up, down,
                    np.where(distance_up < distance_down, up, np.where(even_down, down, up)))
report.expect(np.array_equal(rounded, expected), "bf16",
              f"{np.count_nonzero(rounded != expected)} values not rounded to nearest even")


# --- emitted MLIR verifies ----------------------------------------------------

opt = os.environ.get("SPARSE_ATTN_OPT")
if opt:
    function = testing.Function("emitted")
    q, k, v = testing.random_attention_operands(rng, 2, 8, 2, 9, 11, 4, 3)
    mask = testing.MaskIntersect(
        testing.MaskUnion(testing.StreamingMask((1, 8, 9, 11), (4, 8), 2, 3),
                          testing.IndexMask((2, 1, 9, 11), (4, 8), np.ones((2, 1, 3)),
                                            np.zeros((2, 1, 3, 2)), np.ones((2, 1, 3)),
                                            np.ones((2, 1, 3, 2)))),
        testing.CausalMask((1, 1, 9, 11), (4, 8)))
    for normalizer, element_type in (("softmax", "f32"), ("entmax", "bf16"),
                                     ("elastic_softmax", "f16")):
        testing.AttentionCase(q, k, v, element_type, normalizer,
                              alpha=1.5 if normalizer == "entmax" else None,
                              causal=True, mask=mask, query_lengths=np.array([3, 9]),
                              key_lengths=np.array([0, 11]), bias=np.ones((8, 4)),
                              tau=-np.ones(8) if normalizer == "elastic_softmax" else None,
                              scale=0.3, statistics=True).emit(function)
    testing.EntmaxCase(np.zeros((2, 3, 4)), 1.25, "bf16").emit(function)
    testing.emit_mask_to_indices(function, testing.DenseMask((1, 1, 9, 11), (4, 8)))
    testing.emit_mask_to_indices(function, testing.RoundTripMask(testing.IndexMask(
        (1, 1, 9, 11), (4, 8), np.ones((1, 1, 3)), np.zeros((1, 1, 3, 2)))))
    completed = subprocess.run([opt, "-"], input=function.text(), capture_output=True, text=True)
    report.expect(completed.returncode == 0, "emitter",
                  f"emitted MLIR does not verify:\n{function.text()}\n{completed.stderr}")

report.finish()
