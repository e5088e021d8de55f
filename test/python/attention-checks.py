# Argument checking, layouts and kernel keys of sparse_attn.ops, on fake
# tensors (no PyTorch, no GPU, no runtime library).
# RUN: %python %s

import unittest

from fakes import FakeBlockMask, FakeTensor, bnhd
from sparse_attn import ValidationError, ops
from sparse_attn_arguments import check_arguments, optional_tensors

BF16 = "torch.bfloat16"


def check(q, k, v, **overrides):
    return ops.check_attention(q, k, v, **check_arguments(**overrides))


def bind(problem, kernel, **tensors):
    """ops.attention_arguments without statistics or optional tensors."""
    return ops.attention_arguments(problem, kernel, stats=None, **tensors, **optional_tensors())


class FakeKernel:
    def __init__(self, specialization):
        self.specialization = specialization

    def specialization_dict(self):
        return dict(item.split("=", 1) for item in self.specialization.split(","))


class Layouts(unittest.TestCase):
    def test_bhnd_and_bnhd_describe_the_same_logical_problem(self):
        q, k, v = (
            FakeTensor((2, 8, 300, 64), BF16),
            FakeTensor((2, 2, 280, 64), BF16),
            FakeTensor((2, 2, 280, 32), BF16),
        )
        bhnd = check(q, k, v)
        qt, kt, vt = bnhd(2, 300, 8, 64), bnhd(2, 280, 2, 64), bnhd(2, 280, 2, 32)
        bnhd_problem = check(qt, kt, vt, layout="bnhd")
        for problem in (bhnd, bnhd_problem):
            self.assertEqual(
                (
                    problem.batch,
                    problem.heads,
                    problem.kv_heads,
                    problem.query_len,
                    problem.key_len,
                    problem.head_dim,
                    problem.value_dim,
                ),
                (2, 8, 2, 300, 280, 64, 32),
            )
        self.assertEqual(bhnd.output_shape(), (2, 8, 300, 32))
        self.assertEqual(bnhd_problem.output_shape(), (2, 300, 8, 32))

    def test_bnhd_views_permute_strides_without_copying(self):
        q, k, v, out = (
            bnhd(2, 300, 8, 64),
            bnhd(2, 280, 2, 64),
            bnhd(2, 280, 2, 64),
            bnhd(2, 300, 8, 64),
        )
        problem = check(q, k, v, layout="bnhd")
        tensors, scalars = bind(
            problem, FakeKernel("normalizer=softmax"), q=q, k=k, v=v, out=out, scale=0.125
        )
        self.assertEqual(sorted(tensors), ["k", "out", "q", "v"])
        self.assertEqual(tensors["q"].sizes, (2, 8, 300, 64))
        self.assertEqual(tensors["q"].strides, (300 * 8 * 64, 64, 8 * 64, 1))
        self.assertEqual(tensors["q"].data, q.data_ptr())
        self.assertEqual(tensors["q"].dtype, "bf16")
        self.assertEqual(tensors["k"].sizes, (2, 2, 280, 64))
        self.assertEqual(scalars, {"scale": 0.125})

    def test_a_transposed_view_is_accepted_as_bhnd(self):
        # A [B, N, H, D] buffer seen as [B, H, N, D] through strides.
        q = bnhd(1, 128, 4, 64).transpose12()
        problem = check(q, q, q)
        self.assertEqual((problem.heads, problem.query_len), (4, 128))

    def test_unknown_layout(self):
        q = FakeTensor((1, 1, 8, 16), BF16)
        with self.assertRaisesRegex(ValidationError, "layout must be one of bhnd, bnhd, got 'nhd'"):
            check(q, q, q, layout="nhd")


