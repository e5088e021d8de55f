//===- SparseAttnAttributes.td - sparse_attn attributes ----*- tablegen -*-===//

#ifndef SPARSE_ATTN_ATTRIBUTES_TD
#define SPARSE_ATTN_ATTRIBUTES_TD

include "mlir/IR/AttrTypeBase.td"
include "sparse_attn/Dialect/SparseAttn/IR/SparseAttnDialect.td"
include "sparse_attn/Dialect/SparseAttn/IR/SparseAttnInterfaces.td"

class SparseAttn_Attr<string name, string attrMnemonic, list<Trait> traits = []>
    : AttrDef<SparseAttn_Dialect, name, traits> {
  let mnemonic = attrMnemonic;
}

def SparseAttn_SoftmaxAttr : SparseAttn_Attr<"Softmax", "softmax",
    [DeclareAttrInterfaceMethods<SparseAttn_NormalizerAttrInterface>]> {
  let summary = "softmax normalizer";
  let description = [{
    `p_ij = exp(s_ij - m_i) / sum_j exp(s_ij - m_i)` over the visible keys.
    The backward statistic is the row log-sum-exp.

    Example:

    ```mlir
    %o = sparse_attn.attention softmax %q, %k, %v
        : tensor<1x8x128x64xf32>, tensor<1x8x128x64xf32>,
          tensor<1x8x128x64xf32> -> tensor<1x8x128x64xf32>
    ```
  }];
}

def SparseAttn_EntmaxAttr : SparseAttn_Attr<"Entmax", "entmax",
    [DeclareAttrInterfaceMethods<SparseAttn_NormalizerAttrInterface>]> {
  let summary = "alpha-entmax normalizer (sparse; alpha 2 is sparsemax)";
  let description = [{
    `p_i = [(alpha - 1) z_i - tau]_+ ^ (1 / (alpha - 1))` with the threshold
    `tau` chosen so that the row sums to one. Entries at or below the
    threshold are exactly zero. `alpha` must be greater than one (the limit
    `alpha -> 1` is softmax); `alpha = 1.5` and `alpha = 2` (sparsemax) have
    closed-form solver steps that need no transcendental functions and are
    recognised by the lowerings. `iterations`, when given, fixes the number
    of threshold-solver iterations of tiled lowerings; otherwise they choose
    enough for full precision. The backward statistic is `tau`.

    Example:

    ```mlir
    #sparse_attn.entmax<alpha = 1.5>
    #sparse_attn.entmax<alpha = 1.25, iterations = 8>
    ```
  }];
  let parameters = (ins
    APFloatParameter<"alpha > 1">:$alpha,
    OptionalParameter<"std::optional<int64_t>">:$iterations
  );
  let hasCustomAssemblyFormat = 1;
  let genVerifyDecl = 1;
  let builders = [
    AttrBuilder<(ins "double":$alpha,
                     CArg<"std::optional<int64_t>", "std::nullopt">:$iterations), [{
      return $_get($_ctxt, ::llvm::APFloat(alpha), iterations);
    }]>
  ];
  let extraClassDeclaration = [{
    double getAlphaValue() const { return getAlpha().convertToDouble(); }
    /// 1 / (alpha - 1): the exponent of the thresholded scores.
    double getExponent() const { return 1.0 / (getAlphaValue() - 1.0); }
    /// alpha = 2: the output is linear in the thresholded scores.
    bool isSparsemax() const { return getAlphaValue() == 2.0; }
    /// alpha = 1.5: the output is the square of the thresholded scores.
    bool isOnePointFive() const { return getAlphaValue() == 1.5; }
  }];
}

def SparseAttn_ElasticSoftmaxAttr : SparseAttn_Attr<"ElasticSoftmax",
    "elastic_softmax",
    [DeclareAttrInterfaceMethods<SparseAttn_NormalizerAttrInterface>]> {
  let summary = "elastic softmax normalizer (Lazy Attention)";
  let description = [{
    Causal softmax `P_ij` followed by a per-head learned shift:
    `A_ij = max(0, P_ij + tau_h / (i + 1))` with no renormalisation, so
    weights below `-tau_h / (i + 1)` (the uniform weight for `tau_h = -1`)
    drop out. `i` is the absolute position of the query, `i + 1` the number
    of keys it sees. Needs the `tau` operand of `sparse_attn.attention` and
    causal masking. The backward statistic is the row log-sum-exp.

    Example:

    ```mlir
    %o = sparse_attn.attention elastic_softmax causal %q, %k, %v
        bias(%bias : tensor<8x64xf32>) tau(%tau : tensor<8xf32>)
        : tensor<1x8x128x64xf32>, tensor<1x8x128x64xf32>,
          tensor<1x8x128x64xf32> -> tensor<1x8x128x64xf32>
    ```
  }];
}

def SparseAttn_NormalizerAttr : Attr<
    CPred<"::llvm::isa<::mlir::sparse_attn::NormalizerAttrInterface>($_self)">,
    "attention row normalizer"> {
  let storageType = "::mlir::sparse_attn::NormalizerAttrInterface";
  let returnType = "::mlir::sparse_attn::NormalizerAttrInterface";
  let convertFromStorage = "$_self";
}

#endif // SPARSE_ATTN_ATTRIBUTES_TD
