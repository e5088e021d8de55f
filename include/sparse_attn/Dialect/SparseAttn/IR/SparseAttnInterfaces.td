//===- SparseAttnInterfaces.td - sparse_attn interfaces ----*- tablegen -*-===//

#ifndef SPARSE_ATTN_INTERFACES_TD
#define SPARSE_ATTN_INTERFACES_TD

include "mlir/IR/OpBase.td"

def SparseAttn_NormalizerAttrInterface
    : AttrInterface<"NormalizerAttrInterface"> {
  let cppNamespace = "::mlir::sparse_attn";
  let description = [{
    A row normalizer of attention scores: how a row of scores becomes the
    weights applied to the values. Every normalizer names the per-row
    statistic that a backward pass needs.
  }];
  let methods = [
    InterfaceMethod<[{
        Returns the per-row statistic saved for the backward pass.
      }], "::mlir::sparse_attn::RowStatistic", "getRowStatistic">,
  ];
}

#endif // SPARSE_ATTN_INTERFACES_TD
