# sparse_attn.attention elastic_softmax (Lazy Attention) against the float64
# reference: always causal, per-head tau (-1, 0, -3, 0.4, jittered), bias
# [H, W] with W below and past N, GQA, Nq < Nk and Nq > Nk (positions are
# bottom-right aligned: tau is divided by pos_i + 1), varlen with an empty
# sequence, block masks, log-sum-exp statistics, f32 and bf16.
#
# RUN: %python %s %t

import functools
import sys

import numpy as np

import sparse_attn_testing as testing

SEED = testing.test_seed(3003)
rng = np.random.default_rng(SEED)
report = testing.Report("attention-elastic", SEED)
draw = functools.partial(testing.draw_attention_case, rng, "elastic_softmax", causal=True)

testing.run_attention_groups(report, sys.argv[1], {
    "elastic-f32": [
        draw("f32", group=4, bias="narrow"),
        draw("f32", group=2, kv_heads=2, lengths="<", varlen="both", bias="wide"),
        draw("f32", group=8, lengths=">", varlen="query", bias="narrow"),
        draw("f32", group=4, lengths="<", varlen="key", mask="streaming"),
        draw("f32", kv_heads=4, batch=3, lengths=">", mask="intersect", bias="wide"),
    ],
    "elastic-bf16": [
        draw("bf16", group=8, lengths="<", varlen="both", bias="narrow"),
        draw("bf16", group=2, kv_heads=2, lengths=">", bias="wide", mask="indices"),
    ],
})
report.finish()
