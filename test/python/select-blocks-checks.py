# Argument checking, kernel keys and launch arguments of the XAttention
# block selection (sparse_attn.ops), on fake tensors.
# RUN: %python %s

import unittest

from fakes import FakeTensor, bnhd
from sparse_attn import ValidationError, ops

BF16 = "torch.bfloat16"


def check(q, k, t, **overrides):
    arguments = dict(stride=8, thresholds=t, causal=True, block_size=128, layout="bhnd")
    arguments.update(overrides)
    return ops.check_xattention_blocks(q, k, **arguments)


class SelectBlocks(unittest.TestCase):
    def setUp(self):
        self.q = FakeTensor((2, 8, 300, 128), BF16)
        self.k = FakeTensor((2, 2, 900, 128), BF16)
        self.t = FakeTensor((8,))

    def test_key_and_index_shapes(self):
        problem = check(self.q, self.k, self.t, stride=16, causal=False)
        self.assertEqual(
            problem.specializations(),
            [
                {
                    "method": "xattention",
                    "stride": 16,
                    "dtype": "bf16",
                    "head_dim": 128,
                    "causal": False,
                    "varlen": False,
                    "mask_block_q": 128,
                    "mask_block_k": 128,
                }
            ],
        )
        self.assertEqual(problem.index_shapes(), ((2, 8, 3), (2, 8, 3, 8)))

    def test_bnhd_views_are_permuted(self):
        q, k = bnhd(2, 300, 8, 128), bnhd(2, 900, 2, 128)
        problem = check(q, k, self.t, layout="bnhd")
        counts = FakeTensor((2, 8, 3), "torch.int32")
        indices = FakeTensor((2, 8, 3, 8), "torch.int32")
        tensors, scalars = ops.select_blocks_arguments(
            problem, q=q, k=k, thresholds=self.t, kv_num_blocks=counts, kv_indices=indices,
            scale=0.5,
        )
        self.assertEqual(tensors["q"].sizes, (2, 8, 300, 128))
        self.assertEqual(tensors["k"].strides, (900 * 2 * 128, 128, 2 * 128, 1))
        self.assertEqual(scalars, {"scale": 0.5})

    def test_errors(self):
        cases = [
            (dict(thresholds=FakeTensor((4,))), "'thresholds' must be f32 of shape [8]"),
            (dict(thresholds=FakeTensor((8,), "torch.float16")), "must be f32"),
            (dict(stride=48), "must divide the block size"),
            (dict(layout="nhd"), "layout must be one of"),
        ]
        for overrides, message in cases:
            with self.assertRaisesRegex(ValidationError, message.replace("[", r"\[")):
                check(self.q, self.k, self.t, **overrides)
        with self.assertRaisesRegex(ValidationError, "must both be f16 or bf16"):
            check(FakeTensor((2, 8, 300, 128)), FakeTensor((2, 2, 900, 128)), self.t)
        with self.assertRaisesRegex(ValidationError, "multiple of key heads"):
            check(self.q, FakeTensor((2, 3, 900, 128), BF16), self.t)


if __name__ == "__main__":
    unittest.main(verbosity=2)
