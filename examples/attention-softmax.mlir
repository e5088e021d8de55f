// Dense softmax attention with the log-sum-exp statistic: one batch, four
// heads, 100 queries and keys of dimension 32, scale 1/sqrt(32) by default.
//
// Run: sparse-attn-run examples/attention-softmax.mlir --check

func.func @attention_softmax(%q: tensor<1x4x100x32xf32>, %k: tensor<1x4x100x32xf32>,
                             %v: tensor<1x4x100x32xf32>)
    -> (tensor<1x4x100x32xf32>, tensor<1x4x100xf32>) {
  %o, %lse = sparse_attn.attention softmax %q, %k, %v
      : tensor<1x4x100x32xf32>, tensor<1x4x100x32xf32>, tensor<1x4x100x32xf32>
      -> tensor<1x4x100x32xf32>, tensor<1x4x100xf32>
  return %o, %lse : tensor<1x4x100x32xf32>, tensor<1x4x100xf32>
}
