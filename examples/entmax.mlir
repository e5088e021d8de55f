// Row-wise alpha-entmax of a rank-3 tensor along its last dimension, for
// alpha = 1.5 and sparsemax (alpha = 2): every row sums to one and entries
// at or below the row threshold are exactly zero.
//
// Run: sparse-attn-run examples/entmax.mlir --check

func.func @entmax(%x: tensor<4x8x50xf32>) -> (tensor<4x8x50xf32>, tensor<4x8x50xf32>) {
  %p = sparse_attn.entmax %x <alpha = 1.5> : tensor<4x8x50xf32>
  %s = sparse_attn.entmax %x <alpha = 2.0> : tensor<4x8x50xf32>
  return %p, %s : tensor<4x8x50xf32>, tensor<4x8x50xf32>
}
