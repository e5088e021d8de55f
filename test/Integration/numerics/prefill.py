# Per-head routing and the prefill op against the float64 references:
# mask_route_heads with the kinds 0 (dense), -1 (streaming), 1 and 2 (an
# XAttention and a vertical-slash mask) and an unknown kind (sees nothing),
# DuoAttention-style retrieval and streaming heads under causal attention;
# sparse_attn.prefill with each pattern (xattention with per-head thresholds,
# flexprefill, minference with per-head budgets, full), GQA, batch > 1,
# varlen, an explicit scale and block size, a mask operand, the log-sum-exp
# statistic. The prefill output must equal dense attention under the
# reference estimate of its pattern.
#
# RUN: %python %s %t

import sys

import numpy as np

import sparse_attn_prefill_testing as prefill_testing
import sparse_attn_testing as testing

SEED = testing.test_seed(8484)
rng = np.random.default_rng(SEED)
report = testing.Report("prefill", SEED)


def routed_case(rng):
    batch, kv_heads, group, nq, nk = 2, 2, 3, 29, 37
    heads = kv_heads * group
    q, k, v = testing.random_attention_operands(rng, batch, heads, kv_heads, nq, nk, 8)
    block = (8, 8)
    shape = (batch, heads, nq, nk)
    streaming = testing.StreamingMask((1, 1, nq, nk), block, sink=2, window=5)
    xattention = prefill_testing.XAttentionMask(q, k, block, 4, threshold=0.7)
    vertical_slash = prefill_testing.VerticalSlashMask(q, k, block, 5, 4, 8, 2, 2)
    mask = prefill_testing.RouteHeadsMask([0, -1, 1, 2, 5, -1], shape, block, streaming,
                                          [xattention, vertical_slash])
    return testing.AttentionCase(q, k, v, causal=True, mask=mask, statistics=True)


def prefill_case(pattern, batch=1, kv_heads=1, group=2, varlen=None, block=8, statistics=False,
                 mask=False, scale=None, element_type="f32"):
    def make(rng):
        nk = testing.odd_length(rng, 33, 61)
        nq = nk if varlen is None else testing.odd_length(rng, 9, nk)
        heads = kv_heads * group
        q, k, v = testing.random_attention_operands(rng, batch, heads, kv_heads, nq, nk, 8)
        q = 3.0 * q
        query_lengths, key_lengths = (testing.random_varlen(rng, batch, nq, nk, varlen)
                                      if varlen else (None, None))
        options = dict(element_type=element_type, query_lengths=query_lengths,
                       key_lengths=key_lengths, scale=scale)
        square = (block, block)
        if pattern == "xattention":
            thresholds = rng.uniform(0.6, 0.9, heads)
            estimator = prefill_testing.XAttentionMask(q, k, square, 4, thresholds=thresholds,
                                                       **options)
            text = "xattention<stride = 4>"
        elif pattern == "flexprefill":
            estimator = prefill_testing.FlexPrefillMask(q, k, block, gamma=0.8, tau=0.2,
                                                        min_budget=block, **options)
            text = f"flexprefill<gamma = 0.8, tau = 0.2, min_budget = {block}>"
        elif pattern == "minference":
            budgets = rng.integers(2, 12, size=(heads, 2))
            estimator = prefill_testing.VerticalSlashMask(q, k, square, None, None, 16, 3, 3,
                                                          budgets=budgets, **options)
            text = "minference<last_queries = 16, sink = 3, local = 3>"
        else:
            estimator, text = None, "full"
        given = (testing.StreamingMask((1, 1, nq, nk), square, sink=4, window=nk // 2)
                 if mask else None)
        return prefill_testing.PrefillCase(
            text, q, k, v, estimator=estimator, mask=given,
            block=None if pattern == "full" else block, element_type=element_type,
            statistics=statistics)

    return prefill_testing.conditioned(rng, make)


def check(case, results):
    if isinstance(case, prefill_testing.PrefillCase):
        prefill_testing.check_prefill(report, case, results)
    else:
        testing.check_attention(report, case, results)


groups = {
    "route-heads": [prefill_testing.conditioned(rng, routed_case)],
    "prefill-xattention": [prefill_case("xattention", batch=2, kv_heads=2, statistics=True),
                           prefill_case("xattention", varlen="both", batch=2, mask=True)],
    "prefill-flexprefill": [prefill_case("flexprefill", group=4, scale=0.25),
                            prefill_case("flexprefill", batch=2, varlen="key", block=16)],
    "prefill-minference": [prefill_case("minference", kv_heads=2, mask=True, statistics=True),
                           prefill_case("minference", batch=2, varlen="query",
                                        element_type="bf16")],
    "prefill-full": [prefill_case("full", batch=2, mask=True, statistics=True)],
}
functions = {tag: testing.function_of(tag, cases) for tag, cases in groups.items()}
report.run(sys.argv[1], functions, check)
report.finish()
