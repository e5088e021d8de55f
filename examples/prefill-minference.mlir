// MInference vertical-slash (ALGORITHMS.md section 7): from the attention of
// the last 64 queries, per head the 64 key columns and 96 diagonals of
// largest summed attention, the first 4 columns (attention sinks) and the
// 16 diagonals nearest the main one always among them; causal softmax
// attention then sees exactly those columns and diagonals (the mask is
// token-level: the blocks a diagonal crosses are partial). Queries are a
// 384-token chunk at the end of 640 keys (bottom-right aligned); 4 query
// heads on 1 key/value head. --check prints the density of 64 x 64 blocks
// holding a kept pair.
//
// Run: sparse-attn-run examples/prefill-minference.mlir --check

!mask = !sparse_attn.block_mask<1x4x384x640, block = 64x64>

func.func @minference(%q: tensor<1x4x384x64xf32>, %k: tensor<1x1x640x64xf32>,
                      %v: tensor<1x1x640x64xf32>) -> tensor<1x4x384x64xf32> {
  %mask = sparse_attn.vertical_slash_mask
      <vertical_size = 64, slash_size = 96, last_queries = 64, sink = 4, local = 16> %q, %k
      : tensor<1x4x384x64xf32>, tensor<1x1x640x64xf32> -> !mask
  %o = sparse_attn.attention softmax causal %q, %k, %v mask(%mask : !mask)
      : tensor<1x4x384x64xf32>, tensor<1x1x640x64xf32>, tensor<1x1x640x64xf32>
      -> tensor<1x4x384x64xf32>
  return %o : tensor<1x4x384x64xf32>
}
