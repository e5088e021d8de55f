// RUN: sparse-attn-opt %s --sparse-attn-reference | FileCheck %s
// RUN: sparse-attn-opt %s --sparse-attn-reference | FileCheck %s --check-prefix=LLVM-ONLY

// The reference pipeline takes every sparse_attn op through its naive
// reference form to the LLVM dialect: nothing of another dialect is left.
// LLVM-ONLY-NOT: {{(sparse_attn|linalg|tensor|bufferization|memref|scf|cf|arith|math|affine|index|func|builtin)\.}}

// Masked bf16 softmax attention with varlen and the log-sum-exp statistic.

// CHECK-LABEL: llvm.func @attention(
// CHECK:         llvm.call @malloc
// CHECK:         llvm.intr.exp
// CHECK:         llvm.intr.log
// CHECK:         llvm.call @free
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

// Entmax attention with its threshold statistic: the bisection loop becomes
// a CFG loop.

// CHECK-LABEL: llvm.func @entmax_attention(
// CHECK:         llvm.cond_br
// CHECK:         llvm.return
func.func @entmax_attention(%q: tensor<1x2x8x16xf32>, %k: tensor<1x1x8x16xf32>, %v: tensor<1x1x8x16xf32>)
    -> (tensor<1x2x8x16xf32>, tensor<1x2x8xf32>) {
  %o, %tau = sparse_attn.attention entmax<alpha = 1.5> causal %q, %k, %v
      : tensor<1x2x8x16xf32>, tensor<1x1x8x16xf32>, tensor<1x1x8x16xf32>
      -> tensor<1x2x8x16xf32>, tensor<1x2x8xf32>
  return %o, %tau : tensor<1x2x8x16xf32>, tensor<1x2x8xf32>
}

// Row-wise entmax of a general alpha calls pow.

// CHECK-LABEL: llvm.func @entmax(
// CHECK:         llvm.intr.pow
// CHECK:         llvm.return %{{.*}} : !llvm.struct<(ptr, ptr, i64, array<2 x i64>, array<2 x i64>)>
func.func @entmax(%x: tensor<?x128xf32>) -> tensor<?x128xf32> {
  %p = sparse_attn.entmax %x <alpha = 1.25> : tensor<?x128xf32>
  return %p : tensor<?x128xf32>
}

// Block lists of a mask.

// CHECK-LABEL: llvm.func @mask_to_indices(
// CHECK:         llvm.return
func.func @mask_to_indices(%n: index) -> (tensor<1x1x?xi32>, tensor<1x1x?x?xi32>, tensor<1x1x?xi32>, tensor<1x1x?x?xi32>) {
  %m = sparse_attn.causal_mask(%n, %n) : !sparse_attn.block_mask<1x1x?x?, block = 64x64>
  %c, %i, %fc, %fi = sparse_attn.mask_to_indices %m : !sparse_attn.block_mask<1x1x?x?, block = 64x64>
      -> tensor<1x1x?xi32>, tensor<1x1x?x?xi32>, tensor<1x1x?xi32>, tensor<1x1x?x?xi32>
  return %c, %i, %fc, %fi : tensor<1x1x?xi32>, tensor<1x1x?x?xi32>, tensor<1x1x?xi32>, tensor<1x1x?x?xi32>
}
