//===- SparseAttnTypes.td - sparse_attn types --------------*- tablegen -*-===//

#ifndef SPARSE_ATTN_TYPES_TD
#define SPARSE_ATTN_TYPES_TD

include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/BuiltinTypeInterfaces.td"
include "sparse_attn/Dialect/SparseAttn/IR/SparseAttnDialect.td"

def SparseAttn_BlockMaskType : TypeDef<SparseAttn_Dialect, "BlockMask"> {
  let mnemonic = "block_mask";
  let summary = "block-sparse attention mask (FlexAttention BlockMask)";
  let description = [{
    A mask over the `[batch, heads, query length, key length]` score
    matrix, organised in `query_block x key_block` tiles. Its content is that
    of a FlexAttention `BlockMask`: for each `(batch, head, query block)` the
    key blocks that are fully visible and those that are partially visible
    (evaluated elementwise). The batch and head extents may be 1, in which
    case the mask is shared (broadcast) across that dimension. Any extent may
    be dynamic (`?`); block sizes are static positive powers of two.

    Token-level meaning: every mask value denotes a boolean
    `visible[b, h, i, j]`; the block structure records which tiles can be
    skipped (no visible entry) and which need no elementwise test (all
    entries visible).

    Example:

    ```mlir
    !sparse_attn.block_mask<1x32x4096x4096, block = 128x128>
    !sparse_attn.block_mask<2x1x?x?, block = 64x64>
    ```
  }];
  let parameters = (ins
    ArrayRefParameter<"int64_t", "batch, heads, query length, key length">:$shape,
    "int64_t":$queryBlockSize,
    "int64_t":$keyBlockSize
  );
  let hasCustomAssemblyFormat = 1;
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    int64_t getBatchSize() const { return getShape()[0]; }
    int64_t getNumHeads() const { return getShape()[1]; }
    int64_t getQueryLength() const { return getShape()[2]; }
    int64_t getKeyLength() const { return getShape()[3]; }
    /// Number of query (key) blocks, or ShapedType::kDynamic.
    int64_t getNumQueryBlocks() const;
    int64_t getNumKeyBlocks() const;
    int64_t getNumDynamicDims() const;
    /// `tensor<B x H x QB x i32>`: per query block a count of key blocks.
    RankedTensorType getCountsType() const;
    /// `tensor<B x H x QB x KB x i32>`: per query block an index row.
    RankedTensorType getIndicesType() const;
  }];
}

#endif // SPARSE_ATTN_TYPES_TD
