// 1.5-entmax attention (AdaSplash): p_ij = [x_ij - tau_i]_+^2 with
// x = s / 2 and tau_i chosen so that each row sums to one; most weights are
// exactly zero. The statistic is tau (in units of x), what the backward
// needs. Causal, two heads sharing one key/value head.
//
// Run: sparse-attn-run examples/attention-entmax.mlir --check

func.func @attention_entmax(%q: tensor<1x2x64x32xf32>, %k: tensor<1x1x64x32xf32>,
                            %v: tensor<1x1x64x32xf32>)
    -> (tensor<1x2x64x32xf32>, tensor<1x2x64xf32>) {
  %o, %tau = sparse_attn.attention entmax<alpha = 1.5> causal %q, %k, %v
      : tensor<1x2x64x32xf32>, tensor<1x1x64x32xf32>, tensor<1x1x64x32xf32>
      -> tensor<1x2x64x32xf32>, tensor<1x2x64xf32>
  return %o, %tau : tensor<1x2x64x32xf32>, tensor<1x2x64xf32>
}
