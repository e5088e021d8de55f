# Block masks against the float64 reference: dense, causal (Nq < Nk, =, >),
# streaming (sink 0, window 1, sink and window past N), from_indices (full
# pair or not, counts past KB or negative, indices out of range, duplicates),
# union and intersect with batch / head broadcasting, a nested combination,
# block sizes from 1 to 64 (one block larger than N), N never a multiple of
# a block size. For every mask m and its round trip
# from_indices(to_indices(m)) (the block closure of m):
#   - mask_to_indices must equal the reference exactly;
#   - the token-level visibility, revealed by softmax attention with zero
#     queries and keys and identity values (output row i is 1/count on the
#     keys query i sees), must equal the reference exactly.
# One function per mask: the JIT's compile time grows faster than linearly
# with the function size.
#
# RUN: %python %s %t

import sys

import numpy as np

import sparse_attn_reference as ref
import sparse_attn_testing as testing

SEED = testing.test_seed(5005)
rng = np.random.default_rng(SEED)
report = testing.Report("masks", SEED)


def draw_masks():
    masks = []
    for number, block in enumerate([(8, 16), (16, 8), (32, 32), (64, 8), (1, 4), (16, 16)]):
        nq, nk = testing.odd_length(rng, 3, 45), testing.odd_length(rng, 3, 45)
        batch, heads = int(rng.integers(1, 3)), int(rng.choice([1, 3]))
        masks.append(testing.random_index_mask(rng, (batch, heads, nq, nk), block,
                                               full_pair=number % 2 == 0))
        masks.append(testing.random_mask(rng, ["union", "intersect"][number % 2], 2, 3, nq, nk,
                                         block))
    # Streaming: a window of one (the diagonal), a sink past N, a window past
    # N, an ordinary A-shape; causal and dense with Nq < Nk, = and >.
    for nq, nk, (sink, window) in [(13, 37, (0, 1)), (29, 29, (31, 3)), (41, 11, (2, 16)),
                                   (19, 27, (3, 7))]:
        block = (int(rng.choice(testing.BLOCK_SIZES)), int(rng.choice(testing.BLOCK_SIZES)))
        masks.append(testing.StreamingMask((1, 2, nq, nk), block, sink, window))
        masks.append(testing.CausalMask((1, 1, nq, nk), block))
    masks.append(testing.DenseMask((2, 1, 21, 9), (16, 8)))
    nq, nk, block = 23, 35, (8, 8)
    masks.append(testing.MaskUnion(
        testing.MaskIntersect(testing.random_mask(rng, "indices", 1, 2, nq, nk, block),
                              testing.CausalMask((1, 1, nq, nk), block)),
        testing.random_streaming_mask(rng, (2, 1, nq, nk), block)))
    return masks


class IndexCase:
    """mask_to_indices of a mask."""

    def __init__(self, mask):
        self.mask = mask

    def emit(self, function):
        return testing.emit_mask_to_indices(function, self.mask)

    def __str__(self):
        return f"to_indices({self.mask!r})"


def reveal(mask):
    """Softmax attention whose output is the row-normalised visibility."""
    batch, heads, nq, nk = mask.shape
    eye = np.broadcast_to(np.eye(nk), (batch, 1, nk, nk))
    return testing.AttentionCase(np.zeros((batch, heads, nq, 1)), np.zeros((batch, 1, nk, 1)),
                                 eye, mask=mask)


def check(case, results):
    if isinstance(case, IndexCase):
        names = ["kv_num_blocks", "kv_indices", "full_kv_num_blocks", "full_kv_indices"]
        expected = ref.mask_to_indices(case.mask.visible(), *case.mask.block)
        for name, out, reference in zip(names, results, expected):
            report.expect_equal(case, name, out, reference)
    else:
        testing.check_attention(report, case, results)
        visible = np.broadcast_to(case.mask.visible(), results[0].shape)
        report.expect_equal(case, "token-level visibility (output > 0)", results[0] > 0, visible)


functions = {}
for number, mask in enumerate(draw_masks()):
    cases = []
    for expression in (mask, testing.RoundTripMask(mask)):
        cases += [IndexCase(expression), reveal(expression)]
    functions[f"mask-{number}"] = testing.function_of(f"mask-{number}", cases)
report.run(sys.argv[1], functions, check)
report.finish()
