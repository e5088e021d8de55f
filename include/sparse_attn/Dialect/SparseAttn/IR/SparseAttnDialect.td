//===- SparseAttnDialect.td - sparse_attn dialect definition -*- tablegen -*-===//

#ifndef SPARSE_ATTN_DIALECT_TD
#define SPARSE_ATTN_DIALECT_TD

include "mlir/IR/OpBase.td"

def SparseAttn_Dialect : Dialect {
  let name = "sparse_attn";
  let cppNamespace = "::mlir::sparse_attn";
  let summary = "Adaptive sparse attention: normalizers, block masks, prefill patterns";
  let description = [{
    The `sparse_attn` dialect expresses attention the way an ML compiler
    emits it: value-semantic ops on tensors with the normalizer (softmax,
    alpha-entmax, elastic softmax), causal and variable-length structure and
    FlexAttention-compatible block masks as first-class IR. Passes tile the
    aggregate ops into flash-style loops, skip masked blocks and lower to the
    host CPU or to NVVM.

    Layouts: queries are `[B, H, Nq, D]`, keys and values `[B, Hkv, Nk, D]`
    with `Hkv` dividing `H` (grouped-query attention). Causal masking is
    bottom-right aligned: query `i` sees key `j` iff `j <= i + (Nk - Nq)`.
  }];
  let useDefaultTypePrinterParser = 1;
  let useDefaultAttributePrinterParser = 1;
  let extraClassDeclaration = [{
  private:
    void registerAttributes();
    void registerTypes();
  }];
}

class SparseAttn_Op<string mnemonic, list<Trait> traits = []>
    : Op<SparseAttn_Dialect, mnemonic, traits>;

#endif // SPARSE_ATTN_DIALECT_TD
