// The prefill op: what SparseAttn's Xattention_prefill, Flexprefill_prefill,
// Minference_prefill and Full_prefill compute, each one op whose pattern
// names the method (sparse-attn-expand-prefill rewrites it into the
// estimator and softmax attention):
//   - xattention<threshold = 0.95>: Xattention_prefill(q, k, v,
//     threshold=0.95, causal=True), stride 8, 128 x 128 blocks;
//   - flexprefill<gamma = 0.95, min_budget = 128>: Flexprefill_prefill with
//     64 x 64 blocks;
//   - minference<vertical_size = 100, slash_size = 200>:
//     Minference_prefill(q, k, v, vertical_size=100, slash_size=200);
//   - full: Full_prefill(q, k, v, causal=True).
// 8 query heads on 2 key/value heads of 640 tokens, no copies. --check prints
// the block density of the mask each estimating prefill runs under.
//
// Run: sparse-attn-run examples/prefill.mlir --check

func.func @prefill(%q: tensor<1x8x640x64xf32>, %k: tensor<1x2x640x64xf32>,
                   %v: tensor<1x2x640x64xf32>)
    -> (tensor<1x8x640x64xf32>, tensor<1x8x640x64xf32>, tensor<1x8x640x64xf32>,
        tensor<1x8x640x64xf32>) {
  %xattention = sparse_attn.prefill xattention<threshold = 0.95> causal %q, %k, %v
      : tensor<1x8x640x64xf32>, tensor<1x2x640x64xf32>, tensor<1x2x640x64xf32>
      -> tensor<1x8x640x64xf32>
  %flexprefill = sparse_attn.prefill flexprefill<gamma = 0.95, min_budget = 128> causal
      %q, %k, %v block(64)
      : tensor<1x8x640x64xf32>, tensor<1x2x640x64xf32>, tensor<1x2x640x64xf32>
      -> tensor<1x8x640x64xf32>
  %minference = sparse_attn.prefill minference<vertical_size = 100, slash_size = 200> causal
      %q, %k, %v
      : tensor<1x8x640x64xf32>, tensor<1x2x640x64xf32>, tensor<1x2x640x64xf32>
      -> tensor<1x8x640x64xf32>
  %full = sparse_attn.prefill full causal %q, %k, %v
      : tensor<1x8x640x64xf32>, tensor<1x2x640x64xf32>, tensor<1x2x640x64xf32>
      -> tensor<1x8x640x64xf32>
  return %xattention, %flexprefill, %minference, %full
      : tensor<1x8x640x64xf32>, tensor<1x8x640x64xf32>, tensor<1x8x640x64xf32>,
        tensor<1x8x640x64xf32>
}
