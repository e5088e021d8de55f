# sparse_attn.select_blocks against the float64 references of XAttention
# (ALGORITHMS.md section 5) and FlexPrefill (section 6): the index lists
# (counts and ascending block indices) equal the reference's selected blocks
# exactly, every XAttention query block row reaches its threshold mass, and
# FlexPrefill's pattern decision of every head is the reference's. Covers
# what the estimators' own tests reach only through attention: varlen
# lengths (empty and clamped sequences) with the lists read directly, GQA,
# batch > 1, Nq != Nk, strides 2 to 8, square and non-square blocks, per-head
# thresholds, causal and not, bf16. Inputs are redrawn while a decision of
# the reference lies within sparse_attn_prefill_testing.MARGIN of a tie.
#
# RUN: %python %s %t

import sys

import numpy as np

import sparse_attn_prefill_testing as prefill_testing
import sparse_attn_testing as testing

SEED = testing.test_seed(7373)
rng = np.random.default_rng(SEED)
report = testing.Report("select-blocks", SEED)


def xattention(batch=1, kv_heads=1, group=1, lengths="=", varlen=None, causal=True,
               block=(16, 16), stride=4, per_head=False, element_type="f32"):
    def make(rng):
        q, k, _, options = testing.random_case_operands(
            rng, (21, 61), lengths, batch=batch, kv_heads=kv_heads, group=group, varlen=varlen)
        heads = kv_heads * group
        return prefill_testing.SelectBlocksCase(prefill_testing.XAttentionMask(
            q, k, block, stride, causal=causal, element_type=element_type,
            threshold=None if per_head else float(rng.choice([0.5, 0.8, 0.95])),
            thresholds=rng.uniform(0.5, 0.95, heads) if per_head else None, **options))

    return prefill_testing.conditioned(rng, make)


def flexprefill(block=8, batch=1, kv_heads=1, group=2, lengths="=", varlen=None, tau=0.15):
    def make(rng):
        q, k, _, options = testing.random_case_operands(
            rng, (2 * block + 1, 8 * block), lengths, batch=batch, kv_heads=kv_heads, group=group,
            varlen=varlen)
        return prefill_testing.SelectBlocksCase(prefill_testing.FlexPrefillMask(
            3.0 * q, k, block, tau=tau, min_budget=block, **options))

    return prefill_testing.conditioned(rng, make)


groups = {
    "xattention": [xattention(), xattention(stride=8, block=(8, 16), lengths="<"),
                   xattention(causal=False, lengths=">", group=2)],
    "xattention-gqa-batch": [xattention(batch=2, kv_heads=2, group=2, per_head=True,
                                        block=(8, 8), stride=2)],
    "xattention-varlen": [xattention(batch=3, group=2, varlen="both", lengths="<",
                                     per_head=True),
                          xattention(batch=2, varlen="key", lengths=">", block=(8, 16),
                                     stride=2),
                          xattention(batch=2, varlen="query", causal=False, block=(8, 8))],
    "xattention-bf16": [xattention(element_type="bf16", group=4, lengths=">")],
    "flexprefill": [flexprefill(tau=0.0), flexprefill(tau=1.0, block=16),
                    flexprefill(batch=2, kv_heads=2, tau=0.2, lengths="<")],
    "flexprefill-varlen": [flexprefill(batch=3, varlen="both", tau=0.2, lengths="<")],
}
testing.run_attention_groups(
    report, sys.argv[1], groups,
    lambda case, results: prefill_testing.check_select_blocks(report, case, results))
report.finish()
