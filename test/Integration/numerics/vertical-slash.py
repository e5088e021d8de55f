# sparse_attn.vertical_slash_mask against the float64 reference of
# MInference's vertical-slash estimate (ALGORITHMS.md section 7): kept
# column and diagonal counts below, around and above the forced sink and
# local band, the last-queries window shorter and longer than the sequence,
# per-head budgets (a negative one counts as zero), GQA, batch > 1, varlen
# with an empty sequence and clamped lengths, Nq < Nk and Nq > Nk, blocks
# that columns and diagonals cross. Per case: identical token-level
# visibility (the mask is exact, not block-level), its block classification
# (mask_to_indices), and attention under the mask equal to dense masked
# attention. Inputs are redrawn while a kept column or diagonal lies within
# sparse_attn_prefill_testing.MARGIN of the first dropped one.
#
# RUN: %python %s %t

import sys

import numpy as np

import sparse_attn_prefill_testing as prefill_testing
import sparse_attn_testing as testing

SEED = testing.test_seed(7373)
rng = np.random.default_rng(SEED)
report = testing.Report("vertical-slash", SEED)


def draw(batch=1, kv_heads=1, group=2, lengths="=", varlen=None, per_head=False,
         block=(16, 16), last_queries=8, sink=3, local=4, sizes=(8, 6)):
    def make(rng):
        q, k, v, valid_lengths = testing.random_case_operands(
            rng, (25, 61), lengths, shorter=(3, 4), longer=20, batch=batch, kv_heads=kv_heads,
            group=group, varlen=varlen)
        budgets = rng.integers(-1, 14, size=(kv_heads * group, 2)) if per_head else None
        mask = prefill_testing.VerticalSlashMask(
            2.0 * q, k, block, sizes[0], sizes[1], last_queries, sink, local, budgets=budgets,
            **valid_lengths)
        return prefill_testing.EstimatorCase(mask, v)

    return prefill_testing.conditioned(rng, make)


groups = {
    "plain": [draw(), draw(sizes=(2, 1), sink=4, local=6, block=(8, 16))],
    "wide": [draw(sizes=(20, 30), last_queries=64, lengths="<", block=(8, 8))],
    "per-head": [draw(per_head=True, kv_heads=2, group=2, block=(16, 8))],
    "batch-gqa": [draw(batch=2, kv_heads=2, group=4, sink=0, local=1, last_queries=1)],
    "offsets": [draw(lengths=">", sizes=(4, 4)), draw(lengths="<", sink=0, local=0)],
    "varlen": [draw(batch=3, varlen="both", lengths="<", per_head=True)],
}
testing.run_attention_groups(
    report, sys.argv[1], groups,
    lambda case, results: prefill_testing.check_estimator(report, case, results))
report.finish()
