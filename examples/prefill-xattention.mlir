// XAttention (ALGORITHMS.md section 5): antidiagonal scoring with stride 8,
// softmax over the key groups, block sums, and for every query block of 64
// rows the sink block, its own diagonal block and the heaviest other blocks
// until the head's threshold of the row's estimated mass is kept (per-head
// thresholds, as XAttention's threshold tables give them); then causal
// softmax attention under that mask. 8 query heads read 2 key/value heads
// (GQA, no copies); 500 tokens, so the last block row and column are
// cropped. --check prints the block density of every head.
//
// Run: sparse-attn-run examples/prefill-xattention.mlir --check

!mask = !sparse_attn.block_mask<1x8x500x500, block = 64x64>

func.func @xattention(%q: tensor<1x8x500x64xf32>, %k: tensor<1x2x500x64xf32>,
                      %v: tensor<1x2x500x64xf32>) -> tensor<1x8x500x64xf32> {
  %thresholds = arith.constant dense<[0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.6, 0.7]>
      : tensor<8xf32>
  %mask = sparse_attn.xattention_mask <stride = 8> causal %q, %k
      thresholds(%thresholds : tensor<8xf32>)
      : tensor<1x8x500x64xf32>, tensor<1x2x500x64xf32> -> !mask
  %o = sparse_attn.attention softmax causal %q, %k, %v mask(%mask : !mask)
      : tensor<1x8x500x64xf32>, tensor<1x2x500x64xf32>, tensor<1x2x500x64xf32>
      -> tensor<1x8x500x64xf32>
  return %o : tensor<1x8x500x64xf32>
}
