# sparse_attn.entmax against the float64 reference: ranks 1 to 4, rows of 1
# to 130 entries, alpha in {1.25, 1.5, 2, 3}, near-uniform, ordinary and very
# sparse rows, ties, constant rows and shifted rows, f32 and bf16. Besides
# the values: every row sums to one, entries clearly below the threshold are
# exactly zero and entries of the reference support are positive.
#
# RUN: %python %s %t

import sys

import numpy as np

import sparse_attn_testing as testing

SEED = testing.test_seed(4004)
rng = np.random.default_rng(SEED)
report = testing.Report("entmax", SEED)


def draw_case(alpha, shape, element_type="f32", spread=1.0, ties=False, constant_rows=False,
              shift=0.0):
    """Normal values times spread, plus shift; ties rounds them to halves;
    constant_rows makes every other row constant."""
    values = rng.standard_normal(shape) * spread
    if ties:
        values = np.round(values * 2) / 2
    if constant_rows:
        values.reshape(-1, shape[-1])[::2] = rng.standard_normal()
    case = testing.EntmaxCase(values + shift, alpha, element_type)
    testing.redraw_ill_conditioned_rows(rng, case)
    return case


GROUPS = {
    "entmax-f32": [
        draw_case(1.5, (1,)),
        draw_case(2.0, (2,)),
        draw_case(1.25, (7,), spread=3.0),
        draw_case(3.0, (5, 33)),
        draw_case(1.5, (3, 4, 17), spread=0.01),
        draw_case(2.0, (2, 2, 3, 130), spread=8.0),
        draw_case(1.25, (6, 21), ties=True),
        draw_case(2.0, (4, 19), constant_rows=True),
        draw_case(1.5, (3, 45), spread=2.0, shift=16.0),
        draw_case(3.0, (2, 5, 9), spread=4.0),
        draw_case(1.25, (3, 3, 2, 11), constant_rows=True, spread=0.3),
    ],
    "entmax-bf16": [
        draw_case(1.5, (4, 37), "bf16", spread=2.0),
        draw_case(2.0, (3, 2, 25), "bf16", ties=True),
        draw_case(3.0, (5, 13), "bf16"),
        draw_case(1.25, (2, 3, 64), "bf16", spread=5.0),
    ],
}

report.run(sys.argv[1], {tag: testing.function_of(tag, cases) for tag, cases in GROUPS.items()},
           lambda case, results: testing.check_entmax(report, case, results))
report.finish()
