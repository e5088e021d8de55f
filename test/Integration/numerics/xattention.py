# sparse_attn.xattention_mask against the float64 reference of XAttention
# (ALGORITHMS.md section 5): strides 2, 4 and 8, square and non-square
# blocks, lengths that no block or stride divides, Nq < Nk and Nq > Nk,
# GQA, batch > 1, varlen with an empty sequence and clamped lengths, the
# threshold as an attribute or per head, causal and not, an explicit scale,
# bf16 inputs. Per case: identical block selection (mask_to_indices) and
# token-level visibility, attention under the mask equal to dense masked
# attention, and every query block row reaching its threshold mass.
# Inputs are redrawn while a decision of the reference lies within
# sparse_attn_prefill_testing.MARGIN of a tie.
#
# RUN: %python %s %t

import sys

import numpy as np

import sparse_attn_prefill_testing as prefill_testing
import sparse_attn_testing as testing

SEED = testing.test_seed(5151)
rng = np.random.default_rng(SEED)
report = testing.Report("xattention", SEED)


def draw(batch=1, kv_heads=1, group=1, lengths="=", varlen=None, causal=True, block=(16, 16),
         stride=4, per_head=False, element_type="f32", scale=None):
    def make(rng):
        q, k, v, valid_lengths = testing.random_case_operands(
            rng, (21, 61), lengths, batch=batch, kv_heads=kv_heads, group=group, varlen=varlen)
        threshold = None if per_head else float(rng.choice([0.5, 0.8, 0.95]))
        thresholds = rng.uniform(0.5, 0.95, kv_heads * group) if per_head else None
        mask = prefill_testing.XAttentionMask(
            q, k, block, stride, threshold=threshold, thresholds=thresholds, causal=causal,
            element_type=element_type, scale=scale, **valid_lengths)
        return prefill_testing.EstimatorCase(mask, v)

    return prefill_testing.conditioned(rng, make)


groups = {
    "plain": [draw(), draw(stride=8, block=(8, 16))],
    "gqa-batch": [draw(batch=2, kv_heads=2, group=2, per_head=True, block=(8, 8), stride=2)],
    "causal-offsets": [draw(lengths="<", block=(16, 8), stride=8),
                       draw(lengths=">", kv_heads=2, block=(8, 8))],
    "varlen": [draw(batch=3, group=2, varlen="both", lengths="<", per_head=True)],
    "varlen-key": [draw(batch=2, varlen="key", lengths=">", block=(8, 16), stride=2)],
    "non-causal": [draw(causal=False, lengths="<", group=2),
                   draw(causal=False, batch=2, varlen="query", block=(8, 8), scale=0.2)],
    "bf16": [draw(element_type="bf16", group=4, per_head=True, lengths=">")],
}
testing.run_attention_groups(
    report, sys.argv[1], groups,
    lambda case, results: prefill_testing.check_estimator(report, case, results))
report.finish()
