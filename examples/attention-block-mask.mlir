// Block-sparse attention with a FlexAttention BlockMask handed over as its
// index tensors: 2 query blocks x 3 key blocks of 64 tokens (96 queries and
// 160 keys, the last blocks cropped). The tensors list key block 0 as full
// and key block 2 as partial for query block 0, key blocks 1 and 2 as
// partial for query block 1. Intersected with the bottom-right causal mask
// (query i sees keys j <= i + 64), query block 0 keeps only key block 0.
//
// Run: sparse-attn-run examples/attention-block-mask.mlir --check

!mask = !sparse_attn.block_mask<1x1x96x160, block = 64x64>

func.func @attention_block_mask(%q: tensor<1x4x96x32xf32>, %k: tensor<1x4x160x32xf32>,
                                %v: tensor<1x4x160x32xf32>) -> tensor<1x4x96x32xf32> {
  %num = arith.constant dense<[[[1, 2]]]> : tensor<1x1x2xi32>
  %idx = arith.constant dense<[[[[2, 0, 0], [1, 2, 0]]]]> : tensor<1x1x2x3xi32>
  %full_num = arith.constant dense<[[[1, 0]]]> : tensor<1x1x2xi32>
  %full_idx = arith.constant dense<0> : tensor<1x1x2x3xi32>
  %flex = sparse_attn.mask_from_indices %num, %idx full(%full_num, %full_idx) ()
      : tensor<1x1x2xi32>, tensor<1x1x2x3xi32>, tensor<1x1x2xi32>, tensor<1x1x2x3xi32>
      -> !mask
  %causal = sparse_attn.causal_mask() : !mask
  %mask = sparse_attn.mask_intersect %flex, %causal : !mask, !mask -> !mask
  %o = sparse_attn.attention softmax %q, %k, %v mask(%mask : !mask)
      : tensor<1x4x96x32xf32>, tensor<1x4x160x32xf32>, tensor<1x4x160x32xf32>
      -> tensor<1x4x96x32xf32>
  return %o : tensor<1x4x96x32xf32>
}
