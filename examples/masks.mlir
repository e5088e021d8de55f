// Block-mask algebra on 100 x 100 scores in 32 x 32 blocks (4 x 4 blocks, the
// last row and column of blocks cropped to 4 tokens):
//   - a FlexAttention-style mask from index tensors, per head: head 0 lists
//     the first key block for every query block, head 1 the diagonal block;
//   - its union with a streaming (sink 4 + window 20) mask shared by both
//     heads, then the intersection with the causal mask;
//   - mask_to_indices of the result: the partial and the full blocks of each
//     query block row, as a FlexAttention BlockMask holds them.
//
// Run: sparse-attn-run examples/masks.mlir --check

!mask_shared = !sparse_attn.block_mask<1x1x100x100, block = 32x32>
!mask_heads = !sparse_attn.block_mask<1x2x100x100, block = 32x32>

func.func @masks() -> (tensor<1x2x4xi32>, tensor<1x2x4x4xi32>, tensor<1x2x4xi32>,
                       tensor<1x2x4x4xi32>) {
  %num = arith.constant dense<1> : tensor<1x2x4xi32>
  %idx = arith.constant dense<[[[[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]],
                                [[0, 0, 0, 0], [1, 0, 0, 0], [2, 0, 0, 0], [3, 0, 0, 0]]]]>
      : tensor<1x2x4x4xi32>
  %flex = sparse_attn.mask_from_indices %num, %idx ()
      : tensor<1x2x4xi32>, tensor<1x2x4x4xi32> -> !mask_heads
  %streaming = sparse_attn.streaming_mask() sink(4) window(20) : !mask_shared
  %causal = sparse_attn.causal_mask() : !mask_shared
  %either = sparse_attn.mask_union %flex, %streaming : !mask_heads, !mask_shared -> !mask_heads
  %mask = sparse_attn.mask_intersect %either, %causal : !mask_heads, !mask_shared -> !mask_heads
  %n, %i, %fn, %fi = sparse_attn.mask_to_indices %mask : !mask_heads
      -> tensor<1x2x4xi32>, tensor<1x2x4x4xi32>, tensor<1x2x4xi32>, tensor<1x2x4x4xi32>
  return %n, %i, %fn, %fi : tensor<1x2x4xi32>, tensor<1x2x4x4xi32>, tensor<1x2x4xi32>,
      tensor<1x2x4x4xi32>
}
