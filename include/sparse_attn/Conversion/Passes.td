//===- Passes.td - sparse_attn conversion passes -----------*- tablegen -*-===//

#ifndef SPARSE_ATTN_CONVERSION_PASSES_TD
#define SPARSE_ATTN_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

def ConvertSparseAttnToLinalgPass
    : Pass<"convert-sparse-attn-to-linalg", "ModuleOp"> {
  let summary = "Lower sparse_attn ops to their naive reference form";
  let description = [{
    Rewrites every `sparse_attn` op into linalg, tensor, arith, math and scf
    ops on tensors in the most direct form of its definition
    (docs/design/semantics.md). The result is the oracle that the tiled
    lowerings are checked against; it is not meant to be fast.

    - `sparse_attn.attention` materialises the visibility
      `tensor<B x H x Nq x Nk x i1>` (valid lengths, bottom-right aligned
      causality, the mask with batch/head extents of 1 broadcast) and the f32
      scores `scale * q . k (+ bias)` over the full `[B, H, Nq, Nk]` matrix,
      normalises every row over its visible entries, and contracts the
      weights with the values. Key/value heads are read at `h / g` with
      `tensor.extract` (no copies; `g` may be dynamic). bf16/f16 are computed
      in f32 and the output rounded. Rows without a visible key give zeros
      and the statistic `-inf` (log-sum-exp) or `+inf` (entmax threshold).
    - Entmax (attention and the row-wise `sparse_attn.entmax`, one shared
      lowering) finds the threshold relative to the row maximum by bisection
      on `[-1, 0]` in an `scf.while` that runs until no row's bracket can
      shrink in f32, then divides the weights by their sum to remove the
      residual of the search. alpha = 2 and 1.5 use no `math.powf`. The
      `iterations` parameter is ignored: the reference is always solved to
      full precision.
    - Block masks become their token-level visibility
      `tensor<Bm x Hm x Nq x Nk x i1>` (the type converter also rewrites
      function signatures, calls, returns, branches and scf ops carrying
      them). `mask_to_indices` classifies every block by scanning its clipped
      region and lists full and partial blocks in ascending order.
    - The prefill estimators materialise every intermediate of their
      algorithm in f32 (antidiagonal scores, estimation rows of the last
      queries, block masses and profiles) and select exactly: each entry's
      rank counts the candidates before it in the ranked order, the values
      are gathered in that order and summed cumulatively in it, so that a
      threshold selects a prefix of the order; the masks are token-level
      (PrefillToLinalg.cpp). `mask_route_heads` selects per head among its
      operands; `prefill` becomes its estimator and attention
      (`PrefillOp::expand`), which then lower as above.

    Example:

    ```mlir
    %o = sparse_attn.attention softmax %q, %k, %v
        : tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>
        -> tensor<1x2x8x16xf32>
    ```

    becomes a `linalg.generic` computing the dot products (reduction over
    `D`), one scaling the scores, row max and row sum reductions, one
    computing the normalised weights, and a contraction with the values
    (reduction over `Nk`).
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
