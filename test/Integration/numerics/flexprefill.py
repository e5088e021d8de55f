# sparse_attn.flexprefill_mask against the float64 reference of FlexPrefill
# (ALGORITHMS.md section 6): vertical-slash heads (tau 0), query-aware heads
# (tau 1), heads of both kinds in one op, short sequences (dense), budgets
# bounded by min_budget and max_budget, token budgets converted with the
# actual block size (8 and 16, not 128), GQA, batch > 1, varlen (one
# sequence short enough to be dense), Nq < Nk and Nq > Nk, sharp and diffuse
# attention. Per case: identical pattern decisions, identical block
# selection and token-level visibility, attention under the mask equal to
# dense masked attention. Inputs are redrawn while a decision of the
# reference lies within sparse_attn_prefill_testing.MARGIN of a tie.
#
# RUN: %python %s %t

import sys

import numpy as np

import sparse_attn_prefill_testing as prefill_testing
import sparse_attn_testing as testing

SEED = testing.test_seed(6262)
rng = np.random.default_rng(SEED)
report = testing.Report("flexprefill", SEED)


def draw(block=8, batch=1, kv_heads=1, group=2, lengths="=", varlen=None, tau=0.15,
         gamma=0.9, min_budget=None, max_budget=None, sharpness=3.0, short=False):
    min_budget = block if min_budget is None else min_budget

    def make(rng):
        low = max(2 * block, -(-min_budget // block) * block)
        q, k, v, valid_lengths = testing.random_case_operands(
            rng, (block + 1, low - 1) if short else (low + 1, low + 6 * block), lengths,
            shorter=(block + 1, 2), longer=2 * block, batch=batch, kv_heads=kv_heads, group=group,
            head_dims=(8, 16), varlen=varlen)
        mask = prefill_testing.FlexPrefillMask(
            sharpness * q, k, block, gamma=gamma, tau=tau, min_budget=min_budget,
            max_budget=max_budget, with_patterns=True, **valid_lengths)
        return prefill_testing.EstimatorCase(mask, v)

    return prefill_testing.conditioned(rng, make)


groups = {
    "vertical-slash": [draw(tau=0.0), draw(tau=0.0, gamma=0.5, block=16, sharpness=6.0)],
    "query-aware": [draw(tau=1.0, gamma=0.7), draw(tau=1.0, sharpness=1.0, block=16)],
    "mixed-gqa-batch": [draw(batch=2, kv_heads=2, group=2, tau=0.2)],
    "budgets": [draw(tau=0.0, min_budget=20, max_budget=24, gamma=0.95),
                draw(tau=1.0, min_budget=0, max_budget=8, block=16)],
    "offsets": [draw(lengths="<", tau=0.0), draw(lengths=">", tau=1.0, kv_heads=2, group=1)],
    "varlen": [draw(batch=3, varlen="both", tau=0.2, lengths="<")],
    "short": [draw(short=True), draw(short=True, block=16, batch=2, varlen="key")],
}
testing.run_attention_groups(
    report, sys.argv[1], groups,
    lambda case, results: prefill_testing.check_estimator(report, case, results))
report.finish()
