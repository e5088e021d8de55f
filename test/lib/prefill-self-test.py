# Self-consistency checks of the float64 prefill references
# (sparse_attn_prefill_reference) against literal per-element transcriptions
# of docs/design/semantics.md and against the properties the methods
# promise: XAttention rows reach their threshold mass with a minimal prefix,
# budgets and top-k counts, forced sink / own-position / local entries, the
# Jensen-Shannon switch, GQA without copies equal to repeated K, batch
# entries independent, varlen equal to the truncated sequences.
#
# RUN: %python %s

import itertools
import math

import numpy as np

import sparse_attn_prefill_reference as prefill
import sparse_attn_reference as ref
import sparse_attn_testing as testing

SEED = testing.test_seed(31337)
rng = np.random.default_rng(SEED)
report = testing.Report("prefill-self-test", SEED)


def operands(batch, heads, kv_heads, nq, nk, head_dim):
    q, k, _ = testing.random_attention_operands(rng, batch, heads, kv_heads, nq, nk, head_dim)
    return q, k


# --- XAttention ---------------------------------------------------------------


def loop_antidiagonal(q, k, stride, lq, lk, scale):
    groups_q, groups_k = -(-lq // stride), -(-lk // stride)
    z = np.zeros((groups_q, groups_k))
    for a, c, t in itertools.product(range(groups_q), range(groups_k), range(stride)):
        i, j = stride * a + stride - 1 - t, stride * c + t
        if i < lq and j < lk:
            z[a, c] += float(np.dot(q[i], k[j]))
    return z * scale / stride


for trial in range(6):
    stride = [2, 4, 8][trial % 3]
    nq, nk = int(rng.integers(1, 40)), int(rng.integers(1, 40))
    q, k = operands(1, 2, 1, nq, nk, 4)
    lengths = (np.array([max(1, nq - 3)]), np.array([max(1, nk - 5)])) if trial % 2 else (None, None)
    head = prefill._Head(q, k, 0, 1, nq, nk, *lengths, None)
    report.expect_close(f"antidiagonal trial {trial}", "z", prefill.antidiagonal_scores(head, stride),
                        loop_antidiagonal(q[0, 1], k[0, 0], stride, head.lq, head.lk, 0.5), 1e-13)


def literal_xattention(q, k, block, stride, theta, causal, lq, lk):
    """One head, loops over groups and blocks, selection as a while loop."""
    scale = 1.0 / math.sqrt(q.shape[1])
    z = loop_antidiagonal(q, k, stride, lq, lk, scale)
    off = lk - lq
    groups_q, groups_k = z.shape
    p = np.zeros_like(z)
    for a in range(groups_q):
        last = min(stride * a + stride, lq) - 1
        cols = [c for c in range(groups_k) if not causal or stride * c <= last + off]
        if cols:
            e = np.exp(z[a, cols] - z[a, cols].max())
            p[a, cols] = e / e.sum()
    qb, kb = -(-lq // block[0]), -(-lk // block[1])
    mass = np.zeros((qb, kb))
    for a, c in itertools.product(range(groups_q), range(groups_k)):
        mass[stride * a // block[0], stride * c // block[1]] += p[a, c]
    selected = np.zeros((qb, kb), bool)
    for row in range(qb):
        first, last = row * block[0] + off, min((row + 1) * block[0], lq) - 1 + off
        forced = {0} | (set(range(max(first, 0) // block[1], last // block[1] + 1)) if last >= 0 else set())
        forced &= set(range(kb))
        kept = sum(mass[row, j] for j in forced)
        rest = sorted(set(range(kb)) - forced, key=lambda j: (-mass[row, j], j))
        for j in forced:
            selected[row, j] = True
        while rest and kept < theta * mass[row].sum():
            j = rest.pop(0)
            selected[row, j] = True
            kept += mass[row, j]
    return mass, selected


for trial in range(10):
    block = [(8, 8), (16, 8), (8, 16), (4, 4)][trial % 4]
    stride = [2, 4][trial % 2]
    causal = trial % 3 != 2
    nq, nk = int(rng.integers(1, 70)), int(rng.integers(1, 70))
    batch, kv_heads, group = 2, 2, 2
    q, k = operands(batch, kv_heads * group, kv_heads, nq, nk, 8)
    query_lengths = rng.integers(0, nq + 2, batch) if trial % 2 else None
    key_lengths = rng.integers(0, nk + 2, batch) if trial % 4 == 1 else None
    thresholds = rng.uniform(0.5, 1.0, kv_heads * group)
    estimate = prefill.xattention_mask(q, k, block, stride=stride, thresholds=thresholds,
                                       causal=causal, query_lengths=query_lengths,
                                       key_lengths=key_lengths)
    label = f"xattention trial {trial} {nq}x{nk} block {block} stride {stride} causal {causal}"
    for b, h in itertools.product(range(batch), range(kv_heads * group)):
        lq = nq if query_lengths is None else min(max(int(query_lengths[b]), 0), nq)
        lk = nk if key_lengths is None else min(max(int(key_lengths[b]), 0), nk)
        mass, selected = literal_xattention(q[b, h], k[b, h // group], block, stride,
                                            thresholds[h], causal, lq, lk)
        detail = estimate.detail[(b, h)]
        report.expect_close(label, f"mass b{b}h{h}", detail["mass"], mass, 1e-12)
        report.expect_equal(label, f"selection b{b}h{h}", detail["selected"], selected)
        totals = mass.sum(axis=1)
        complete = selected.all(axis=1)
        reached = detail["reached"] >= thresholds[h] * totals * (1 - 1e-12)
        report.expect(np.all(reached | complete), label, f"b{b}h{h}: a row misses its threshold mass")
        # Minimal: dropping the smallest selected non-forced block falls short.
        visible = estimate.visible[b, h]
        report.expect(not visible[lq:].any() and not visible[:, lk:].any(), label,
                      "pairs outside the valid region")
        if causal:
            report.expect(not np.any(np.triu(visible, k=lk - lq + 1)), label, "non-causal pair")

# Varlen equals the truncated sequence; GQA equals repeated keys; batch
# entries are independent.
q, k = operands(2, 4, 2, 37, 53, 8)
lengths_q, lengths_k = np.array([30, 37]), np.array([41, 10])
full = prefill.xattention_mask(q, k, (8, 8), stride=4, threshold=0.8,
                               query_lengths=lengths_q, key_lengths=lengths_k)
repeated = prefill.xattention_mask(q, np.repeat(k, 2, axis=1), (8, 8), stride=4, threshold=0.8,
                                   query_lengths=lengths_q, key_lengths=lengths_k)
report.expect_equal("xattention GQA", "mask", full.visible, repeated.visible)
for b in range(2):
    alone = prefill.xattention_mask(q[b:b + 1, :, :lengths_q[b]], k[b:b + 1, :, :lengths_k[b]],
                                    (8, 8), stride=4, threshold=0.8)
    report.expect_equal(f"xattention varlen b{b}", "mask",
                        full.visible[b, :, :lengths_q[b], :lengths_k[b]], alone.visible[0])
    report.expect(not full.visible[b, :, lengths_q[b]:].any(), f"xattention varlen b{b}",
                  "padded rows see keys")


# --- FlexPrefill ----------------------------------------------------------------

for trial in range(20):
    values = rng.dirichlet(np.ones(int(rng.integers(1, 30))))
    gamma = float(rng.uniform(0.1, 1.0))
    count, _ = prefill.coverage_count(values, gamma)
    ordered = sorted(values, reverse=True)
    expected = 1 + sum(1 for r in range(len(ordered)) if sum(ordered[: r + 1]) <= gamma)
    report.expect(count == expected, f"coverage trial {trial}", f"{count} != {expected}")

p = rng.dirichlet(np.ones(7))
report.expect(prefill.jensen_shannon_distance(p, p) == 0.0, "jsd", "identical distributions")
report.expect(abs(prefill.jensen_shannon_distance(np.eye(2)[0], np.eye(2)[1]) - math.sqrt(math.log(2)))
              < 1e-15, "jsd", "disjoint distributions reach sqrt(ln 2)")
other = rng.dirichlet(np.ones(7))
report.expect(abs(prefill.jensen_shannon_distance(p, other) - prefill.jensen_shannon_distance(other, p))
              < 1e-15, "jsd", "symmetry")


def literal_profiles(q, k, block, lq, lk):
    """vertical and slash of one head with loops over rows and keys."""
    off, n = lk - lq, min(block, lq)
    scale = 1.0 / math.sqrt(q.shape[1])
    vertical, slash = np.zeros(lk), np.zeros(lk)
    for i in range(lq - n, lq):
        keys = [j for j in range(lk) if j <= i + off]
        if not keys:
            continue
        s = np.array([scale * np.dot(q[i], k[j]) for j in keys])
        w = np.exp(s - s.max()) / np.exp(s - s.max()).sum()
        for j, weight in zip(keys, w):
            vertical[j] += weight / n
            slash[i + off - j] += weight / n
    return vertical, slash


for trial in range(8):
    block = [8, 16][trial % 2]
    nq, nk = int(rng.integers(20, 90)), int(rng.integers(40, 90))
    q, k = operands(1, 2, 1, nq, nk, 8)
    tau = [0.0, 1.0, 0.1, 0.2][trial % 4]
    estimate = prefill.flexprefill_mask(q, k, block, gamma=0.8, tau=tau, min_budget=block,
                                        max_budget=None if trial % 3 else 3 * block)
    label = f"flexprefill trial {trial} {nq}x{nk} block {block} tau {tau}"
    for h in range(2):
        detail = estimate.detail[(0, h)]
        pattern = detail["pattern"]
        if nk <= 2 * block:
            report.expect(pattern == prefill.DENSE, label, "short sequences are dense")
            continue
        vertical, slash = literal_profiles(q[0, h], k[0, 0], block, nq, nk)
        report.expect_close(label, "vertical", detail["vertical"], vertical, 1e-13)
        report.expect_close(label, "slash", detail["slash"], slash, 1e-13)
        report.expect(abs(vertical.sum() - 1) < 1e-12, label, "vertical is a distribution")
        if tau == 0.0:
            report.expect(pattern == prefill.VERTICAL_SLASH, label, "tau 0 is never query-aware")
        if tau == 1.0:
            report.expect(pattern == prefill.QUERY_AWARE, label, "tau 1 is always query-aware")
        selected = detail["selected"]
        report.expect(selected[:, 0].all(), label, "sink block missing")
        off = nk - nq
        for row in range(selected.shape[0]):
            last = min((row + 1) * block, nq) - 1 + off
            if last >= 0:
                report.expect(selected[row, last // block], label, "own-position block missing")
        kv, ks = detail["budgets"]
        report.expect(len(detail["chosen_v"]) == min(kv, selected.shape[1]) and
                      len(detail["chosen_s"]) == min(ks, selected.shape[1]), label,
                      "budgets not met")

q, k = operands(2, 4, 2, 70, 70, 8)
gqa = prefill.flexprefill_mask(q, k, 8, gamma=0.9, tau=0.1, min_budget=8)
repeated = prefill.flexprefill_mask(q, np.repeat(k, 2, axis=1), 8, gamma=0.9, tau=0.1, min_budget=8)
report.expect_equal("flexprefill GQA", "mask", gqa.visible, repeated.visible)
report.expect_equal("flexprefill GQA", "patterns", gqa.patterns, repeated.patterns)
lengths = np.array([70, 51])
varlen = prefill.flexprefill_mask(q, k, 8, gamma=0.9, tau=0.1, min_budget=8,
                                  query_lengths=lengths, key_lengths=lengths)
alone = prefill.flexprefill_mask(q[1:, :, :51], k[1:, :, :51], 8, gamma=0.9, tau=0.1, min_budget=8)
report.expect_equal("flexprefill varlen", "mask", varlen.visible[1, :, :51, :51], alone.visible[0])
report.expect_equal("flexprefill batch", "mask", varlen.visible[0], gqa.visible[0])


# --- vertical-slash ---------------------------------------------------------------


def literal_vertical_slash(q, k, v_size, s_size, last_queries, sink, local, lq, lk):
    off = lk - lq
    scale = 1.0 / math.sqrt(q.shape[1])
    vertical, slash = np.zeros(lk), np.zeros(lk)
    for i in range(lq - min(last_queries, lq), lq):
        keys = [j for j in range(lk) if j <= i + off]
        if keys:
            s = np.array([scale * np.dot(q[i], k[j]) for j in keys])
            w = np.exp(s - s.max()) / np.exp(s - s.max()).sum()
            for j, weight in zip(keys, w):
                vertical[j] += weight
                slash[i + off - j] += weight

    def keep(values, size, forced):
        rest = sorted(set(range(lk)) - forced, key=lambda x: (-values[x], x))
        return forced | set(rest[: max(0, size - len(forced))])

    columns = keep(vertical, v_size, set(range(min(sink, lk))))
    offsets = keep(slash, s_size, set(range(min(local, lk))))
    mask = np.zeros((q.shape[0], k.shape[0]), bool)
    for i, j in itertools.product(range(lq), range(lk)):
        mask[i, j] = j <= i + off and (j in columns or i + off - j in offsets)
    return mask


for trial in range(8):
    nq, nk = int(rng.integers(1, 50)), int(rng.integers(1, 50))
    q, k = operands(2, 2, 1, nq, nk, 4)
    sizes = dict(vertical_size=int(rng.integers(0, 12)), slash_size=int(rng.integers(0, 12)),
                 last_queries=int(rng.integers(1, 20)), sink=int(rng.integers(0, 5)),
                 local=int(rng.integers(0, 5)))
    budgets = rng.integers(-2, 12, size=(2, 2)) if trial % 2 else None
    lengths = rng.integers(0, max(nq, nk) + 2, size=2) if trial % 3 == 1 else None
    estimate = prefill.vertical_slash_mask(q, k, budgets=budgets, query_lengths=lengths,
                                           key_lengths=lengths, **sizes)
    for b, h in itertools.product(range(2), range(2)):
        lq = nq if lengths is None else min(max(int(lengths[b]), 0), nq)
        lk = nk if lengths is None else min(max(int(lengths[b]), 0), nk)
        v_size, s_size = ((sizes["vertical_size"], sizes["slash_size"]) if budgets is None
                          else (max(0, budgets[h][0]), max(0, budgets[h][1])))
        expected = literal_vertical_slash(q[b, h], k[b, 0], v_size, s_size, sizes["last_queries"],
                                          sizes["sink"], sizes["local"], lq, lk)
        report.expect_equal(f"vertical-slash trial {trial} b{b}h{h} {sizes}", "mask",
                            estimate.visible[b, h], expected)

q, k = operands(1, 1, 1, 20, 20, 4)
everything = prefill.vertical_slash_mask(q, k, vertical_size=20, slash_size=0, sink=0, local=0)
report.expect_equal("vertical-slash", "all columns is causal", everything.visible,
                    ref.causal_mask(1, 1, 20, 20))
band = prefill.vertical_slash_mask(q, k, vertical_size=0, slash_size=3, sink=0, local=3)
report.expect_equal("vertical-slash", "local band is a window", band.visible,
                    ref.streaming_mask(1, 1, 20, 20, 0, 3))


# --- head routing ----------------------------------------------------------------

shape = (2, 5, 9, 11)
streaming = ref.streaming_mask(1, 1, 9, 11, 2, 3)
first, second = rng.random((2, 5, 9, 11)) < 0.5, rng.random((1, 5, 9, 11)) < 0.5
routed = prefill.mask_route_heads(np.array([0, -1, 1, 2, 7]), shape, streaming, [first, second])
report.expect(routed[:, 0].all() and np.array_equal(routed[:, 1], np.broadcast_to(streaming[:, 0], (2, 9, 11)))
              and np.array_equal(routed[:, 2], first[:, 2])
              and np.array_equal(routed[:, 3], np.broadcast_to(second[:, 3], (2, 9, 11)))
              and not routed[:, 4].any(), "route heads", "kinds 0, -1, 1, 2 and an unknown kind")

report.finish()
