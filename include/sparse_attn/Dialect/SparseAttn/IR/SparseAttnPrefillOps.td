//===- SparseAttnPrefillOps.td - long-context prefill ops --*- tablegen -*-===//
//
// The long-context prefill methods: the mask estimators of XAttention,
// FlexPrefill and MInference (vertical-slash), per-head routing of mask
// kinds (DuoAttention, Block-Sparse-Attention's head_mask_type), and the
// prefill op that names a method. docs/design/semantics.md ("Prefill
// estimators") is the exact contract; shared/ALGORITHMS.md sections 5 to 8
// the algorithms.
//
//===----------------------------------------------------------------------===//

#ifndef SPARSE_ATTN_PREFILL_OPS_TD
#define SPARSE_ATTN_PREFILL_OPS_TD

include "mlir/IR/OpBase.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "sparse_attn/Dialect/SparseAttn/IR/SparseAttnDialect.td"
include "sparse_attn/Dialect/SparseAttn/IR/SparseAttnAttributes.td"
include "sparse_attn/Dialect/SparseAttn/IR/SparseAttnTypes.td"

//===----------------------------------------------------------------------===//
// Method configurations
//===----------------------------------------------------------------------===//

// Every parameter of a method configuration has the method's published
// default; the textual form lists only the parameters that differ from it.
class SparseAttn_MethodAttr<string name, string attrMnemonic>
    : SparseAttn_Attr<name, attrMnemonic> {
  let hasCustomAssemblyFormat = 1;
}

def SparseAttn_XAttentionAttr
    : SparseAttn_MethodAttr<"XAttention", "xattention"> {
  let summary = "XAttention configuration: antidiagonal stride and threshold";
  let description = [{
    `stride` (default 8) is the antidiagonal stride `S`: queries and keys are
    scored in groups of `S` rows; it must divide both block sizes of the
    mask. `threshold` (default 0.9, in `(0, 1]`) is the fraction of each
    query block row's estimated attention mass that the selected key blocks
    must reach. A per-head `thresholds` tensor operand replaces it.

    Example:

    ```mlir
    #sparse_attn.xattention
    #sparse_attn.xattention<stride = 16, threshold = 0.95>
    ```
  }];
  let parameters = (ins "int64_t":$stride, APFloatParameter<"">:$threshold);
  let genVerifyDecl = 1;
  let builders = [
    AttrBuilder<(ins CArg<"int64_t", "kDefaultStride">:$stride,
                     CArg<"double", "kDefaultThreshold">:$threshold), [{
      return $_get($_ctxt, stride, ::llvm::APFloat(threshold));
    }]>
  ];
  let extraClassDeclaration = [{
    static constexpr int64_t kDefaultStride = 8;
    static constexpr double kDefaultThreshold = 0.9;
    double getThresholdValue() const { return getThreshold().convertToDouble(); }
  }];
}

def SparseAttn_FlexPrefillAttr
    : SparseAttn_MethodAttr<"FlexPrefill", "flexprefill"> {
  let summary = "FlexPrefill configuration: coverage, pattern switch, budgets";
  let description = [{
    `gamma` (default 0.9, in `(0, 1]`) is the attention mass the vertical
    and slash budgets and the query-aware blocks must cover; `tau` (default
    0.1, non-negative) the Jensen-Shannon distance below which a head is
    query-aware; `min_budget` (default 1024) and `max_budget` (default
    unbounded, at least 1 and at least `min_budget`) bound the vertical and
    slash budgets, in tokens (converted to key blocks with the mask's block
    size).

    Example:

    ```mlir
    #sparse_attn.flexprefill
    #sparse_attn.flexprefill<gamma = 0.95, min_budget = 512, max_budget = 8192>
    ```
  }];
  let parameters = (ins
    APFloatParameter<"">:$gamma,
    APFloatParameter<"">:$tau,
    "int64_t":$minBudget,
    OptionalParameter<"std::optional<int64_t>">:$maxBudget
  );
  let genVerifyDecl = 1;
  let builders = [
    AttrBuilder<(ins CArg<"double", "kDefaultGamma">:$gamma,
                     CArg<"double", "kDefaultTau">:$tau,
                     CArg<"int64_t", "kDefaultMinBudget">:$minBudget,
                     CArg<"std::optional<int64_t>", "std::nullopt">:$maxBudget), [{
      return $_get($_ctxt, ::llvm::APFloat(gamma), ::llvm::APFloat(tau),
                   minBudget, maxBudget);
    }]>
  ];
  let extraClassDeclaration = [{
    static constexpr double kDefaultGamma = 0.9;
    static constexpr double kDefaultTau = 0.1;
    static constexpr int64_t kDefaultMinBudget = 1024;
    double getGammaValue() const { return getGamma().convertToDouble(); }
    double getTauValue() const { return getTau().convertToDouble(); }
  }];
}

