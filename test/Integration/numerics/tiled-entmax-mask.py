# The entmax block mask of the tiled lowering (pipelines cpu and
# cpu-tile128) is a superset of the support: with identity values the output
# is the weight matrix, so a support entry in a skipped tile would come out
# zero. Over 1000 rows per pipeline and alpha, including adversarial ones:
# ties (rounded queries and keys), many equal maxima (repeated keys), scores
# scaled by 100 and by 0.01, causal rows, and clustered scores whose
# support lies in few tiles (so that tiles are actually skipped). Every
# non-empty row sums to one within 1e-5 in f32, entries clearly outside the
# reference support are exactly zero and entries of the support positive.
#
# RUN: %python %s %t

import os
import sys

import numpy as np

import sparse_attn_reference as ref
import sparse_attn_testing as testing

SEED = testing.test_seed(8008)
rng = np.random.default_rng(SEED)
report = testing.Report("tiled-entmax-mask", SEED)

HEAD_DIM = 16


def operands(kind, nq, nk, heads):
    q = rng.standard_normal((1, heads, nq, HEAD_DIM))
    k = rng.standard_normal((1, 1, nk, HEAD_DIM))
    scale = None
    if kind == "ties":
        q, k = np.round(q), np.round(k)
    elif kind == "equal-maxima":
        # A third of the keys repeat one key: rows whose maximum is that key
        # have dozens of equal maxima.
        repeated = rng.choice(nk, nk // 3, replace=False)
        k[:, :, repeated] = k[:, :, repeated[:1]]
    elif kind == "scaled-100":
        scale = 100.0 / np.sqrt(HEAD_DIM)
    elif kind == "scaled-0.01":
        scale = 0.01 / np.sqrt(HEAD_DIM)
    elif kind == "clustered":
        # Query i and key j align when they lie in the same 100-position
        # window (modulo 4 windows): the support of a row stays in its
        # window's tiles.
        basis = np.eye(HEAD_DIM)[:4]
        q = basis[(np.arange(nq) // 100) % 4][None, None] * 6 + 0.3 * q
        k = basis[(np.arange(nk) // 100) % 4][None, None] * 2 + 0.3 * k
    return q, k, scale


def draw(kind, alpha, causal=False):
    nq, nk, heads = 301, 203, 4
    q, k, scale = operands(kind, nq, nk, heads)
    v = np.eye(nk)[None, None]
    case = testing.AttentionCase(q, k, v, "f32", "entmax", alpha=alpha, causal=causal,
                                 scale=scale, statistics=True)
    # f32 scores a hundred times larger carry a hundred times larger
    # absolute errors (the reference pipeline measures the same): the values
    # of that case are compared within 100 x 1e-5; its mask properties are
    # checked like every other case's.
    case.value_tolerance = 1e-3 if kind == "scaled-100" else case.tolerance
    return case


def check_weights(case, results):
    expected_output, expected_statistics = case.reference()
    report.expect_close(case, "output", results[0], expected_output, case.value_tolerance)
    report.expect_statistics(case, "statistics", results[1], expected_statistics,
                             testing.TOLERANCE["f32"])
    options = dict(causal=case.causal, mask=None, query_lengths=None, key_lengths=None)
    weights, threshold = ref.attention_weights(case.q, case.k, "entmax", case.alpha,
                                               bias=None, scale=case.scale, **options)
    x = (case.alpha - 1.0) * ref.attention_scores(case.q, case.k, None, None, None, case.scale)
    visible = ref.attention_visibility(*x.shape, **options)
    with np.errstate(invalid="ignore"):  # inf - inf in empty rows
        gaps = np.where(visible, x - threshold[..., None], -np.inf)
    report.expect_entmax_weights(case, "weights", results[0], weights, gaps, case.tolerance)


KINDS = ["random", "ties", "equal-maxima", "scaled-100", "scaled-0.01", "clustered"]
groups = {}
for alpha in (1.5, 2.0):
    cases = [draw(kind, alpha) for kind in KINDS]
    cases.append(draw("random", alpha, causal=True))
    cases.append(draw("clustered", alpha, causal=True))
    for i in range(0, len(cases), 2):
        groups[f"mask-{alpha}-{i // 2}".replace(".", "")] = cases[i:i + 2]

for pipeline in ("cpu", "cpu-tile128"):
    os.environ["SPARSE_ATTN_PIPELINE"] = pipeline
    testing.run_attention_groups(report, os.path.join(sys.argv[1], pipeline), groups,
                                 check_weights)
os.environ["SPARSE_ATTN_PIPELINE"] = "cpu and cpu-tile128"
report.finish()
