# Softmax attention under sparse_attn.vertical_slash_mask, which the tiled
# CPU pipeline executes as MInference does (sparse-attn-decompose-vertical-
# slash: merged key ranges of the kept diagonals plus gathered kept columns
# under one online softmax), against dense masked attention in float64 under
# the NumPy reference mask, within 1e-5 relative in f32. Sequences span many
# key tiles (the tiles shrink to the 8 or 16 blocks) with lengths no tile
# divides; kept diagonals both merge into wide ranges and leave gaps; columns
# fall inside and outside the ranges; a wide local band makes whole tiles
# full. Covers Nq = Nk, Nq < Nk and Nq > Nk (causal, bottom-right), an
# attention that is not causal itself, varlen with an empty sequence and
# clamped lengths, GQA groups 1, 2 and 8, batch > 1, per-head budgets and an
# explicit scale. Inputs are redrawn while a kept column or diagonal lies
# within sparse_attn_prefill_testing.MARGIN of the first dropped one.
#
# RUN: %python %s %t

import dataclasses
import sys

import numpy as np

import sparse_attn_prefill_testing as prefill_testing
import sparse_attn_testing as testing

SEED = testing.test_seed(5151)
rng = np.random.default_rng(SEED)
report = testing.Report("vertical-slash-attention", SEED)


@dataclasses.dataclass
class Case:
    mask: prefill_testing.VerticalSlashMask
    attention: testing.AttentionCase

    def __str__(self):
        return f"{self.attention} mask={self.mask!r}"

    def emit(self, function):
        return self.attention.emit(function)


def draw(batch=1, kv_heads=1, group=1, lengths="=", varlen=None, per_head=False,
         block=(16, 16), sizes=(12, 40), last_queries=16, sink=4, local=6, causal=True,
         scale=None):
    def make(rng):
        q, k, v, valid_lengths = testing.random_case_operands(
            rng, (70, 150), lengths, shorter=(20, 10), longer=30, batch=batch, kv_heads=kv_heads,
            group=group, head_dims=(8, 16), varlen=varlen)
        budgets = (rng.integers(-1, k.shape[2] // 2, size=(kv_heads * group, 2)) if per_head
                   else None)
        mask = prefill_testing.VerticalSlashMask(
            2.0 * q, k, block, sizes[0], sizes[1], last_queries, sink, local,
            budgets=budgets, scale=scale, **valid_lengths)
        attention = testing.AttentionCase(
            mask.q, mask.k, v, causal=causal, mask=mask, scale=scale, **valid_lengths)
        return Case(mask, attention)

    return prefill_testing.conditioned(rng, make)


def check(case, results):
    expected, _ = case.attention.reference()
    report.expect_close(case, "attention under the vertical-slash mask", results[0], expected,
                        case.attention.tolerance)


groups = {
    "square": [draw(), draw(block=(8, 8), sizes=(6, 60), sink=2, local=3)],
    "wide-band": [draw(block=(8, 8), sizes=(6, 48), local=40)],
    "sparse-diagonals": [draw(sizes=(30, 8), local=2, block=(8, 8))],
    "offsets": [draw(lengths="<", sizes=(10, 30)), draw(lengths=">", block=(8, 8))],
    "not-causal": [draw(causal=False, scale=0.3)],
    "gqa": [draw(kv_heads=1, group=2, per_head=True), draw(kv_heads=1, group=8, block=(8, 8))],
    "batch-varlen": [draw(batch=3, kv_heads=2, group=2, varlen="both", lengths="<",
                          per_head=True),
                     draw(batch=2, varlen="key", lengths=">")],
}
functions = {tag: testing.function_of(tag, cases) for tag, cases in groups.items()}
report.run(sys.argv[1], functions, check)
report.finish()