def SparseAttn_MInferenceAttr
    : SparseAttn_MethodAttr<"MInference", "minference"> {
  let summary = "MInference vertical-slash configuration";
  let description = [{
    The last `last_queries` (default 64) queries estimate the attention;
    `vertical_size` (default 1000) key columns and `slash_size` (default
    6096) diagonals are kept per head. The first `sink` (default 30) key
    positions and the `local` (default 100) diagonals nearest the main one
    are always kept and count against the sizes. A per-head `budgets`
    tensor operand (`[H, 2]`: vertical, slash) replaces the sizes.

    Example:

    ```mlir
    #sparse_attn.minference
    #sparse_attn.minference<vertical_size = 500, slash_size = 2048>
    ```
  }];
  let parameters = (ins
    "int64_t":$verticalSize,
    "int64_t":$slashSize,
    "int64_t":$lastQueries,
    "int64_t":$sink,
    "int64_t":$local
  );
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    static constexpr int64_t kDefaultVerticalSize = 1000;
    static constexpr int64_t kDefaultSlashSize = 6096;
    static constexpr int64_t kDefaultLastQueries = 64;
    static constexpr int64_t kDefaultSink = 30;
    static constexpr int64_t kDefaultLocal = 100;
    /// Every parameter at its default.
    static MInferenceAttr get(::mlir::MLIRContext *context) {
      return get(context, kDefaultVerticalSize, kDefaultSlashSize,
                 kDefaultLastQueries, kDefaultSink, kDefaultLocal);
    }
  }];
}

def SparseAttn_FullAttr : SparseAttn_Attr<"Full", "full"> {
  let summary = "dense prefill pattern (no estimated mask)";
  let description = [{
    The prefill pattern of SparseAttn's `Full_prefill`: plain softmax
    attention, causal when the prefill op says so, intersected with the
    prefill's mask operand when given.

    Example:

    ```mlir
    #sparse_attn.full
    ```
  }];
}

def SparseAttn_PrefillPatternAttr : Attr<
    CPred<"::llvm::isa<::mlir::sparse_attn::XAttentionAttr, "
          "::mlir::sparse_attn::FlexPrefillAttr, "
          "::mlir::sparse_attn::MInferenceAttr, "
          "::mlir::sparse_attn::FullAttr>($_self)">,
    "prefill pattern (xattention, flexprefill, minference or full)"> {
  let storageType = "::mlir::Attribute";
  let returnType = "::mlir::Attribute";
  let convertFromStorage = "$_self";
}

//===----------------------------------------------------------------------===//
// Mask estimators
//===----------------------------------------------------------------------===//

class SparseAttn_EstimatorOp<string mnemonic, list<Trait> traits = []>
    : SparseAttn_Op<mnemonic,
                    !listconcat(traits, [Pure, AttrSizedOperandSegments])> {
  let hasVerifier = 1;
  code commonExtraClassDeclaration = [{
    /// The scale applied to q.k: the attribute, or 1/sqrt(D).
    double getEffectiveScale();
  }];
}

