# Block masks against the float64 reference: dense, causal (Nq < Nk, =, >),
# streaming (sink 0, window 1, sink and window past N), from_indices (full
# pair or not, counts past KB or negative, indices out of range, duplicates),
# union and intersect with batch / head broadcasting, nested combinations,
# block sizes from 1 to 64 (one block larger than N), N never a multiple of
# a block size. For every mask:
#   - mask_to_indices must equal the reference exactly;
#   - its token-level visibility is revealed by softmax attention with zero
#     queries and keys and identity values (the output row i is 1/count on
#     the keys query i sees): the support must be exactly the mask;
#   - the round trip from_indices(to_indices(m)) must be the block closure of
#     m (checked both ways), and its to_indices has full blocks only.
#
# REQUIRES: sparse-attn-run
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
    for block in [(8, 16), (16, 8), (32, 32), (64, 8), (1, 4), (16, 16)]:
        nq, nk = testing.odd_length(rng, 3, 45), testing.odd_length(rng, 3, 45)
        batch, heads = int(rng.integers(1, 3)), int(rng.choice([1, 3]))
        masks.append(testing.random_mask(rng, "indices", batch, heads, nq, nk, block))
        masks.append(testing.random_index_mask(rng, (batch, heads, nq, nk), block,
                                               full_pair=False))
        masks.append(testing.random_mask(rng, "union", 2, 3, nq, nk, block))
        masks.append(testing.random_mask(rng, "intersect", 2, 3, nq, nk, block))
    # Streaming: a window of one (the diagonal), a sink past N, a window past
    # N, an ordinary A-shape.
    for nq, nk, streaming in [(13, 37, [(0, 1), (3, 7)]), (29, 29, [(31, 3)]),
                              (41, 11, [(2, 16)])]:
        block = (int(rng.choice(testing.BLOCK_SIZES)), int(rng.choice(testing.BLOCK_SIZES)))
        masks.append(testing.CausalMask((1, 1, nq, nk), block))
        masks.append(testing.DenseMask((2, 1, nq, nk), block))
        for sink, window in streaming:
            masks.append(testing.StreamingMask((1, 2, nq, nk), block, sink, window))
    nq, nk, block = 23, 35, (8, 8)
    nested = testing.MaskUnion(
        testing.MaskIntersect(testing.random_mask(rng, "indices", 1, 2, nq, nk, block),
                              testing.CausalMask((1, 1, nq, nk), block)),
        testing.random_streaming_mask(rng, (2, 1, nq, nk), block))
    masks.append(nested)
    return masks


def reveal(mask):
    """Softmax attention whose output is the row-normalised visibility."""
    batch, heads, nq, nk = mask.shape
    eye = np.broadcast_to(np.eye(nk), (batch, 1, nk, nk))
    return testing.AttentionCase(np.zeros((batch, heads, nq, 1)), np.zeros((batch, 1, nk, 1)),
                                 eye, mask=mask)


def check_indices(mask, results):
    for label, out, expected in zip(
            ["kv_num_blocks", "kv_indices", "full_kv_num_blocks", "full_kv_indices"],
            results, ref.mask_to_indices(mask.visible(), *mask.block)):
        report.expect_equal(mask, label, out, expected)


def check_visibility(case, results):
    testing.check_attention(report, case, results)
    visible = np.broadcast_to(case.mask.visible(), results[0].shape)
    report.expect_equal(case.mask, "token-level visibility (output > 0)", results[0] > 0, visible)


def check(item, results):
    """Entries are masks (their index tensors) or reveal attention cases."""
    if isinstance(item, testing.AttentionCase):
        check_visibility(item, results)
    else:
        check_indices(item, results)


masks = draw_masks()
for part, chunk in enumerate([masks[: len(masks) // 2], masks[len(masks) // 2:]]):
    function = testing.Function(f"masks_{part}")
    index_entries, reveal_entries = [], []
    for mask in chunk:
        for expression in (mask, testing.RoundTripMask(mask)):
            index_entries.append((expression, testing.emit_mask_to_indices(function, expression)))
            case = reveal(expression)
            reveal_entries.append((case, case.emit(function)))
        closure = testing.MaskIntersect(testing.RoundTripMask(mask), mask)
        case = reveal(closure)
        reveal_entries.append((case, case.emit(function)))
    report.run_cases(function, sys.argv[1], f"masks-{part}", index_entries + reveal_entries,
                     check)

report.finish()
