//===- SparseAttnOpsCommon.h - shared by the op definitions -----*- C++ -*-===//
//
// What the generated op definitions (SparseAttnOps.cpp.inc, compiled in
// SparseAttnOps.cpp) and the op files beside it share: the custom assembly
// directives of the prefill ops and verifier helpers.
//
//===----------------------------------------------------------------------===//

#ifndef SPARSE_ATTN_LIB_DIALECT_SPARSEATTN_IR_SPARSEATTNOPSCOMMON_H
#define SPARSE_ATTN_LIB_DIALECT_SPARSEATTN_IR_SPARSEATTNOPSCOMMON_H

#include "sparse_attn/Dialect/SparseAttn/IR/SparseAttn.h"

namespace mlir::sparse_attn {

/// Checks that `dynamicSizes` holds one value per dynamic extent of `type`.
LogicalResult verifyDynamicSizes(Operation *op, BlockMaskType type,
                                 ValueRange dynamicSizes);

/// `custom<MethodConfig>`: a method configuration without its mnemonic,
/// `<name = value, ...>`, omitted when every parameter has its default.
ParseResult parseMethodConfig(OpAsmParser &parser, XAttentionAttr &config);
ParseResult parseMethodConfig(OpAsmParser &parser, FlexPrefillAttr &config);
ParseResult parseMethodConfig(OpAsmParser &parser, MInferenceAttr &config);
void printMethodConfig(OpAsmPrinter &printer, Operation *op,
                       XAttentionAttr config);
void printMethodConfig(OpAsmPrinter &printer, Operation *op,
                       FlexPrefillAttr config);
void printMethodConfig(OpAsmPrinter &printer, Operation *op,
                       MInferenceAttr config);

/// `custom<PrefillPattern>`: `xattention<...>`, `flexprefill<...>`,
/// `minference<...>` or `full`.
ParseResult parsePrefillPattern(OpAsmParser &parser, Attribute &pattern);
void printPrefillPattern(OpAsmPrinter &printer, Operation *op,
                         Attribute pattern);

} // namespace mlir::sparse_attn

#endif // SPARSE_ATTN_LIB_DIALECT_SPARSEATTN_IR_SPARSEATTNOPSCOMMON_H