def SparseAttn_XAttentionMaskOp : SparseAttn_EstimatorOp<"xattention_mask"> {
  let summary = "XAttention block mask: antidiagonal scoring, threshold "
                "selection";
  let description = [{
    Estimates each head's attention with antidiagonal scoring over groups of
    `stride` queries and keys, softmax over the key groups and block sums,
    then keeps, for every query block, the sink block (`J = 0`), the blocks
    holding its queries' own positions, and the most massive remaining
    blocks until the kept mass reaches `threshold` times the row's mass
    (ties: the lower block first). With `causal` the scoring is causal and
    the mask holds only pairs with `j <= i + (Lk - Lq)`.

    `query` is `[B, H, Nq, D]` and `key` `[B, Hkv, Nk, D]` (query head `h`
    reads key head `h / (H / Hkv)`); the result is a
    `[B, H, Nq, Nk]` mask whose block sizes (multiples of `stride`) are the
    selection granularity. `thresholds` (`[H]`, f32) gives a threshold per
    head instead of the configuration's; `query_lengths` / `key_lengths`
    are the valid lengths of right-padded sequences (varlen); `scale`
    defaults to `1 / sqrt(D)`. docs/design/semantics.md has every detail.

    Example:

    ```mlir
    %m = sparse_attn.xattention_mask <stride = 16, threshold = 0.95> causal %q, %k
        : tensor<1x32x4096x128xbf16>, tensor<1x8x4096x128xbf16>
        -> !sparse_attn.block_mask<1x32x4096x4096, block = 128x128>
    %n = sparse_attn.xattention_mask causal %q, %k thresholds(%t : tensor<32xf32>)
        key_lengths(%len : tensor<1xi32>)
        : tensor<1x32x4096x128xbf16>, tensor<1x8x4096x128xbf16>
        -> !sparse_attn.block_mask<1x32x4096x4096, block = 128x128>
    ```
  }];
  let arguments = (ins
    SparseAttn_XAttentionAttr:$config,
    SparseAttn_AttentionTensor:$query,
    SparseAttn_AttentionTensor:$key,
    Optional<TensorRankOf<[F32], [1]>>:$thresholds,
    Optional<SparseAttn_LengthsTensor>:$query_lengths,
    Optional<SparseAttn_LengthsTensor>:$key_lengths,
    UnitAttr:$causal,
    OptionalAttr<F32Attr>:$scale
  );
  let results = (outs SparseAttn_BlockMaskType:$result);
  let assemblyFormat = [{
    `` custom<MethodConfig>($config) (`causal` $causal^)? $query `,` $key
    (`thresholds` `(` $thresholds^ `:` type($thresholds) `)`)?
    (`query_lengths` `(` $query_lengths^ `:` type($query_lengths) `)`)?
    (`key_lengths` `(` $key_lengths^ `:` type($key_lengths) `)`)?
    (`scale` `(` $scale^ `)`)?
    attr-dict `:` type($query) `,` type($key) `->` qualified(type($result))
  }];
  let extraClassDeclaration = commonExtraClassDeclaration;
}

