// RUN: sparse-attn-opt %s --sparse-attn-to-cpu | FileCheck %s
// RUN: sparse-attn-opt %s --sparse-attn-to-cpu | FileCheck %s --check-prefix=LLVM-ONLY
// RUN: sparse-attn-opt %s --sparse-attn-to-cpu="query-tile=128 key-tile=128 instrument=true" | FileCheck %s --check-prefix=INSTRUMENTED

// The tiled CPU pipeline takes attention, row-wise entmax and the mask ops
// that leave an attention (mask_to_indices) to the LLVM dialect: nothing of
// another dialect is left. The query-tile grid runs as a loop.
// LLVM-ONLY-NOT: {{(sparse_attn|linalg|tensor|bufferization|memref|scf|cf|arith|math|affine|index|func|builtin)\.}}

// Masked bf16 softmax attention with varlen and the log-sum-exp statistic:
// exp2 (log2(e) folded into the scale), no exp.

// CHECK-LABEL: llvm.func @attention(
// CHECK:         llvm.intr.exp2
// CHECK-NOT:     llvm.intr.exp(
// CHECK:         llvm.intr.log2
// CHECK:         llvm.return %{{.*}} : !llvm.struct<(struct<(ptr, ptr, i64, array<4 x i64>, array<4 x i64>)>, struct<(ptr, ptr, i64, array<3 x i64>, array<3 x i64>)>)>
func.func @attention(%q: tensor<2x4x?x16xbf16>, %k: tensor<2x2x?x16xbf16>, %v: tensor<2x2x?x16xbf16>,
                     %query_lengths: tensor<2xi32>, %key_lengths: tensor<2xi32>, %n: index)
    -> (tensor<2x4x?x16xbf16>, tensor<2x4x?xf32>) {
  %causal = sparse_attn.causal_mask(%n, %n) : !sparse_attn.block_mask<1x1x?x?, block = 64x64>
  %streaming = sparse_attn.streaming_mask(%n, %n) sink(4) window(64)
      : !sparse_attn.block_mask<1x1x?x?, block = 64x64>
  %mask = sparse_attn.mask_intersect %causal, %streaming
      : !sparse_attn.block_mask<1x1x?x?, block = 64x64>, !sparse_attn.block_mask<1x1x?x?, block = 64x64>
      -> !sparse_attn.block_mask<1x1x?x?, block = 64x64>
  %o, %lse = sparse_attn.attention softmax %q, %k, %v
      mask(%mask : !sparse_attn.block_mask<1x1x?x?, block = 64x64>)
      query_lengths(%query_lengths : tensor<2xi32>) key_lengths(%key_lengths : tensor<2xi32>)
      : tensor<2x4x?x16xbf16>, tensor<2x2x?x16xbf16>, tensor<2x2x?x16xbf16>
      -> tensor<2x4x?x16xbf16>, tensor<2x4x?xf32>
  return %o, %lse : tensor<2x4x?x16xbf16>, tensor<2x4x?xf32>
}

// Entmax 1.5 attention: no pow, a square root in the closed-form step.

// CHECK-LABEL: llvm.func @entmax_attention(
// CHECK-NOT:     llvm.intr.pow
// CHECK:         llvm.intr.sqrt
// CHECK:         llvm.return
func.func @entmax_attention(%q: tensor<1x2x100x16xf32>, %k: tensor<1x1x100x16xf32>)
    -> (tensor<1x2x100x16xf32>, tensor<1x2x100xf32>) {
  %o, %tau = sparse_attn.attention entmax<alpha = 1.5> causal %q, %k, %k
      : tensor<1x2x100x16xf32>, tensor<1x1x100x16xf32>, tensor<1x1x100x16xf32>
      -> tensor<1x2x100x16xf32>, tensor<1x2x100xf32>
  return %o, %tau : tensor<1x2x100x16xf32>, tensor<1x2x100xf32>
}

// Row-wise entmax of a general alpha calls pow.

// CHECK-LABEL: llvm.func @entmax(
// CHECK:         llvm.intr.pow
// CHECK:         llvm.return %{{.*}} : !llvm.struct<(ptr, ptr, i64, array<2 x i64>, array<2 x i64>)>
func.func @entmax(%x: tensor<?x300xf32>) -> tensor<?x300xf32> {
  %p = sparse_attn.entmax %x <alpha = 1.25> : tensor<?x300xf32>
  return %p : tensor<?x300xf32>
}

// Block lists of a mask take their reference form.

// CHECK-LABEL: llvm.func @mask_to_indices(
// CHECK:         llvm.return
func.func @mask_to_indices(%num: tensor<1x2x2xi32>, %idx: tensor<1x2x2x2xi32>)
    -> (tensor<1x2x2xi32>, tensor<1x2x2x2xi32>, tensor<1x2x2xi32>, tensor<1x2x2x2xi32>) {
  %m = sparse_attn.mask_from_indices %num, %idx ()
      : tensor<1x2x2xi32>, tensor<1x2x2x2xi32> -> !sparse_attn.block_mask<1x2x128x128, block = 64x64>
  %a, %b, %c, %d = sparse_attn.mask_to_indices %m : !sparse_attn.block_mask<1x2x128x128, block = 64x64>
      -> tensor<1x2x2xi32>, tensor<1x2x2x2xi32>, tensor<1x2x2xi32>, tensor<1x2x2x2xi32>
  return %a, %b, %c, %d : tensor<1x2x2xi32>, tensor<1x2x2x2xi32>, tensor<1x2x2xi32>, tensor<1x2x2x2xi32>
}

// Instrumented: the counters are public LLVM globals that a runner reads
// after execution (three tiled grids: kinds 0, 1, 3), updated atomically.

// INSTRUMENTED-DAG: llvm.mlir.global external @sparse_attn_counters(dense<0> : tensor<3x264xi64>) {addr_space = 0 : i32} : !llvm.array<3 x array<264 x i64>>
// INSTRUMENTED-DAG: llvm.mlir.global external constant @sparse_attn_counters_layout(dense<[1, 3, 264, 128, 0, 1, 3]>
// INSTRUMENTED: llvm.atomicrmw add
