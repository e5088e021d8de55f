// RUN: sparse-attn-opt %s -split-input-file -sparse-attn-expand-prefill | FileCheck %s

// XAttention: the estimator takes the prefill's configuration, causal flag,
// per-head thresholds, lengths and scale; square blocks of the block size.
// CHECK-LABEL: func.func @xattention
// CHECK-SAME: (%[[Q:.*]]: tensor<2x8x?x64xbf16>, %[[K:.*]]: tensor<2x2x?x64xbf16>, %[[V:.*]]: tensor<2x2x?x64xbf16>, %[[T:.*]]: tensor<8xf32>, %[[L:.*]]: tensor<2xi32>)
// CHECK:      %[[M:.*]] = sparse_attn.xattention_mask <stride = 16> causal %[[Q]], %[[K]] thresholds(%[[T]] : tensor<8xf32>) query_lengths(%[[L]] : tensor<2xi32>) key_lengths(%[[L]] : tensor<2xi32>) scale(1.250000e-01) : tensor<2x8x?x64xbf16>, tensor<2x2x?x64xbf16> -> !sparse_attn.block_mask<2x8x?x?, block = 64x64>
// CHECK-NEXT: %[[O:.*]], %[[LSE:.*]] = sparse_attn.attention softmax causal %[[Q]], %[[K]], %[[V]] mask(%[[M]] : !sparse_attn.block_mask<2x8x?x?, block = 64x64>) query_lengths(%[[L]] : tensor<2xi32>) key_lengths(%[[L]] : tensor<2xi32>) scale(1.250000e-01) : tensor<2x8x?x64xbf16>, tensor<2x2x?x64xbf16>, tensor<2x2x?x64xbf16> -> tensor<2x8x?x64xbf16>, tensor<2x8x?xf32>
// CHECK-NEXT: return %[[O]], %[[LSE]]
// CHECK-NOT:  sparse_attn.prefill
func.func @xattention(%q: tensor<2x8x?x64xbf16>, %k: tensor<2x2x?x64xbf16>, %v: tensor<2x2x?x64xbf16>,
                      %t: tensor<8xf32>, %len: tensor<2xi32>) -> (tensor<2x8x?x64xbf16>, tensor<2x8x?xf32>) {
  %o, %lse = sparse_attn.prefill xattention<stride = 16> causal %q, %k, %v thresholds(%t : tensor<8xf32>)
      query_lengths(%len : tensor<2xi32>) key_lengths(%len : tensor<2xi32>) scale(0.125) block(64)
      : tensor<2x8x?x64xbf16>, tensor<2x2x?x64xbf16>, tensor<2x2x?x64xbf16> -> tensor<2x8x?x64xbf16>, tensor<2x8x?xf32>
  return %o, %lse : tensor<2x8x?x64xbf16>, tensor<2x8x?xf32>
}

// -----

// FlexPrefill with the default block (128); the estimator's pattern codes
// are not asked for.
// CHECK-LABEL: func.func @flexprefill
// CHECK:      %[[M:.*]] = sparse_attn.flexprefill_mask <gamma = 0.95, max_budget = 8192> %{{.*}}, %{{.*}} : tensor<1x4x1000x32xf32>, tensor<1x4x1000x32xf32> -> !sparse_attn.block_mask<1x4x1000x1000, block = 128x128>
// CHECK-NEXT: sparse_attn.attention softmax causal %{{.*}}, %{{.*}}, %{{.*}} mask(%[[M]] : !sparse_attn.block_mask<1x4x1000x1000, block = 128x128>) : tensor<1x4x1000x32xf32>, tensor<1x4x1000x32xf32>, tensor<1x4x1000x32xf32> -> tensor<1x4x1000x32xf32>
func.func @flexprefill(%q: tensor<1x4x1000x32xf32>) -> tensor<1x4x1000x32xf32> {
  %o = sparse_attn.prefill flexprefill<gamma = 0.95, max_budget = 8192> causal %q, %q, %q
      : tensor<1x4x1000x32xf32>, tensor<1x4x1000x32xf32>, tensor<1x4x1000x32xf32> -> tensor<1x4x1000x32xf32>
  return %o : tensor<1x4x1000x32xf32>
}