def SparseAttn_FlexPrefillMaskOp : SparseAttn_EstimatorOp<"flexprefill_mask"> {
  let summary = "FlexPrefill block mask: vertical-slash or query-aware per head";
  let description = [{
    Causal by definition. From the attention of the last query block, each
    head gets vertical and slash budgets covering `gamma` of the mass
    (bounded by `min_budget` and `max_budget` tokens, converted to key
    blocks), and a pattern: query-aware when the Jensen-Shannon distance
    between the block-pooled estimate and the true vertical profile is below
    `tau` (a global top-`gamma` set of pooled block scores plus the minimum
    vertical-slash budget), vertical-slash otherwise (the top vertical
    blocks and block diagonals). The sink block and the blocks holding the
    queries' own positions are always kept; short sequences are dense. The
    mask holds only pairs with `j <= i + (Lk - Lq)`.

    Operands as for `sparse_attn.xattention_mask`; the mask's block sizes
    must be equal. The optional second result gives each `(b, h)` its
    pattern: 0 dense (short sequence), 1 vertical-slash, 2 query-aware.

    Example:

    ```mlir
    %m, %pattern = sparse_attn.flexprefill_mask <gamma = 0.95, tau = 0.1> %q, %k
        : tensor<2x32x8192x128xbf16>, tensor<2x8x8192x128xbf16>
        -> !sparse_attn.block_mask<2x32x8192x8192, block = 128x128>,
           tensor<2x32xi32>
    ```
  }];
  let arguments = (ins
    SparseAttn_FlexPrefillAttr:$config,
    SparseAttn_AttentionTensor:$query,
    SparseAttn_AttentionTensor:$key,
    Optional<SparseAttn_LengthsTensor>:$query_lengths,
    Optional<SparseAttn_LengthsTensor>:$key_lengths,
    OptionalAttr<F32Attr>:$scale
  );
  let results = (outs
    SparseAttn_BlockMaskType:$result,
    Optional<TensorRankOf<[I32], [2]>>:$patterns
  );
  let assemblyFormat = [{
    `` custom<MethodConfig>($config) $query `,` $key
    (`query_lengths` `(` $query_lengths^ `:` type($query_lengths) `)`)?
    (`key_lengths` `(` $key_lengths^ `:` type($key_lengths) `)`)?
    (`scale` `(` $scale^ `)`)?
    attr-dict `:` type($query) `,` type($key) `->` qualified(type($result))
    (`,` type($patterns)^)?
  }];
  let extraClassDeclaration = commonExtraClassDeclaration # [{
    /// Codes of the `patterns` result.
    static constexpr int32_t kDensePattern = 0;
    static constexpr int32_t kVerticalSlashPattern = 1;
    static constexpr int32_t kQueryAwarePattern = 2;
  }];
}

def SparseAttn_VerticalSlashMaskOp
    : SparseAttn_EstimatorOp<"vertical_slash_mask"> {
  let summary = "MInference vertical-slash mask: key columns and diagonals";
  let description = [{
    Causal by definition. From the attention of the last `last_queries`
    queries, keeps per head the `vertical_size` key columns and the
    `slash_size` diagonals (offsets `i + (Lk - Lq) - j`) of largest summed
    attention (ties: the lower column or offset first), the first `sink`
    columns and the `local` diagonals nearest the main one always among
    them. The mask is token-level exact: query `i` sees key `j` iff
    `j <= i + (Lk - Lq)` and `j` is a kept column or `i + (Lk - Lq) - j` a
    kept offset; its block sizes only organise it (the blocks a column or
    diagonal crosses are partial).

    Operands as for `sparse_attn.xattention_mask`; `budgets` (`[H, 2]`,
    i32) gives each head its vertical and slash sizes instead of the
    configuration's.

    Example:

    ```mlir
    %m = sparse_attn.vertical_slash_mask <vertical_size = 1000, slash_size = 6096> %q, %k
        : tensor<1x32x?x128xbf16>, tensor<1x8x?x128xbf16>
        -> !sparse_attn.block_mask<1x32x?x?, block = 64x64>
    ```
  }];
  let arguments = (ins
    SparseAttn_MInferenceAttr:$config,
    SparseAttn_AttentionTensor:$query,
    SparseAttn_AttentionTensor:$key,
    Optional<TensorRankOf<[I32], [2]>>:$budgets,
    Optional<SparseAttn_LengthsTensor>:$query_lengths,
    Optional<SparseAttn_LengthsTensor>:$key_lengths,
    OptionalAttr<F32Attr>:$scale
  );
  let results = (outs SparseAttn_BlockMaskType:$result);
  let assemblyFormat = [{
    `` custom<MethodConfig>($config) $query `,` $key
    (`budgets` `(` $budgets^ `:` type($budgets) `)`)?
    (`query_lengths` `(` $query_lengths^ `:` type($query_lengths) `)`)?
    (`key_lengths` `(` $key_lengths^ `:` type($key_lengths) `)`)?
    (`scale` `(` $scale^ `)`)?
    attr-dict `:` type($query) `,` type($key) `->` qualified(type($result))
  }];
  let extraClassDeclaration = commonExtraClassDeclaration;
}

def SparseAttn_BlockSelectionMethodAttr : Attr<
    CPred<"::llvm::isa<::mlir::sparse_attn::XAttentionAttr, "
          "::mlir::sparse_attn::FlexPrefillAttr>($_self)">,
    "block-selecting method (xattention or flexprefill)"> {
  let storageType = "::mlir::Attribute";
  let returnType = "::mlir::Attribute";
  let convertFromStorage = "$_self";
}

