# The tiled lowering (pipelines cpu and cpu-tile128: sparse-attn-to-cpu with
# 64x64 and 128x128 tiles) against the float64 reference on shapes spanning
# several tiles, lengths no tile divides: softmax, entmax (alpha 1.25, 1.5,
# 2) and elastic softmax, each causal and not (elastic: causal only), with
# GQA, Nq < Nk and Nq > Nk, varlen (with an empty sequence), bias, and the
# masks none, dense, causal, streaming, random index lists (duplicates,
# out-of-range entries, counts past the row), their union and intersection
# with a streaming mask, with mask blocks of 64 and 128 (tiles shrink to
# the mask block). Runs these pipelines whatever the lit `pipeline`
# parameter says: they are what the test is about.
#
# RUN: %python %s %t

import os
import sys

import numpy as np

import sparse_attn_testing as testing

SEED = testing.test_seed(7007)
rng = np.random.default_rng(SEED)
report = testing.Report("tiled-attention", SEED)

NORMALIZERS = [("softmax", None), ("entmax", 1.5), ("entmax", 2.0), ("entmax", 1.25),
               ("elastic_softmax", None)]
MASKS = [None, "dense", "causal", "streaming", "indices", "union", "intersect"]


def draw(normalizer, alpha, mask, block, causal, variant):
    """variant cycles through GQA/length/varlen/bias combinations."""
    kv_heads, group, lengths, varlen, bias = [
        (1, 2, "<", None, False),
        (2, 1, ">", "both", True),
        (1, 3, "=", "key", False),
        (2, 2, "<", "query", True),
    ][variant % 4]
    nk = testing.odd_length(rng, 129, 301)
    nq = {"<": testing.odd_length(rng, 65, nk - 2), "=": nk,
          ">": testing.odd_length(rng, nk + 2, nk + 80)}[lengths]
    batch, heads = 2, kv_heads * group
    q, k, v = testing.random_attention_operands(rng, batch, heads, kv_heads, nq, nk, 16, 8)
    query_lengths, key_lengths = (testing.random_varlen(rng, batch, nq, nk, varlen)
                                  if varlen else (None, None))
    tau = None
    if normalizer == "elastic_softmax":
        tau = np.array([-1.0, 0.0, -3.0, 0.4, -0.5, -2.0])[:heads] + rng.uniform(-0.2, 0.2, heads)
    case = testing.AttentionCase(
        q, k, v, "f32", normalizer, alpha=alpha, causal=causal,
        mask=None if mask is None else testing.random_mask(rng, mask, batch, heads, nq, nk,
                                                           block=(block, block)),
        query_lengths=query_lengths, key_lengths=key_lengths,
        bias=rng.standard_normal((heads, int(rng.integers(1, nk)))) if bias else None,
        tau=tau, statistics=True)
    return case


cases = []
for normalizer, alpha in NORMALIZERS:
    for causal in ([True] if normalizer == "elastic_softmax" else [False, True]):
        for number, mask in enumerate(MASKS):
            block = 64 if number % 2 else 128
            cases.append(draw(normalizer, alpha, mask, block, causal, len(cases)))

# Two cases per function keep the JIT compile time of each run small.
groups = {f"tiled-{i // 2}": cases[i:i + 2] for i in range(0, len(cases), 2)}
for pipeline in ("cpu", "cpu-tile128"):
    os.environ["SPARSE_ATTN_PIPELINE"] = pipeline
    testing.run_attention_groups(report, os.path.join(sys.argv[1], pipeline), groups)
os.environ["SPARSE_ATTN_PIPELINE"] = "cpu and cpu-tile128"
report.finish()
