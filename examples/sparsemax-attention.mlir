// Sparsemax attention (entmax with alpha = 2): the weights are the Euclidean
// projection of the scores onto the simplex, p_ij = [s_ij - tau_i]_+. The
// explicit scale sharpens the scores so that each row keeps only a few keys.
//
// Run: sparse-attn-run examples/sparsemax-attention.mlir --check

func.func @sparsemax_attention(%q: tensor<2x4x40x16xf32>, %k: tensor<2x4x40x16xf32>,
                               %v: tensor<2x4x40x16xf32>)
    -> (tensor<2x4x40x16xf32>, tensor<2x4x40xf32>) {
  %o, %tau = sparse_attn.attention entmax<alpha = 2.0> %q, %k, %v scale(0.5)
      : tensor<2x4x40x16xf32>, tensor<2x4x40x16xf32>, tensor<2x4x40x16xf32>
      -> tensor<2x4x40x16xf32>, tensor<2x4x40xf32>
  return %o, %tau : tensor<2x4x40x16xf32>, tensor<2x4x40xf32>
}