def SparseAttn_SelectBlocksOp : SparseAttn_EstimatorOp<"select_blocks"> {
  let summary = "the block selection of XAttention or FlexPrefill as "
                "FlexAttention index tensors";
  let description = [{
    The blocks that `sparse_attn.xattention_mask` (with the same
    configuration, `causal`, `thresholds`, lengths and scale) or
    `sparse_attn.flexprefill_mask` selects, on the `query_block` x
    `key_block` grid of `[B, H, Nq, Nk]`: for every `(b, h, I)` with `I` a
    valid query block, `kv_num_blocks[b, h, I]` counts the selected valid
    key blocks and `kv_indices[b, h, I, :]` lists them in ascending order,
    then zeros; rows of invalid query blocks are empty. The estimator's mask
    is `sparse_attn.mask_from_indices` of these tensors intersected with
    the valid (and, when causal, causal) pairs: `sparse-attn-decompose-estimators`
    rewrites the estimators so, and the tiled attention walks the lists.
    FlexPrefill's optional third result gives each head's pattern.

    Example:

    ```mlir
    %num, %idx = sparse_attn.select_blocks xattention<stride = 16> causal %q, %k block(128, 128)
        : tensor<1x32x4096x128xbf16>, tensor<1x8x4096x128xbf16>
        -> tensor<1x32x32xi32>, tensor<1x32x32x32xi32>
    ```
  }];
  let arguments = (ins
    SparseAttn_BlockSelectionMethodAttr:$method,
    SparseAttn_AttentionTensor:$query,
    SparseAttn_AttentionTensor:$key,
    Optional<TensorRankOf<[F32], [1]>>:$thresholds,
    Optional<SparseAttn_LengthsTensor>:$query_lengths,
    Optional<SparseAttn_LengthsTensor>:$key_lengths,
    UnitAttr:$causal,
    OptionalAttr<F32Attr>:$scale,
    I64Attr:$query_block,
    I64Attr:$key_block
  );
  let results = (outs
    TensorRankOf<[I32], [3]>:$kv_num_blocks,
    TensorRankOf<[I32], [4]>:$kv_indices,
    Optional<TensorRankOf<[I32], [2]>>:$patterns
  );
  let assemblyFormat = [{
    custom<PrefillPattern>($method) (`causal` $causal^)? $query `,` $key
    (`thresholds` `(` $thresholds^ `:` type($thresholds) `)`)?
    (`query_lengths` `(` $query_lengths^ `:` type($query_lengths) `)`)?
    (`key_lengths` `(` $key_lengths^ `:` type($key_lengths) `)`)?
    (`scale` `(` $scale^ `)`)?
    `block` `(` $query_block `,` $key_block `)`
    attr-dict `:` type($query) `,` type($key) `->` type(results)
  }];
  let extraClassDeclaration = commonExtraClassDeclaration;
}

