# The ctypes binding over the built runtime library, without a GPU: bundle
# loading and introspection, lookups, launch validation messages (the
# runtime's own), and the "no CUDA driver" path.
# REQUIRES: sparse-attn-runtime
# RUN: env SPARSE_ATTN_CUDA_DRIVER=/nonexistent/libcuda.so.1 %python %s

import os
import subprocess
import sys
import unittest

from fakes import FakeTensor
from sparse_attn import (
    BundleError,
    DriverNotFoundError,
    KernelNotFoundError,
    Runtime,
    TensorView,
    ValidationError,
    ops,
)
from sparse_attn_arguments import check_arguments

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TEST_BUNDLE = os.path.join(ROOT, "test", "gpu", "bundles", "runtime-test.bundle")

runtime = Runtime()
bundle = runtime.load_bundle(TEST_BUNDLE)


def scaled_add_arguments(**changes):
    tensors = {name: FakeTensor((32, 64)) for name in ("x", "y", "z")}
    tensors.update(changes)
    return tensors


class Bundles(unittest.TestCase):
    def test_introspection(self):
        self.assertEqual(bundle.name, "runtime-test")
        self.assertEqual(bundle.path, TEST_BUNDLE)
        self.assertEqual([k.name for k in bundle.kernels], ["scaled_add_f32", "tile_copy_f32"])
        kernel = bundle.kernel("tile_copy_f32")
        self.assertEqual(
            (kernel.op, kernel.entry, kernel.specialization, kernel.tuning),
            ("test.tile_copy", "tile_copy", "dtype=f32", "tile=16x32"),
        )
        self.assertEqual(
            [(t.name, t.dtype, t.rank, t.access, t.alignment) for t in kernel.tensors],
            [("source", "f32", 2, "read", 16), ("out", "f32", 2, "write", 4)],
        )
        self.assertEqual(bundle.kernel("scaled_add_f32").scalars, {"a": "f32"})
        self.assertRegex(runtime.version(), r"^\d+\.\d+\.\d+$")

    def test_lookup_by_specialization(self):
        kernel = runtime.find_kernel("test.scaled_add", {"dtype": "f32"})
        self.assertEqual(kernel.name, "scaled_add_f32")
        self.assertIs(runtime.find_kernel("test.scaled_add", "dtype=f32"), kernel)

    def test_lookup_misses_list_what_exists(self):
        with self.assertRaises(KernelNotFoundError) as raised:
            runtime.find_kernel("test.scaled_add", {"dtype": "bf16"})
        self.assertEqual(
            str(raised.exception),
            'no loaded kernel implements op "test.scaled_add" with specialization '
            "{dtype=bf16}; kernels for this op:\n  {dtype=f32} (scaled_add_f32 in "
            "runtime-test)",
        )
        with self.assertRaisesRegex(KernelNotFoundError, 'has no kernel named "nope"'):
            bundle.kernel("nope")

    def test_bundle_errors(self):
        with self.assertRaisesRegex(BundleError, "cannot read /nonexistent.bundle/manifest.json"):
            runtime.load_bundle("/nonexistent.bundle")
        with self.assertRaisesRegex(BundleError, 'a bundle named "runtime-test" is already loaded'):
            runtime.load_bundle(TEST_BUNDLE)

    def test_an_operation_without_kernels_says_so(self):
        q = FakeTensor((1, 4, 64, 64), "torch.bfloat16")
        problem = ops.check_attention(
            q, q, q, **check_arguments(normalizer="entmax", alpha=1.5, causal=True)
        )
        with self.assertRaises(KernelNotFoundError) as raised:
            ops.find_kernel(runtime, problem)
        message = str(raised.exception)
        self.assertTrue(
            message.startswith(
                "sparse_attn.attention: no kernel for this call in the loaded bundles (set "
                "SPARSE_ATTN_BUNDLE_PATH to bundles built for it).\n"
            ),
            message,
        )
        self.assertIn(
            'no loaded kernel implements op "attention" with specialization {alpha=1.5,'
            "causal=true,dtype=bf16,head_dim=64,mask=none,normalizer=entmax,"
            "statistics=false,value_dim=64,varlen=false}; no loaded bundle (1 loaded) "
            "has any kernel for this op",
            message,
        )
        self.assertIn("{alpha=any,", message)


