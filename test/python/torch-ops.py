# The PyTorch layer without a GPU: custom-op registration, shapes and layouts
# of the outputs under FakeTensorMode (what torch.compile sees), tracing with
# torch.export, validation messages, and the AdaSplash shims' signatures.
# REQUIRES: torch
# RUN: %python %s

import inspect
import unittest

import torch
from torch._subclasses.fake_tensor import FakeTensorMode

import sparse_attn
from fakes import FakeBlockMask
from sparse_attn.compat import adasplash


def cuda(*shape, dtype=torch.bfloat16):
    return torch.empty(*shape, dtype=dtype, device="cuda")


class FakeShapes(unittest.TestCase):
    def setUp(self):
        self.mode = FakeTensorMode()
        self.mode.__enter__()

    def tearDown(self):
        self.mode.__exit__(None, None, None)

    def test_output_follows_the_layout_of_q(self):
        q, k, v = cuda(2, 8, 300, 64), cuda(2, 2, 280, 64), cuda(2, 2, 280, 32)
        out, stats = sparse_attn.attention(
            q, k, v, normalizer="entmax", causal=True, return_stats=True
        )
        self.assertEqual(
            (tuple(out.shape), out.dtype, str(out.device)),
            ((2, 8, 300, 32), torch.bfloat16, "cuda:0"),
        )
        self.assertEqual((tuple(stats.shape), stats.dtype), ((2, 8, 300), torch.float32))
        q, k = cuda(2, 300, 8, 64), cuda(2, 280, 2, 64)
        out = sparse_attn.attention(q, k, k, layout="bnhd")
        self.assertEqual(tuple(out.shape), (2, 300, 8, 64))
        self.assertTrue(out.is_contiguous())

    def test_views_are_accepted_without_copies(self):
        # q, k, v split out of one packed [B, N, 3, H, D] projection.
        packed = cuda(2, 128, 3, 4, 64)
        q, k, v = packed.unbind(2)
        out = sparse_attn.attention(q, k, v, layout="bnhd")
        self.assertEqual(tuple(out.shape), (2, 128, 4, 64))

    def test_block_masks_and_lengths(self):
        q = cuda(2, 4, 300, 64)
        counts = cuda(1, 4, 3, dtype=torch.int32)
        indices = cuda(1, 4, 3, 3, dtype=torch.int32)
        lengths = cuda(2, dtype=torch.int64)
        out = sparse_attn.attention(
            q, q, q, block_mask=FakeBlockMask(counts, indices), query_lengths=lengths
        )
        self.assertEqual(tuple(out.shape), (2, 4, 300, 64))

    def test_entmax_along_any_dimension(self):
        x = cuda(3, 5, 7, dtype=torch.float16)
        self.assertEqual(tuple(sparse_attn.entmax(x, dim=1).shape), (3, 5, 7))
        self.assertEqual(tuple(adasplash.triton_entmax(x).shape), (3, 5, 7))

    def test_validation_errors_reach_the_caller(self):
        q, k = cuda(2, 8, 64, 64), cuda(2, 3, 64, 64)
        with self.assertRaisesRegex(
            sparse_attn.ValidationError,
            r"^sparse_attn.attention: query heads \(8\) must be a multiple "
            r"of key/value heads \(3\)$",
        ):
            sparse_attn.attention(q, k, k)


class Registration(unittest.TestCase):
    def test_schemas(self):
        self.assertEqual(
            str(torch.ops.sparse_attn.attention.default._schema),
            "sparse_attn::attention(Tensor q, Tensor k, Tensor v, str normalizer, float alpha, "
            "bool causal, float scale, Tensor? query_lengths, Tensor? key_lengths, "
            "Tensor? kv_num_blocks, Tensor? kv_indices, Tensor? full_kv_num_blocks, "
            "Tensor? full_kv_indices, SymInt mask_block_q, SymInt mask_block_k, Tensor? bias, "
            "Tensor? elastic_tau, bool return_stats, SymInt niter, str layout) -> (Tensor, Tensor)",
        )
        self.assertEqual(
            str(torch.ops.sparse_attn.entmax.default._schema),
            "sparse_attn::entmax(Tensor x, float alpha, SymInt niter) -> Tensor",
        )

    def test_export_sees_one_node_per_operation(self):
        class Model(torch.nn.Module):
            def forward(self, q, k, v):
                out = sparse_attn.attention(q, k, v, normalizer="entmax", causal=True)
                return sparse_attn.entmax(out, alpha=2.0)

        with FakeTensorMode():
            q, k = cuda(1, 4, 128, 64), cuda(1, 2, 128, 64)
        graph = torch.export.export(Model(), (q, k, k)).graph
        targets = [str(node.target) for node in graph.nodes if node.op == "call_function"]
        self.assertIn("sparse_attn.attention.default", targets)
        self.assertIn("sparse_attn.entmax.default", targets)

    def test_cpu_tensors_are_refused(self):
        q = torch.zeros(1, 1, 8, 16)
        with self.assertRaisesRegex(
            sparse_attn.ValidationError, "tensor 'q' is on cpu; the kernels need CUDA tensors"
        ):
            sparse_attn.attention(q, q, q)


class AdaSplashCompatibility(unittest.TestCase):
    """The shims keep AdaSplash's parameter names, order and defaults."""

    def parameters(self, function):
        return [(p.name, p.default) for p in inspect.signature(function).parameters.values()]

    def test_signatures(self):
        empty = inspect.Parameter.empty
        self.assertEqual(
            self.parameters(adasplash.adasplash),
            [
                ("q", empty),
                ("k", empty),
                ("v", empty),
                ("alpha", 1.5),
                ("is_causal", True),
                ("varlen", None),
                ("niter", None),
            ],
        )
        self.assertEqual(
            self.parameters(adasplash.adasplash_no_block_mask),
            [
                ("q", empty),
                ("k", empty),
                ("v", empty),
                ("alpha", 1.5),
                ("is_causal", False),
                ("varlen", None),
                ("niter", 10),
            ],
        )
        self.assertEqual(
            self.parameters(adasplash.triton_entmax),
            [
                ("x", empty),
                ("alpha", 1.5),
                ("n_iter", 2),
                ("use_histogram", True),
                ("fast_math", False),
            ],
        )

    def test_shapes(self):
        with FakeTensorMode():
            q = cuda(2, 4, 128, 64)
            varlen = cuda(2, dtype=torch.int64)
            self.assertEqual(
                tuple(adasplash.adasplash(q, q, q, varlen=varlen).shape), (2, 4, 128, 64)
            )
            self.assertEqual(
                tuple(adasplash.adasplash_no_block_mask(q, q, q).shape), (2, 4, 128, 64)
            )


if __name__ == "__main__":
    unittest.main(verbosity=2)