def SparseAttn_SelectVerticalSlashOp
    : SparseAttn_EstimatorOp<"select_vertical_slash"> {
  let summary = "the kept columns and diagonals of MInference's vertical-slash "
                "estimate as index lists";
  let description = [{
    The selection of `sparse_attn.vertical_slash_mask` with the same
    configuration, `budgets`, lengths and scale: for every `(b, h)`,
    `column_count[b, h]` counts the kept key columns and `columns[b, h, :]`
    lists them in ascending order, then zeros; `offset_count` and `offsets`
    likewise for the kept diagonal offsets `o = i + (Lk - Lq) - j`. Every
    listed column and offset lies in `[0, Lk)`. The mask is the valid causal
    pairs `(i, j)` with `j` a listed column or `i + (Lk - Lq) - j` a listed
    offset: `sparse-attn-decompose-vertical-slash` walks these lists instead
    of reading the mask token by token.

    Example:

    ```mlir
    %nc, %c, %no, %o = sparse_attn.select_vertical_slash <vertical_size = 64, slash_size = 128> %q, %k
        : tensor<1x32x?x128xbf16>, tensor<1x8x?x128xbf16>
        -> tensor<1x32xi32>, tensor<1x32x?xi32>, tensor<1x32xi32>, tensor<1x32x?xi32>
    ```
  }];
  let arguments = (ins
    SparseAttn_MInferenceAttr:$config,
    SparseAttn_AttentionTensor:$query,
    SparseAttn_AttentionTensor:$key,
    Optional<TensorRankOf<[I32], [2]>>:$budgets,
    Optional<SparseAttn_LengthsTensor>:$query_lengths,
    Optional<SparseAttn_LengthsTensor>:$key_lengths,
    OptionalAttr<F32Attr>:$scale
  );
  let results = (outs
    TensorRankOf<[I32], [2]>:$column_count,
    TensorRankOf<[I32], [3]>:$columns,
    TensorRankOf<[I32], [2]>:$offset_count,
    TensorRankOf<[I32], [3]>:$offsets
  );
  let assemblyFormat = [{
    `` custom<MethodConfig>($config) $query `,` $key
    (`budgets` `(` $budgets^ `:` type($budgets) `)`)?
    (`query_lengths` `(` $query_lengths^ `:` type($query_lengths) `)`)?
    (`key_lengths` `(` $key_lengths^ `:` type($key_lengths) `)`)?
    (`scale` `(` $scale^ `)`)?
    attr-dict `:` type($query) `,` type($key) `->` type(results)
  }];
  let extraClassDeclaration = commonExtraClassDeclaration;
}

//===----------------------------------------------------------------------===//
// Per-head routing
//===----------------------------------------------------------------------===//