class Keys(unittest.TestCase):
    def test_softmax_key(self):
        q = FakeTensor((1, 4, 64, 128), BF16)
        problem = check(q, q, q, causal=True, return_stats=True)
        self.assertEqual(
            problem.specializations(),
            [
                {
                    "normalizer": "softmax",
                    "dtype": "bf16",
                    "head_dim": 128,
                    "value_dim": 128,
                    "causal": True,
                    "varlen": False,
                    "statistics": True,
                    "mask": "none",
                }
            ],
        )
        self.assertEqual(problem.stats_shape(), (1, 4, 64))

    def test_f32_key_and_views(self):
        # f32 inputs select the dtype=f32 kernels (tf32 tensor cores) and
        # travel as f32 views; the output is f32 too.
        q = FakeTensor((1, 4, 64, 64), "torch.float32")
        problem = check(q, q, q, normalizer="entmax", alpha=2)
        self.assertEqual(
            [(key["dtype"], key["alpha"]) for key in problem.specializations()],
            [("f32", 2.0), ("f32", "any")],
        )
        tensors, _ = bind(
            problem,
            FakeKernel("alpha=2,normalizer=entmax"),
            q=q,
            k=q,
            v=q,
            out=FakeTensor(problem.output_shape(), "torch.float32"),
            scale=0.125,
        )
        self.assertEqual(
            {name: view.dtype for name, view in tensors.items()},
            {"q": "f32", "k": "f32", "v": "f32", "out": "f32"},
        )

    def test_entmax_tries_the_given_alpha_then_any(self):
        q = FakeTensor((1, 4, 64, 64), "torch.float16")
        lengths = FakeTensor((1,), "torch.int32")
        keys = check(
            q, q, q, normalizer="entmax", alpha=1.5, query_lengths=lengths
        ).specializations()
        self.assertEqual([key["alpha"] for key in keys], [1.5, "any"])
        self.assertTrue(keys[0]["varlen"])

    def test_block_mask_key(self):
        q = FakeTensor((2, 4, 300, 64), BF16)
        counts = FakeTensor((1, 4, 3), "torch.int32")
        indices = FakeTensor((1, 4, 3, 3), "torch.int32")
        key = check(
            q,
            q,
            q,
            kv_num_blocks=counts,
            kv_indices=indices,
            full_kv_num_blocks=counts,
            full_kv_indices=indices,
            mask_block_q=128,
            mask_block_k=128,
        ).specializations()[0]
        self.assertEqual(
            (key["mask"], key["mask_block_q"], key["mask_block_k"], key["full_blocks"]),
            ("block", 128, 128, True),
        )

    def test_elastic_key_and_scalars(self):
        q = FakeTensor((1, 4, 64, 64), BF16)
        tau = FakeTensor((4,), "torch.float32")
        problem = check(
            q,
            q,
            q,
            normalizer="elastic_softmax",
            causal=True,
            elastic_tau=tau,
            bias=FakeTensor((4, 512), "torch.float32"),
        )
        self.assertTrue(problem.specializations()[0]["bias"])

    def test_entmax_scalars_follow_the_kernel(self):
        q = FakeTensor((1, 4, 64, 64), BF16)
        problem = check(q, q, q, normalizer="entmax", alpha=1.25, niter=3)
        common = dict(q=q, k=q, v=q, out=FakeTensor((1, 4, 64, 64), BF16), scale=0.5)
        _, scalars = bind(problem, FakeKernel("alpha=any,normalizer=entmax"), **common)
        self.assertEqual(scalars, {"scale": 0.5, "niter": 3, "alpha": 1.25})
        _, scalars = bind(problem, FakeKernel("alpha=1.25,normalizer=entmax"), **common)
        self.assertEqual(scalars, {"scale": 0.5, "niter": 3})

    def test_block_mask_tensors_come_from_the_flex_block_mask(self):
        counts, indices = FakeTensor((1, 1, 2), "torch.int32"), FakeTensor(
            (1, 1, 2, 2), "torch.int32"
        )
        unpacked = ops.block_mask_tensors(FakeBlockMask(counts, indices, block_size=(64, 128)))
        self.assertEqual(unpacked, (counts, indices, None, None, 64, 128))
        with self.assertRaisesRegex(
            ValidationError, "block_mask must be a FlexAttention BlockMask"
        ):
            ops.block_mask_tensors(object())

    def test_default_scale(self):
        self.assertEqual(ops.default_scale(64), 0.125)


