// Variable-length (right-padded) causal attention: three sequences padded to
// 50 tokens with valid lengths 50, 17 and 0. Padded query rows and the empty
// sequence produce zeros and a -inf log-sum-exp; lengths past the padding
// would be clamped.
//
// Run: sparse-attn-run examples/attention-varlen.mlir --check

func.func @attention_varlen(%q: tensor<3x2x50x16xf32>, %k: tensor<3x2x50x16xf32>,
                            %v: tensor<3x2x50x16xf32>)
    -> (tensor<3x2x50x16xf32>, tensor<3x2x50xf32>) {
  %lengths = arith.constant dense<[50, 17, 0]> : tensor<3xi32>
  %o, %lse = sparse_attn.attention softmax causal %q, %k, %v
      query_lengths(%lengths : tensor<3xi32>) key_lengths(%lengths : tensor<3xi32>)
      : tensor<3x2x50x16xf32>, tensor<3x2x50x16xf32>, tensor<3x2x50x16xf32>
      -> tensor<3x2x50x16xf32>, tensor<3x2x50xf32>
  return %o, %lse : tensor<3x2x50x16xf32>, tensor<3x2x50xf32>
}
