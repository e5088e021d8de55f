// RUN: sparse-attn-opt %s -split-input-file -sparse-attn-decompose-estimators | FileCheck %s

// A causal estimator: the lists of its selection, intersected with the
// causal mask; dynamic lengths read from the operands.
// CHECK-LABEL: func.func @xattention_causal
// CHECK-SAME: (%[[Q:.*]]: tensor<2x8x?x64xbf16>, %[[K:.*]]: tensor<2x2x?x64xbf16>, %[[T:.*]]: tensor<8xf32>)
// CHECK:      %[[N:.*]], %[[I:.*]] = sparse_attn.select_blocks xattention<stride = 16> causal %[[Q]], %[[K]] thresholds(%[[T]] : tensor<8xf32>) scale(5.000000e-01) block(64, 128) : tensor<2x8x?x64xbf16>, tensor<2x2x?x64xbf16> -> tensor<2x8x?xi32>, tensor<2x8x?x?xi32>
// CHECK:      %[[NQ:.*]] = tensor.dim %[[Q]], %{{.*}} : tensor<2x8x?x64xbf16>
// CHECK:      %[[NK:.*]] = tensor.dim %[[K]], %{{.*}} : tensor<2x2x?x64xbf16>
// CHECK-NEXT: %[[S:.*]] = sparse_attn.mask_from_indices %[[N]], %[[I]] (%[[NQ]], %[[NK]]) : tensor<2x8x?xi32>, tensor<2x8x?x?xi32> -> !sparse_attn.block_mask<2x8x?x?, block = 64x128>
// CHECK-NEXT: %[[C:.*]] = sparse_attn.causal_mask(%[[NQ]], %[[NK]]) : !sparse_attn.block_mask<1x1x?x?, block = 64x128>
// CHECK-NEXT: %[[M:.*]] = sparse_attn.mask_intersect %[[S]], %[[C]] : !sparse_attn.block_mask<2x8x?x?, block = 64x128>, !sparse_attn.block_mask<1x1x?x?, block = 64x128> -> !sparse_attn.block_mask<2x8x?x?, block = 64x128>
// CHECK-NEXT: return %[[M]]
// CHECK-NOT:  sparse_attn.xattention_mask
func.func @xattention_causal(%q: tensor<2x8x?x64xbf16>, %k: tensor<2x2x?x64xbf16>, %t: tensor<8xf32>) -> !sparse_attn.block_mask<2x8x?x?, block = 64x128> {
  %m = sparse_attn.xattention_mask <stride = 16> causal %q, %k thresholds(%t : tensor<8xf32>) scale(0.5)
      : tensor<2x8x?x64xbf16>, tensor<2x2x?x64xbf16> -> !sparse_attn.block_mask<2x8x?x?, block = 64x128>
  return %m : !sparse_attn.block_mask<2x8x?x?, block = 64x128>
}

// -----

// Not causal: the lists alone.
// CHECK-LABEL: func.func @xattention_not_causal
// CHECK:      %[[N:.*]], %[[I:.*]] = sparse_attn.select_blocks xattention %{{.*}}, %{{.*}} block(64, 64) : tensor<1x4x256x32xf32>, tensor<1x4x256x32xf32> -> tensor<1x4x4xi32>, tensor<1x4x4x4xi32>
// CHECK-NEXT: %[[M:.*]] = sparse_attn.mask_from_indices %[[N]], %[[I]] () : tensor<1x4x4xi32>, tensor<1x4x4x4xi32> -> !sparse_attn.block_mask<1x4x256x256, block = 64x64>
// CHECK-NEXT: return %[[M]]
func.func @xattention_not_causal(%q: tensor<1x4x256x32xf32>) -> !sparse_attn.block_mask<1x4x256x256, block = 64x64> {
  %m = sparse_attn.xattention_mask %q, %q
      : tensor<1x4x256x32xf32>, tensor<1x4x256x32xf32> -> !sparse_attn.block_mask<1x4x256x256, block = 64x64>
  return %m : !sparse_attn.block_mask<1x4x256x256, block = 64x64>
}

// -----

// FlexPrefill is causal; its pattern codes come from the selection.
// CHECK-LABEL: func.func @flexprefill_patterns
// CHECK:      %[[N:.*]], %[[I:.*]], %[[P:.*]] = sparse_attn.select_blocks flexprefill<gamma = 0.95> causal %{{.*}}, %{{.*}} block(64, 64) : tensor<1x4x256x32xf32>, tensor<1x4x256x32xf32> -> tensor<1x4x4xi32>, tensor<1x4x4x4xi32>, tensor<1x4xi32>
// CHECK-NEXT: %[[S:.*]] = sparse_attn.mask_from_indices %[[N]], %[[I]] ()
// CHECK-NEXT: %[[C:.*]] = sparse_attn.causal_mask() : !sparse_attn.block_mask<1x1x256x256, block = 64x64>
// CHECK-NEXT: %[[M:.*]] = sparse_attn.mask_intersect %[[S]], %[[C]]
// CHECK-NEXT: return %[[M]], %[[P]]
func.func @flexprefill_patterns(%q: tensor<1x4x256x32xf32>) -> (!sparse_attn.block_mask<1x4x256x256, block = 64x64>, tensor<1x4xi32>) {
  %m, %p = sparse_attn.flexprefill_mask <gamma = 0.95> %q, %q
      : tensor<1x4x256x32xf32>, tensor<1x4x256x32xf32> -> !sparse_attn.block_mask<1x4x256x256, block = 64x64>, tensor<1x4xi32>
  return %m, %p : !sparse_attn.block_mask<1x4x256x256, block = 64x64>, tensor<1x4xi32>
}

// -----