class Errors(unittest.TestCase):
    """Every check, with the message it gives."""

    def setUp(self):
        self.q = FakeTensor((2, 8, 300, 64), BF16)
        self.k = FakeTensor((2, 2, 280, 64), BF16)
        self.v = FakeTensor((2, 2, 280, 64), BF16)

    def assertRejects(self, message, *tensors, **overrides):
        q, k, v = tensors if tensors else (self.q, self.k, self.v)
        with self.assertRaises(ValidationError) as raised:
            check(q, k, v, **overrides)
        self.assertEqual(str(raised.exception), "sparse_attn.attention: " + message)
        self.assertEqual(raised.exception.status, "SA_ERROR_VALIDATION")

    def test_rank(self):
        self.assertRejects(
            "tensor 'k' must have rank 4 ([BHND]), got shape [2, 280, 64]",
            self.q,
            FakeTensor((2, 280, 64), BF16),
            self.v,
        )

    def test_device(self):
        cpu = FakeTensor((2, 8, 300, 64), BF16, device=("cpu", None))
        self.assertRejects(
            "tensor 'q' is on Device(type='cpu', index=None); the kernels need " "CUDA tensors",
            cpu,
            self.k,
            self.v,
        )
        other = FakeTensor((2, 2, 280, 64), BF16, device=("cuda", 1))
        self.assertRejects("tensor 'v' is on cuda:1, but 'q' is on cuda:0", self.q, self.k, other)

    def test_dtypes(self):
        double = FakeTensor((2, 8, 300, 64), "torch.float64")
        self.assertRejects(
            "tensor 'q' has dtype f64; the kernels take f16, bf16, f32", double, self.k, self.v
        )
        half = FakeTensor((2, 2, 280, 64), "torch.float16")
        self.assertRejects("tensor 'k' has dtype f16, but 'q' has bf16", self.q, half, self.v)

    def test_shapes(self):
        self.assertRejects(
            "batch sizes differ: q 2, k 3, v 2", self.q, FakeTensor((3, 2, 280, 64), BF16), self.v
        )
        self.assertRejects(
            "head dimensions differ: q 64, k 32", self.q, FakeTensor((2, 2, 280, 32), BF16), self.v
        )
        self.assertRejects(
            "'v' has 2 heads and 279 keys, but 'k' has 2 and 280",
            self.q,
            self.k,
            FakeTensor((2, 2, 279, 64), BF16),
        )
        self.assertRejects(
            "query heads (8) must be a multiple of key/value heads (3)",
            self.q,
            FakeTensor((2, 3, 280, 64), BF16),
            FakeTensor((2, 3, 280, 64), BF16),
        )

    def test_last_dimension_must_be_contiguous(self):
        strided = FakeTensor((2, 8, 300, 64), BF16, strides=(8 * 300 * 128, 300 * 128, 128, 2))
        self.assertRejects(
            "tensor 'q' must be contiguous in its last dimension (stride 1), got "
            "strides [307200, 38400, 128, 2]",
            strided,
            self.k,
            self.v,
        )

    def test_normalizers(self):
        self.assertRejects(
            "normalizer must be one of softmax, entmax, elastic_softmax, got 'relu'",
            normalizer="relu",
        )
        self.assertRejects("entmax needs alpha > 1, got 1.0", normalizer="entmax", alpha=1.0)
        self.assertRejects(
            "elastic softmax (Lazy attention) is always causal: pass causal=True",
            normalizer="elastic_softmax",
        )
        self.assertRejects(
            "elastic softmax needs 'elastic_tau' (one threshold per query head)",
            normalizer="elastic_softmax",
            causal=True,
        )
        self.assertRejects(
            "tensor 'elastic_tau' must be f32 of shape [8], got f32 [2]",
            normalizer="elastic_softmax",
            causal=True,
            elastic_tau=FakeTensor((2,), "torch.float32"),
        )
        self.assertRejects(
            "tensor 'bias' must be f32 of shape [8, W], got f32 [8]",
            normalizer="elastic_softmax",
            causal=True,
            elastic_tau=FakeTensor((8,), "torch.float32"),
            bias=FakeTensor((8,), "torch.float32"),
        )
        self.assertRejects(
            "'bias' and 'elastic_tau' belong to elastic softmax only",
            bias=FakeTensor((8, 16), "torch.float32"),
        )
        self.assertRejects("niter must be at least 1, got 0", niter=0)

    def test_lengths(self):
        self.assertRejects(
            "tensor 'query_lengths' must have shape [2] (one entry per batch), got " "[3]",
            query_lengths=FakeTensor((3,), "torch.int32"),
        )
        self.assertRejects(
            "tensor 'key_lengths' has dtype i64, but the kernels need i32",
            key_lengths=FakeTensor((2,), "torch.int64"),
        )

    def test_block_masks(self):
        counts = FakeTensor((2, 8, 3), "torch.int32")
        indices = FakeTensor((2, 8, 3, 3), "torch.int32")
        mask = dict(mask_block_q=128, mask_block_k=128)
        self.assertRejects(
            "a block mask needs both 'kv_num_blocks' and 'kv_indices'", kv_num_blocks=counts, **mask
        )
        self.assertRejects(
            "block mask sizes must be positive, got 0 x 128",
            kv_num_blocks=counts,
            kv_indices=indices,
            mask_block_q=0,
            mask_block_k=128,
        )
        self.assertRejects(
            "tensor 'kv_num_blocks' must have shape [1 or 2, 1 or 8, 3] (300 "
            "queries in blocks of 128), got [2, 8, 2]",
            kv_num_blocks=FakeTensor((2, 8, 2), "torch.int32"),
            kv_indices=indices,
            **mask
        )
        self.assertRejects(
            "tensor 'kv_indices' must have shape [2, 8, 3] + [K], got [2, 4, 3, 3]",
            kv_num_blocks=counts,
            kv_indices=FakeTensor((2, 4, 3, 3), "torch.int32"),
            **mask
        )
        self.assertRejects(
            "tensor 'kv_indices' lists up to 4 key blocks, but 280 keys make only "
            "3 blocks of 128",
            kv_num_blocks=counts,
            kv_indices=FakeTensor((2, 8, 3, 4), "torch.int32"),
            **mask
        )
        self.assertRejects(
            "tensor 'kv_indices' has dtype i64, but the kernels need i32",
            kv_num_blocks=counts,
            kv_indices=FakeTensor((2, 8, 3, 3), "torch.int64"),
            **mask
        )
        self.assertRejects(
            "full blocks need both 'full_kv_num_blocks' and 'full_kv_indices'",
            kv_num_blocks=counts,
            kv_indices=indices,
            full_kv_num_blocks=counts,
            **mask
        )
        self.assertRejects(
            "full blocks need 'kv_num_blocks' and 'kv_indices' too",
            full_kv_num_blocks=counts,
            full_kv_indices=indices,
            **mask
        )

    def test_entmax_rows(self):
        with self.assertRaisesRegex(
            ValidationError,
            r"^sparse_attn.entmax: expected a \[rows, columns\] tensor, got " r"shape \[2, 3, 4\]$",
        ):
            ops.check_entmax(FakeTensor((2, 3, 4)), alpha=1.5, niter=3)
        with self.assertRaisesRegex(ValidationError, "entmax needs alpha > 1, got 0.5"):
            ops.check_entmax(FakeTensor((2, 3)), alpha=0.5, niter=3)
        problem = ops.check_entmax(FakeTensor((6, 7), BF16), alpha=2, niter=3)
        self.assertEqual(
            problem.specializations(),
            [{"dtype": "bf16", "alpha": 2.0}, {"dtype": "bf16", "alpha": "any"}],
        )


if __name__ == "__main__":
    unittest.main(verbosity=2)