class Launches(unittest.TestCase):
    def setUp(self):
        self.kernel = bundle.kernel("scaled_add_f32")

    def assertRejected(self, message, tensors, scalars=None):
        with self.assertRaises(ValidationError) as raised:
            self.kernel.launch(tensors, {"a": 2.0} if scalars is None else scalars)
        self.assertEqual(str(raised.exception), 'kernel "scaled_add_f32": ' + message)

    def test_wrong_dtype(self):
        self.assertRejected(
            "tensor 'y' has dtype bf16, but the kernel needs f32",
            scaled_add_arguments(y=FakeTensor((32, 64), "torch.bfloat16")),
        )

    def test_wrong_rank(self):
        self.assertRejected(
            "tensor 'x' has rank 3, but the kernel needs rank 2",
            scaled_add_arguments(x=FakeTensor((32, 64, 1))),
        )

    def test_wrong_shape(self):
        self.assertRejected(
            "constraint `z.size0 == x.size0 && z.size1 == x.size1` does not hold "
            "(z.size0 = 32, x.size0 = 32, z.size1 = 63, x.size1 = 64)",
            scaled_add_arguments(z=FakeTensor((32, 63))),
        )

    def test_written_tensor_overlapping_itself(self):
        self.assertRejected(
            "tensor 'z' is written by the kernel, but its strides [1, 1] make "
            "elements overlap (sizes [32, 64])",
            scaled_add_arguments(z=FakeTensor((32, 64), strides=(1, 1))),
        )

    def test_misaligned_pointer(self):
        x = FakeTensor((32, 64))
        self.assertRejected(
            f"tensor 'x' data pointer {x.data_ptr() + 2:#x} is not aligned to 4 " "bytes",
            scaled_add_arguments(x=TensorView(x.data_ptr() + 2, "f32", (32, 64), (64, 1), 0)),
        )

    def test_missing_and_unknown_arguments(self):
        tensors = scaled_add_arguments()
        del tensors["y"]
        self.assertRejected("tensor 'y' is missing", tensors)
        self.assertRejected(
            "the kernel has no tensor named 'w' (its tensors: x, y, z)",
            scaled_add_arguments(w=FakeTensor((32, 64))),
        )
        self.assertRejected("scalar 'a' is missing", scaled_add_arguments(), {})
        self.assertRejected(
            "the kernel has no scalar named 'b' (its scalars: a)",
            scaled_add_arguments(),
            {"a": 1.0, "b": 2.0},
        )

    def test_scalars_are_typed_by_the_kernel(self):
        kernel = bundle.kernel("tile_copy_f32")
        with self.assertRaisesRegex(ValidationError, "the kernel has no scalar named 'n'"):
            kernel.launch({"source": FakeTensor((8, 8)), "out": FakeTensor((8, 8))}, {"n": 1.5})

    def test_non_cuda_tensors_are_refused_before_the_runtime(self):
        with self.assertRaisesRegex(ValidationError, "expected a CUDA tensor, got one on"):
            self.kernel.launch(
                scaled_add_arguments(x=FakeTensor((32, 64), device=("cpu", None))), {"a": 1.0}
            )

    def test_valid_arguments_reach_the_missing_driver(self):
        with self.assertRaises(DriverNotFoundError) as raised:
            self.kernel.launch(scaled_add_arguments(), {"a": 2.0})
        self.assertTrue(
            str(raised.exception).startswith("CUDA driver not found: /nonexistent/libcuda.so.1"),
            str(raised.exception),
        )
        self.assertEqual(raised.exception.status, "SA_ERROR_DRIVER_NOT_FOUND")


class Library(unittest.TestCase):
    def test_missing_library_says_where_it_looked(self):
        environment = dict(os.environ, SPARSE_ATTN_RUNTIME_LIBRARY="/nonexistent/libsparse.so")
        result = subprocess.run(
            [sys.executable, "-c", "import sparse_attn; sparse_attn.Runtime()"],
            env=environment,
            capture_output=True,
            text=True,
        )
        self.assertNotEqual(result.returncode, 0)
        self.assertIn(
            "OSError: sparse-attn runtime library not found (build it with `cmake -S "
            "runtime -B build-runtime && cmake --build build-runtime` and set "
            "SPARSE_ATTN_RUNTIME_LIBRARY",
            result.stderr,
        )
        self.assertIn(
            "/nonexistent/libsparse.so: /nonexistent/libsparse.so: cannot open shared "
            "object file",
            result.stderr,
        )


if __name__ == "__main__":
    unittest.main(verbosity=2)