// Varlen: the attention with the same lengths (and causal) applies the
// valid and causal pairs itself, so the lists are its whole mask.
// CHECK-LABEL: func.func @varlen_attention
// CHECK-SAME: (%[[Q:.*]]: tensor<2x4x256x32xf32>, %[[L:.*]]: tensor<2xi32>)
// CHECK:      %[[N:.*]], %[[I:.*]] = sparse_attn.select_blocks xattention causal %[[Q]], %[[Q]] query_lengths(%[[L]] : tensor<2xi32>) key_lengths(%[[L]] : tensor<2xi32>) block(64, 64)
// CHECK-NEXT: %[[M:.*]] = sparse_attn.mask_from_indices %[[N]], %[[I]] ()
// CHECK-NEXT: sparse_attn.attention softmax causal %[[Q]], %[[Q]], %[[Q]] mask(%[[M]] : !sparse_attn.block_mask<2x4x256x256, block = 64x64>) query_lengths(%[[L]] : tensor<2xi32>) key_lengths(%[[L]] : tensor<2xi32>)
// CHECK-NOT:  sparse_attn.causal_mask
func.func @varlen_attention(%q: tensor<2x4x256x32xf32>, %len: tensor<2xi32>) -> tensor<2x4x256x32xf32> {
  %m = sparse_attn.xattention_mask causal %q, %q query_lengths(%len : tensor<2xi32>) key_lengths(%len : tensor<2xi32>)
      : tensor<2x4x256x32xf32>, tensor<2x4x256x32xf32> -> !sparse_attn.block_mask<2x4x256x256, block = 64x64>
  %o = sparse_attn.attention softmax causal %q, %q, %q mask(%m : !sparse_attn.block_mask<2x4x256x256, block = 64x64>)
      query_lengths(%len : tensor<2xi32>) key_lengths(%len : tensor<2xi32>)
      : tensor<2x4x256x32xf32>, tensor<2x4x256x32xf32>, tensor<2x4x256x32xf32> -> tensor<2x4x256x32xf32>
  return %o : tensor<2x4x256x32xf32>
}

// -----

// Varlen, but the consumer has other lengths: the estimator stays.
// CHECK-LABEL: func.func @varlen_other_lengths
// CHECK-NOT:  sparse_attn.select_blocks
// CHECK:      sparse_attn.xattention_mask causal
func.func @varlen_other_lengths(%q: tensor<2x4x256x32xf32>, %len: tensor<2xi32>, %other: tensor<2xi32>) -> tensor<2x4x256x32xf32> {
  %m = sparse_attn.xattention_mask causal %q, %q key_lengths(%len : tensor<2xi32>)
      : tensor<2x4x256x32xf32>, tensor<2x4x256x32xf32> -> !sparse_attn.block_mask<2x4x256x256, block = 64x64>
  %o = sparse_attn.attention softmax causal %q, %q, %q mask(%m : !sparse_attn.block_mask<2x4x256x256, block = 64x64>)
      key_lengths(%other : tensor<2xi32>)
      : tensor<2x4x256x32xf32>, tensor<2x4x256x32xf32>, tensor<2x4x256x32xf32> -> tensor<2x4x256x32xf32>
  return %o : tensor<2x4x256x32xf32>
}

// -----

// Varlen, causal estimator, consumer not causal: the estimator stays.
// CHECK-LABEL: func.func @varlen_not_causal_consumer
// CHECK-NOT:  sparse_attn.select_blocks
// CHECK:      sparse_attn.flexprefill_mask
func.func @varlen_not_causal_consumer(%q: tensor<2x4x256x32xf32>, %len: tensor<2xi32>) -> tensor<2x4x256x32xf32> {
  %m, %p = sparse_attn.flexprefill_mask %q, %q key_lengths(%len : tensor<2xi32>)
      : tensor<2x4x256x32xf32>, tensor<2x4x256x32xf32> -> !sparse_attn.block_mask<2x4x256x256, block = 64x64>, tensor<2x4xi32>
  %o = sparse_attn.attention softmax %q, %q, %q mask(%m : !sparse_attn.block_mask<2x4x256x256, block = 64x64>)
      key_lengths(%len : tensor<2xi32>)
      : tensor<2x4x256x32xf32>, tensor<2x4x256x32xf32>, tensor<2x4x256x32xf32> -> tensor<2x4x256x32xf32>
  return %o : tensor<2x4x256x32xf32>
}

// -----

// Varlen, the mask escapes: the estimator stays.
// CHECK-LABEL: func.func @varlen_returned
// CHECK-NOT:  sparse_attn.select_blocks
// CHECK:      sparse_attn.xattention_mask
func.func @varlen_returned(%q: tensor<2x4x256x32xf32>, %len: tensor<2xi32>) -> !sparse_attn.block_mask<2x4x256x256, block = 64x64> {
  %m = sparse_attn.xattention_mask %q, %q query_lengths(%len : tensor<2xi32>)
      : tensor<2x4x256x32xf32>, tensor<2x4x256x32xf32> -> !sparse_attn.block_mask<2x4x256x256, block = 64x64>
  return %m : !sparse_attn.block_mask<2x4x256x256, block = 64x64>
}

// -----

// Vertical-slash masks are not block selections: untouched.
// CHECK-LABEL: func.func @vertical_slash
// CHECK-NEXT: sparse_attn.vertical_slash_mask
func.func @vertical_slash(%q: tensor<1x4x256x32xf32>) -> !sparse_attn.block_mask<1x4x256x256, block = 64x64> {
  %m = sparse_attn.vertical_slash_mask %q, %q
      : tensor<1x4x256x32xf32>, tensor<1x4x256x32xf32> -> !sparse_attn.block_mask<1x4x256x256, block = 64x64>
  return %m : !sparse_attn.block_mask<1x4x256x256, block = 64x64>
}