def SparseAttn_MaskRouteHeadsOp : SparseAttn_Op<"mask_route_heads",
    [Pure, AttrSizedOperandSegments]> {
  let summary = "per-head choice of a mask kind";
  let description = [{
    Head `h` of the result is chosen by `kinds[h]` (i32, one per head), the
    codes of Block-Sparse-Attention's `head_mask_type`:

    - `0`: dense, every pair visible (DuoAttention's retrieval heads, with
      the attention's `causal`);
    - `-1`: the `streaming` operand (DuoAttention's streaming heads, an
      A-shape `sparse_attn.streaming_mask`);
    - `k >= 1`: the `k`-th of the `masks` operands (e.g. a block-sparse mask
      as kind 1 and a vertical-slash mask as kind 2).

    A kind with no operand, or any other value, makes the head see nothing.
    Operand masks have the result's block sizes and sequence lengths; their
    batch and head extents are 1 (broadcast) or the result's. The operands
    in parentheses give the dynamic extents of the result type.

    Example:

    ```mlir
    %m = sparse_attn.mask_route_heads %kinds
        streaming(%s : !sparse_attn.block_mask<1x1x?x?, block = 64x64>)
        masks(%bs, %vs : !sparse_attn.block_mask<1x32x?x?, block = 64x64>,
                         !sparse_attn.block_mask<1x32x?x?, block = 64x64>)
        (%n, %n) : tensor<32xi32> -> !sparse_attn.block_mask<1x32x?x?, block = 64x64>
    ```
  }];
  let arguments = (ins
    TensorRankOf<[I32], [1]>:$kinds,
    Optional<SparseAttn_BlockMaskType>:$streaming,
    Variadic<SparseAttn_BlockMaskType>:$masks,
    Variadic<Index>:$dynamic_sizes
  );
  let results = (outs SparseAttn_BlockMaskType:$result);
  let assemblyFormat = [{
    $kinds
    (`streaming` `(` $streaming^ `:` qualified(type($streaming)) `)`)?
    (`masks` `(` $masks^ `:` qualified(type($masks)) `)`)?
    `(` $dynamic_sizes `)` attr-dict `:` type($kinds) `->`
    qualified(type($result))
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    static constexpr int32_t kDenseKind = 0;
    static constexpr int32_t kStreamingKind = -1;
  }];
}

//===----------------------------------------------------------------------===//
// Prefill
//===----------------------------------------------------------------------===//

def SparseAttn_PrefillOp : SparseAttn_Op<"prefill",
    [Pure, AttrSizedOperandSegments]> {
  let summary = "softmax prefill attention with a named sparse pattern";
  let description = [{
    What SparseAttn's `Xattention_prefill`, `Flexprefill_prefill`,
    `Minference_prefill` and `Full_prefill` compute: softmax attention under
    the mask the pattern estimates from `query` and `key`
    (`sparse_attn.xattention_mask`, `sparse_attn.flexprefill_mask`,
    `sparse_attn.vertical_slash_mask`; none for `full`), intersected with
    the `mask` operand when given. `sparse-attn-expand-prefill` rewrites it
    into exactly that mask producer and `sparse_attn.attention`.

    Operands and results as for `sparse_attn.attention` (softmax, GQA,
    varlen, `causal` bottom-right aligned, optional log-sum-exp result);
    `thresholds` (xattention) and `budgets` (minference) as for the
    estimators. `block` is the estimator's square block size (default 128
    for xattention and flexprefill, 64 for minference; full takes none).
    flexprefill and minference are causal methods and need `causal`.

    Example:

    ```mlir
    %o = sparse_attn.prefill xattention<threshold = 0.95> causal %q, %k, %v
        : tensor<1x32x4096x128xbf16>, tensor<1x8x4096x128xbf16>,
          tensor<1x8x4096x128xbf16> -> tensor<1x32x4096x128xbf16>
    %f = sparse_attn.prefill flexprefill<gamma = 0.95> causal %q, %k, %v block(64)
        : tensor<1x32x4096x128xbf16>, tensor<1x8x4096x128xbf16>,
          tensor<1x8x4096x128xbf16> -> tensor<1x32x4096x128xbf16>
    %d = sparse_attn.prefill full causal %q, %k, %v
        : tensor<1x32x4096x128xbf16>, tensor<1x8x4096x128xbf16>,
          tensor<1x8x4096x128xbf16> -> tensor<1x32x4096x128xbf16>
    ```
  }];
  let arguments = (ins
    SparseAttn_PrefillPatternAttr:$pattern,
    SparseAttn_AttentionTensor:$query,
    SparseAttn_AttentionTensor:$key,
    SparseAttn_AttentionTensor:$value,
    Optional<SparseAttn_BlockMaskType>:$mask,
    Optional<TensorRankOf<[F32], [1]>>:$thresholds,
    Optional<TensorRankOf<[I32], [2]>>:$budgets,
    Optional<SparseAttn_LengthsTensor>:$query_lengths,
    Optional<SparseAttn_LengthsTensor>:$key_lengths,
    UnitAttr:$causal,
    OptionalAttr<F32Attr>:$scale,
    OptionalAttr<I64Attr>:$block
  );
  let results = (outs
    SparseAttn_AttentionTensor:$output,
    Optional<TensorRankOf<[F32], [3]>>:$statistics
  );
  let assemblyFormat = [{
    custom<PrefillPattern>($pattern) (`causal` $causal^)?
    $query `,` $key `,` $value
    (`mask` `(` $mask^ `:` qualified(type($mask)) `)`)?
    (`thresholds` `(` $thresholds^ `:` type($thresholds) `)`)?
    (`budgets` `(` $budgets^ `:` type($budgets) `)`)?
    (`query_lengths` `(` $query_lengths^ `:` type($query_lengths) `)`)?
    (`key_lengths` `(` $key_lengths^ `:` type($key_lengths) `)`)?
    (`scale` `(` $scale^ `)`)?
    (`block` `(` $block^ `)`)?
    attr-dict `:` type($query) `,` type($key) `,` type($value)
    `->` type(results)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// The estimator's block size: the attribute or the pattern's default
    /// (0 for `full`).
    int64_t getEffectiveBlockSize();
    /// Builds, before this op, the mask producer and the attention it
    /// stands for; returns the values that replace its results.
    ::llvm::SmallVector<::mlir::Value> expand(::mlir::OpBuilder &builder);
  }];
}

#endif // SPARSE_ATTN_PREFILL_OPS_TD
