// DuoAttention-style heads in one attention (ALGORITHMS.md section 8): a
// per-head kind vector routes each of the 8 heads (Block-Sparse-Attention's
// head_mask_type codes): 0 retrieval heads see every key (with `causal`,
// full causal attention), -1 streaming heads see the 64 sink tokens and a
// 128-token window (A-shape), 1 the XAttention mask (block-sparse). 2
// batch entries of 768 tokens, 2 key/value heads. --check prints the block
// density of every mask and of the routed one per head.
//
// Run: sparse-attn-run examples/prefill-streaming-heads.mlir --check

!shared = !sparse_attn.block_mask<1x1x768x768, block = 64x64>
!heads = !sparse_attn.block_mask<2x8x768x768, block = 64x64>

func.func @streaming_heads(%q: tensor<2x8x768x64xf32>, %k: tensor<2x2x768x64xf32>,
                           %v: tensor<2x2x768x64xf32>) -> tensor<2x8x768x64xf32> {
  %kinds = arith.constant dense<[0, -1, -1, 1, 0, -1, 1, -1]> : tensor<8xi32>
  %streaming = sparse_attn.streaming_mask() sink(64) window(128) : !shared
  %block_sparse = sparse_attn.xattention_mask <threshold = 0.8> causal %q, %k
      : tensor<2x8x768x64xf32>, tensor<2x2x768x64xf32> -> !heads
  %mask = sparse_attn.mask_route_heads %kinds streaming(%streaming : !shared)
      masks(%block_sparse : !heads) () : tensor<8xi32> -> !heads
  %o = sparse_attn.attention softmax causal %q, %k, %v mask(%mask : !heads)
      : tensor<2x8x768x64xf32>, tensor<2x2x768x64xf32>, tensor<2x2x768x64xf32>
      -> tensor<2x8x768x64xf32>
  return %o : tensor<2x8x768x64xf32>
}
