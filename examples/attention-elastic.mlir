// Lazy Attention's elastic softmax: causal softmax P with a positional bias
// b_h[i - j] for the 16 most recent keys, then A_ij = max(0, P_ij + tau_h /
// (i + 1)) without renormalisation. With tau_h = -1 a key survives only if
// it beats the uniform weight 1/(i + 1). The bias and tau are generated
// inputs like q, k and v.
//
// Run: sparse-attn-run examples/attention-elastic.mlir --check

func.func @attention_elastic(%q: tensor<1x4x72x32xf32>, %k: tensor<1x4x72x32xf32>,
                             %v: tensor<1x4x72x32xf32>, %bias: tensor<4x16xf32>,
                             %tau: tensor<4xf32>)
    -> (tensor<1x4x72x32xf32>, tensor<1x4x72xf32>) {
  %o, %lse = sparse_attn.attention elastic_softmax causal %q, %k, %v
      bias(%bias : tensor<4x16xf32>) tau(%tau : tensor<4xf32>)
      : tensor<1x4x72x32xf32>, tensor<1x4x72x32xf32>, tensor<1x4x72x32xf32>
      -> tensor<1x4x72x32xf32>, tensor<1x4x72xf32>
  return %o, %lse : tensor<1x4x72x32xf32>, tensor<1x4x72xf32>
}
