// FlexPrefill (ALGORITHMS.md section 6) over 4 batch entries of up to 600
// tokens (varlen: the key and query lengths are arguments), 8 query heads
// on 2 key/value heads, 64 x 64 blocks: from the attention of each
// sequence's last 64 queries, per head the vertical and slash budgets that
// cover gamma = 0.9 of the mass (at least min_budget = 128 tokens, i.e. 2
// blocks of 64, not of 128), the Jensen-Shannon switch between query-aware
// and vertical-slash heads, and the blocks; a sequence of at most 128
// tokens is dense. The second result is each head's pattern (0 dense, 1
// vertical-slash, 2 query-aware). --check prints the block density of every
// (batch, head).
//
// Run: sparse-attn-run examples/prefill-flexprefill.mlir --check

!mask = !sparse_attn.block_mask<4x8x600x600, block = 64x64>

func.func @flexprefill(%q: tensor<4x8x600x64xf32>, %k: tensor<4x2x600x64xf32>,
                       %v: tensor<4x2x600x64xf32>, %lengths: tensor<4xi32>)
    -> (tensor<4x8x600x64xf32>, tensor<4x8xi32>) {
  %mask, %patterns = sparse_attn.flexprefill_mask <min_budget = 128> %q, %k
      query_lengths(%lengths : tensor<4xi32>) key_lengths(%lengths : tensor<4xi32>)
      : tensor<4x8x600x64xf32>, tensor<4x2x600x64xf32> -> !mask, tensor<4x8xi32>
  %o = sparse_attn.attention softmax causal %q, %k, %v mask(%mask : !mask)
      query_lengths(%lengths : tensor<4xi32>) key_lengths(%lengths : tensor<4xi32>)
      : tensor<4x8x600x64xf32>, tensor<4x2x600x64xf32>, tensor<4x2x600x64xf32>
      -> tensor<4x8x600x64xf32>
  return %o, %patterns : tensor<4x8x600x64xf32>, tensor<4x8xi32>
}
