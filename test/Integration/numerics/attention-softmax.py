# sparse_attn.attention softmax against the float64 reference: GQA (groups 1,
# 2, 8), causal with Nq < Nk and Nq > Nk, varlen with an empty sequence and
# clamped lengths, bias windows narrower and wider than N, explicit scale,
# every block-mask producer, log-sum-exp statistics (-inf for empty rows),
# f32, bf16 and f16.
#
# RUN: %python %s %t

import functools
import sys

import numpy as np

import sparse_attn_testing as testing

SEED = testing.test_seed(1001)
rng = np.random.default_rng(SEED)
report = testing.Report("attention-softmax", SEED)
draw = functools.partial(testing.draw_attention_case, rng, "softmax")

testing.run_attention_groups(report, sys.argv[1], {
    "softmax-f32": [
        draw("f32"),
        draw("f32", group=2, kv_heads=2, causal=True, lengths="<", varlen="both"),
        draw("f32", group=8, causal=True, lengths=">", varlen="query", bias="narrow",
             scale=0.3),
        draw("f32", lengths="<", mask="streaming", bias="wide", value_dim=5),
        draw("f32", group=2, causal=True, lengths=">", mask="indices", varlen="key"),
        draw("f32", group=2, kv_heads=2, mask="union"),
        draw("f32", group=8, causal=True, lengths="<", mask="intersect", bias="wide"),
        draw("f32", batch=3, causal=True, mask="causal", varlen="both"),
        draw("f32", group=2, lengths=">", mask="dense", scale=0.07, varlen="both"),
    ],
    "softmax-low-precision": [
        draw("bf16", group=8, causal=True, lengths="<", varlen="both", bias="narrow"),
        draw("bf16", group=2, lengths=">", mask="indices", value_dim=12),
        draw("bf16", kv_heads=2, causal=True, lengths=">", mask="union", varlen="key"),
        draw("f16", group=2, causal=True, lengths="<", varlen="query", bias="wide"),
    ],
})
report.finish()
