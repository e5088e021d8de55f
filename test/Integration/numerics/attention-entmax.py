# sparse_attn.attention entmax<alpha> against the float64 reference for alpha
# in {1.25, 1.5, 2, 3}: GQA, causal with Nq < Nk and Nq > Nk, varlen with an
# empty sequence, bias, block masks, threshold statistics (+inf for empty
# rows), f32 and bf16. Cases whose values are the identity matrix make the
# output the weight matrix itself: its rows must sum to one and be exactly
# zero outside the reference support.
#
# RUN: %python %s %t

import functools
import sys

import numpy as np

import sparse_attn_reference as ref
import sparse_attn_testing as testing

SEED = testing.test_seed(2002)
rng = np.random.default_rng(SEED)
report = testing.Report("attention-entmax", SEED)
draw = functools.partial(testing.draw_attention_case, rng, "entmax")


def check_weights(case, results):
    """Identity values: the output is the weight matrix."""
    testing.check_attention(report, case, results)
    options = dict(causal=case.causal, mask=None if case.mask is None else case.mask.visible(),
                   query_lengths=case.query_lengths, key_lengths=case.key_lengths)
    weights, threshold = ref.attention_weights(case.q, case.k, "entmax", case.alpha,
                                               bias=case.bias, scale=case.scale, **options)
    x = (case.alpha - 1.0) * ref.attention_scores(case.q, case.k, case.query_lengths,
                                                  case.key_lengths, case.bias, case.scale)
    visible = ref.attention_visibility(*x.shape, **options)
    with np.errstate(invalid="ignore"):  # inf - inf in empty rows
        gaps = np.where(visible, x - threshold[..., None], -np.inf)
    report.expect_entmax_weights(case, "weights", results[0], weights, gaps, case.tolerance)


testing.run_attention_groups(report, sys.argv[1], {
    "entmax-f32": [
        draw("f32", alpha=1.5),
        draw("f32", alpha=2.0, group=2, kv_heads=2, causal=True, lengths="<", varlen="both"),
        draw("f32", alpha=1.25, group=8, causal=True, lengths=">", varlen="query",
             bias="narrow"),
        draw("f32", alpha=3.0, group=2, lengths="<", mask="indices", varlen="key"),
        draw("f32", alpha=1.5, group=8, causal=True, lengths="<", mask="intersect", scale=0.5),
        draw("f32", alpha=2.0, kv_heads=2, lengths=">", mask="union", bias="wide"),
        draw("f32", alpha=3.0, batch=3, causal=True, mask="streaming", varlen="both"),
        draw("f32", alpha=1.25, group=2, lengths="<", mask="dense"),
    ],
    "entmax-bf16": [
        draw("bf16", alpha=1.5, group=8, causal=True, lengths="<", varlen="both",
             bias="narrow"),
        draw("bf16", alpha=2.0, group=2, lengths=">", mask="indices"),
        draw("bf16", alpha=3.0, kv_heads=2, causal=True, lengths=">", mask="union",
             varlen="query"),
        draw("bf16", alpha=1.25, group=2, causal=True, varlen="key"),
    ],
})
testing.run_attention_groups(report, sys.argv[1], {
    "entmax-weights": [
        draw("f32", alpha=1.25, causal=True, lengths=">", varlen="both", identity_values=True),
        draw("f32", alpha=1.5, group=2, lengths="<", identity_values=True),
        draw("f32", alpha=2.0, group=8, causal=True, varlen="key", identity_values=True),
        draw("f32", alpha=3.0, group=2, causal=True, lengths="<", identity_values=True),
        draw("bf16", alpha=1.5, group=2, causal=True, lengths="<", varlen="both",
             identity_values=True),
    ],
}, check_weights)
report.finish()