// -----

// MInference with per-head budgets and the default block (64), intersected
// with the prefill's mask.
// CHECK-LABEL: func.func @minference
// CHECK-SAME: (%[[Q:.*]]: tensor<1x4x256x32xf16>, %[[B:.*]]: tensor<4x2xi32>, %[[S:.*]]: !sparse_attn.block_mask<1x1x256x256, block = 64x64>)
// CHECK:      %[[E:.*]] = sparse_attn.vertical_slash_mask <last_queries = 32> %[[Q]], %[[Q]] budgets(%[[B]] : tensor<4x2xi32>) : tensor<1x4x256x32xf16>, tensor<1x4x256x32xf16> -> !sparse_attn.block_mask<1x4x256x256, block = 64x64>
// CHECK-NEXT: %[[M:.*]] = sparse_attn.mask_intersect %[[E]], %[[S]] : !sparse_attn.block_mask<1x4x256x256, block = 64x64>, !sparse_attn.block_mask<1x1x256x256, block = 64x64> -> !sparse_attn.block_mask<1x4x256x256, block = 64x64>
// CHECK-NEXT: sparse_attn.attention softmax causal %[[Q]], %[[Q]], %[[Q]] mask(%[[M]] : !sparse_attn.block_mask<1x4x256x256, block = 64x64>)
func.func @minference(%q: tensor<1x4x256x32xf16>, %b: tensor<4x2xi32>,
                      %s: !sparse_attn.block_mask<1x1x256x256, block = 64x64>) -> tensor<1x4x256x32xf16> {
  %o = sparse_attn.prefill minference<last_queries = 32> causal %q, %q, %q
      mask(%s : !sparse_attn.block_mask<1x1x256x256, block = 64x64>) budgets(%b : tensor<4x2xi32>)
      : tensor<1x4x256x32xf16>, tensor<1x4x256x32xf16>, tensor<1x4x256x32xf16> -> tensor<1x4x256x32xf16>
  return %o : tensor<1x4x256x32xf16>
}

// -----

// Full: the attention alone, with the prefill's mask (any block size).
// CHECK-LABEL: func.func @full
// CHECK-NEXT: %{{.*}} = sparse_attn.attention softmax %{{.*}}, %{{.*}}, %{{.*}} mask(%{{.*}} : !sparse_attn.block_mask<1x1x?x?, block = 16x32>) : tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32> -> tensor<1x2x?x16xf32>
// CHECK-NOT:  sparse_attn.prefill
func.func @full(%q: tensor<1x2x?x16xf32>, %m: !sparse_attn.block_mask<1x1x?x?, block = 16x32>) -> tensor<1x2x?x16xf32> {
  %o = sparse_attn.prefill full %q, %q, %q mask(%m : !sparse_attn.block_mask<1x1x?x?, block = 16x32>)
      : tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32> -> tensor<1x2x?x16xf32>
  return %o : tensor<1x2x?x16xf32>
}

// -----

// Non-causal XAttention keeps its flag off; every prefill of a function is
// expanded.
// CHECK-LABEL: func.func @two_prefills
// CHECK:      sparse_attn.xattention_mask %{{.*}}, %{{.*}} :
// CHECK-NEXT: sparse_attn.attention softmax %{{.*}}
// CHECK-NEXT: sparse_attn.attention softmax causal %{{.*}}
func.func @two_prefills(%q: tensor<1x1x64x8xf32>) -> (tensor<1x1x64x8xf32>, tensor<1x1x64x8xf32>) {
  %a = sparse_attn.prefill xattention %q, %q, %q : tensor<1x1x64x8xf32>, tensor<1x1x64x8xf32>, tensor<1x1x64x8xf32> -> tensor<1x1x64x8xf32>
  %b = sparse_attn.prefill full causal %q, %q, %q : tensor<1x1x64x8xf32>, tensor<1x1x64x8xf32>, tensor<1x1x64x8xf32> -> tensor<1x1x64x8xf32>
  return %a, %b : tensor<1x1x64x8xf32>, tensor<1x1x64x8xf32>
}
