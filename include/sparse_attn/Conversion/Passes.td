//===- Passes.td - sparse_attn conversion passes -----------*- tablegen -*-===//

#ifndef SPARSE_ATTN_CONVERSION_PASSES_TD
#define SPARSE_ATTN_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

def ConvertSparseAttnToLinalgPass
    : Pass<"convert-sparse-attn-to-linalg", "ModuleOp"> {
  let summary = "Lower sparse_attn ops to their naive reference form";
  let description = [{
    Rewrites every `sparse_attn` op into linalg, tensor, arith, math and scf
    ops on tensors in the most direct form of its definition: attention
    materialises the full `[B, H, Nq, Nk]` score matrix, the entmax
    threshold is found by bisection to full precision and the row then
    renormalised, and every block mask becomes its token-level visibility
    tensor `tensor<B x H x Nq x Nk x i1>`. The result is the oracle that the
    tiled lowerings are checked against; it is not meant to be fast.

    Example:

    ```mlir
    %o = sparse_attn.attention softmax %q, %k, %v : ... -> tensor<1x2x8x16xf32>
    ```

    becomes a `linalg.generic` computing the scores, row max and sum
    reductions, the normalised weights and a contraction with the values.
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::math::MathDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::tensor::TensorDialect",
  ];
}

#endif // SPARSE_ATTN_CONVERSION_PASSES_TD
