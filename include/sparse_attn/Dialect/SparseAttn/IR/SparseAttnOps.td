//===- SparseAttnOps.td - sparse_attn operations -----------*- tablegen -*-===//

#ifndef SPARSE_ATTN_OPS_TD
#define SPARSE_ATTN_OPS_TD

include "mlir/IR/OpBase.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mlir/Interfaces/InferTypeOpInterface.td"
include "sparse_attn/Dialect/SparseAttn/IR/SparseAttnDialect.td"
include "sparse_attn/Dialect/SparseAttn/IR/SparseAttnAttributes.td"
include "sparse_attn/Dialect/SparseAttn/IR/SparseAttnTypes.td"

def SparseAttn_FloatElement : AnyTypeOf<[BF16, F16, F32]>;
def SparseAttn_AttentionTensor : TensorRankOf<[BF16, F16, F32], [4]>;
def SparseAttn_LengthsTensor : TensorRankOf<[I32], [1]>;
def SparseAttn_BlockIndexTensor : TensorOf<[I32]>;

// The long-context prefill methods (estimators, head routing, prefill).
include "sparse_attn/Dialect/SparseAttn/IR/SparseAttnPrefillOps.td"

//===----------------------------------------------------------------------===//
// Attention
//===----------------------------------------------------------------------===//

def SparseAttn_AttentionOp : SparseAttn_Op<"attention",
    [Pure, AttrSizedOperandSegments]> {
  let summary = "scaled dot-product attention with a choice of normalizer";
  let description = [{
    Computes `o_i = sum_j w_ij v_j` where `w` is the normalizer applied to the
    scores `s_ij = scale * q_i . k_j (+ bias_h[p_i - j] for 0 <= p_i - j < W)`
    over the keys visible to query `i`, `p_i = i + Lk - Lq` being the
    query's absolute position (docs/design/semantics.md has every detail):

    - `query` is `[B, H, Nq, D]`; `key` and `value` are `[B, Hkv, Nk, D]`
      and `[B, Hkv, Nk, Dv]` with `Hkv` dividing `H`: query head `h` reads
      key/value head `h / (H / Hkv)` (grouped-query attention, no copies).
    - `causal`: query `i` sees key `j` iff `j <= i + (Lk - Lq)`
      (bottom-right aligned, `Lq`/`Lk` the valid lengths of the sequence).
    - `mask`: a `!sparse_attn.block_mask` intersected with the above; its
      batch and head extents are 1 (shared) or equal to `B` and `H`.
    - `query_lengths` / `key_lengths`: per-sequence valid lengths `[B]` of
      right-padded inputs (varlen). Padded query rows produce zeros.
    - `bias` `[H, W]` is added to `s_ij` for `0 <= p_i - j < W` (Lazy
      Attention's positional bias; `W + 1` columns give the older
      `0 <= p_i - j <= W` convention); `tau` `[H]` is the elastic-softmax
      shift.
    - `scale` defaults to `1 / sqrt(D)`.

    Rows that see no key produce zeros. The optional second result holds the
    per-row statistic of the normalizer (`[B, H, Nq]`, f32): the
    log-sum-exp for softmax and elastic softmax (`-inf` for empty rows),
    the threshold `tau` for entmax (`+inf` for empty rows).

    `B`, `H` and the sequence lengths may be dynamic; the head dimensions are
    static. Element types are bf16, f16 or f32 (all operands alike).

    Example:

    ```mlir
    %o, %lse = sparse_attn.attention softmax causal %q, %k, %v
        mask(%m : !sparse_attn.block_mask<1x1x?x?, block = 128x128>)
        : tensor<2x32x?x128xbf16>, tensor<2x8x?x128xbf16>,
          tensor<2x8x?x128xbf16> -> tensor<2x32x?x128xbf16>, tensor<2x32x?xf32>

    %p = sparse_attn.attention entmax<alpha = 1.5> %q, %k, %v
        key_lengths(%len : tensor<2xi32>) scale(0.125)
        : tensor<2x8x512x64xf32>, tensor<2x8x512x64xf32>,
          tensor<2x8x512x64xf32> -> tensor<2x8x512x64xf32>
    ```
  }];
  let arguments = (ins
    SparseAttn_NormalizerAttr:$normalizer,
    SparseAttn_AttentionTensor:$query,
    SparseAttn_AttentionTensor:$key,
    SparseAttn_AttentionTensor:$value,
    Optional<SparseAttn_BlockMaskType>:$mask,
    Optional<SparseAttn_LengthsTensor>:$query_lengths,
    Optional<SparseAttn_LengthsTensor>:$key_lengths,
    Optional<TensorRankOf<[BF16, F16, F32], [2]>>:$bias,
    Optional<TensorRankOf<[BF16, F16, F32], [1]>>:$tau,
    UnitAttr:$causal,
    OptionalAttr<F32Attr>:$scale
  );
  let results = (outs
    SparseAttn_AttentionTensor:$output,
    Optional<TensorRankOf<[F32], [3]>>:$statistics
  );
  let assemblyFormat = [{
    custom<Normalizer>($normalizer) (`causal` $causal^)?
    $query `,` $key `,` $value
    (`mask` `(` $mask^ `:` qualified(type($mask)) `)`)?
    (`query_lengths` `(` $query_lengths^ `:` type($query_lengths) `)`)?
    (`key_lengths` `(` $key_lengths^ `:` type($key_lengths) `)`)?
    (`bias` `(` $bias^ `:` type($bias) `)`)?
    (`tau` `(` $tau^ `:` type($tau) `)`)?
    (`scale` `(` $scale^ `)`)?
    attr-dict `:` type($query) `,` type($key) `,` type($value)
    `->` type(results)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// The scale applied to q.k: the attribute, or 1/sqrt(D).
    double getEffectiveScale();
    /// H / Hkv, or ShapedType::kDynamic.
    int64_t getGroupSize();
  }];
}

//===----------------------------------------------------------------------===//
// Row-wise entmax
//===----------------------------------------------------------------------===//

def SparseAttn_EntmaxOp : SparseAttn_Op<"entmax",
    [Pure, AllTypesMatch<["input", "output"]>]> {
  let summary = "row-wise alpha-entmax over the last dimension";
  let description = [{
    Applies alpha-entmax (see `#sparse_attn.entmax`) independently to every
    row of the last dimension of a ranked tensor of any rank >= 1:
    `p = [(alpha - 1) x - tau]_+ ^ (1 / (alpha - 1))` with a per-row `tau`
    such that every row sums to one.

    Example:

    ```mlir
    %p = sparse_attn.entmax %x <alpha = 1.5> : tensor<4x16x1000xf32>
    %s = sparse_attn.entmax %y <alpha = 2.0, iterations = 3> : tensor<?x128xbf16>
    ```
  }];
  let arguments = (ins
    RankedTensorOf<[BF16, F16, F32]>:$input,
    SparseAttn_EntmaxAttr:$config
  );
  let results = (outs RankedTensorOf<[BF16, F16, F32]>:$output);
  let assemblyFormat = "$input $config attr-dict `:` type($input)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Block masks
//===----------------------------------------------------------------------===//

class SparseAttn_MaskProducerOp<string mnemonic, list<Trait> traits = []>
    : SparseAttn_Op<mnemonic, !listconcat(traits, [Pure])> {
  let results = (outs SparseAttn_BlockMaskType:$result);
  let hasVerifier = 1;
}

def SparseAttn_DenseMaskOp : SparseAttn_MaskProducerOp<"dense_mask"> {
  let summary = "block mask in which every block is fully visible";
  let description = [{
    Every `(query, key)` pair is visible; every block is a full block. The
    operands give the extents of the dynamic (`?`) dimensions of the result
    type, in order.

    Example:

    ```mlir
    %m = sparse_attn.dense_mask(%n, %n) : !sparse_attn.block_mask<1x1x?x?, block = 128x128>
    ```
  }];
  let arguments = (ins Variadic<Index>:$dynamic_sizes);
  let assemblyFormat = [{
    `(` $dynamic_sizes `)` attr-dict `:` qualified(type($result))
  }];
}

def SparseAttn_CausalMaskOp : SparseAttn_MaskProducerOp<"causal_mask"> {
  let summary = "bottom-right aligned causal block mask";
  let description = [{
    Query `i` sees key `j` iff `j <= i + (Nk - Nq)`. Blocks entirely below
    the diagonal are full, blocks it crosses are partial, blocks above it
    are absent. The operands give the dynamic extents of the result type.

    Example:

    ```mlir
    %m = sparse_attn.causal_mask() : !sparse_attn.block_mask<1x1x4096x4096, block = 128x128>
    ```
  }];
  let arguments = (ins Variadic<Index>:$dynamic_sizes);
  let assemblyFormat = [{
    `(` $dynamic_sizes `)` attr-dict `:` qualified(type($result))
  }];
}

def SparseAttn_StreamingMaskOp : SparseAttn_MaskProducerOp<"streaming_mask"> {
  let summary = "attention-sink plus local-window (A-shape) causal block mask";
  let description = [{
    Streaming-LLM / DuoAttention streaming heads / MInference A-shape: query
    `i` (absolute position `p = i + Nk - Nq`) sees key `j` iff `j <= p` and
    (`j < sink` or `p - j < window`). The operands give the dynamic extents
    of the result type.

    Example:

    ```mlir
    %m = sparse_attn.streaming_mask(%n, %n) sink(128) window(3968)
        : !sparse_attn.block_mask<1x1x?x?, block = 128x128>
    ```
  }];
  let arguments = (ins
    Variadic<Index>:$dynamic_sizes,
    I64Attr:$sink,
    I64Attr:$window
  );
  let assemblyFormat = [{
    `(` $dynamic_sizes `)` `sink` `(` $sink `)` `window` `(` $window `)`
    attr-dict `:` qualified(type($result))
  }];
}

def SparseAttn_MaskFromIndicesOp
    : SparseAttn_MaskProducerOp<"mask_from_indices", [AttrSizedOperandSegments]> {
  let summary = "block mask from FlexAttention-style index tensors";
  let description = [{
    Builds a mask from `kv_num_blocks [B, H, QB]` and
    `kv_indices [B, H, QB, KB]` (i32), and optionally the full-block pair
    `full_kv_num_blocks` / `full_kv_indices` of the same shapes: the key
    blocks `kv_indices[b, h, I, 0 : kv_num_blocks[b, h, I]]` (and likewise
    the full ones) are visible for query block `I`; every token pair inside a
    listed block is visible (FlexAttention's tensors with a no-op
    `mask_mod`; intersect with `sparse_attn.causal_mask` or use `causal` on
    the attention for a causal `mask_mod`). Entries past the count are
    ignored. `QB = ceil(Nq / query_block)` and `KB = ceil(Nk / key_block)`.
    The operands in parentheses give the dynamic sequence lengths (`Nq`,
    `Nk`) of the result type; its batch and head extents are those of the
    index tensors.

    Example:

    ```mlir
    %m = sparse_attn.mask_from_indices %num, %idx full(%fnum, %fidx) ()
        : tensor<1x8x4xi32>, tensor<1x8x4x4xi32>, tensor<1x8x4xi32>,
          tensor<1x8x4x4xi32> -> !sparse_attn.block_mask<1x8x512x512, block = 128x128>
    ```
  }];
  let arguments = (ins
    SparseAttn_BlockIndexTensor:$kv_num_blocks,
    SparseAttn_BlockIndexTensor:$kv_indices,
    Optional<SparseAttn_BlockIndexTensor>:$full_kv_num_blocks,
    Optional<SparseAttn_BlockIndexTensor>:$full_kv_indices,
    Variadic<Index>:$dynamic_sizes
  );
  let assemblyFormat = [{
    $kv_num_blocks `,` $kv_indices
    (`full` `(` $full_kv_num_blocks^ `,` $full_kv_indices `)`)?
    `(` $dynamic_sizes `)` attr-dict `:`
    type($kv_num_blocks) `,` type($kv_indices)
    (`,` type($full_kv_num_blocks)^ `,` type($full_kv_indices))?
    `->` qualified(type($result))
  }];
}

def SparseAttn_MaskToIndicesOp : SparseAttn_Op<"mask_to_indices", [Pure]> {
  let summary = "FlexAttention-style index tensors of a block mask";
  let description = [{
    Returns `kv_num_blocks`, `kv_indices`, `full_kv_num_blocks` and
    `full_kv_indices` (i32) of a mask: for each `(b, h, I)` the partial key
    blocks (some but not all visible pairs) and the full key blocks (all
    pairs inside the sequence visible), each listed in ascending order and
    padded with zeros. These are the tensors a FlexAttention `BlockMask`
    holds.

    Example:

    ```mlir
    %n, %i, %fn, %fi = sparse_attn.mask_to_indices %m
        : !sparse_attn.block_mask<1x1x256x256, block = 128x128>
        -> tensor<1x1x2xi32>, tensor<1x1x2x2xi32>, tensor<1x1x2xi32>, tensor<1x1x2x2xi32>
    ```
  }];
  let arguments = (ins SparseAttn_BlockMaskType:$mask);
  let results = (outs
    SparseAttn_BlockIndexTensor:$kv_num_blocks,
    SparseAttn_BlockIndexTensor:$kv_indices,
    SparseAttn_BlockIndexTensor:$full_kv_num_blocks,
    SparseAttn_BlockIndexTensor:$full_kv_indices
  );
  let assemblyFormat = [{
    $mask attr-dict `:` qualified(type($mask)) `->` type(results)
  }];
  let hasVerifier = 1;
}

class SparseAttn_MaskCombineOp<string mnemonic>
    : SparseAttn_Op<mnemonic, [Pure, Commutative]> {
  let arguments = (ins SparseAttn_BlockMaskType:$lhs,
                       SparseAttn_BlockMaskType:$rhs);
  let results = (outs SparseAttn_BlockMaskType:$result);
  let assemblyFormat = [{
    $lhs `,` $rhs attr-dict `:` qualified(type($lhs)) `,` qualified(type($rhs))
    `->` qualified(type($result))
  }];
  let hasVerifier = 1;
}

def SparseAttn_MaskUnionOp : SparseAttn_MaskCombineOp<"mask_union"> {
  let summary = "union of two block masks";
  let description = [{
    A pair is visible iff it is visible in either operand. Both operands have
    the same block sizes and sequence lengths; batch and head extents of 1
    broadcast against the other operand's.

    Example:

    ```mlir
    %u = sparse_attn.mask_union %a, %b
        : !sparse_attn.block_mask<1x1x?x?, block = 128x128>,
          !sparse_attn.block_mask<2x8x?x?, block = 128x128>
        -> !sparse_attn.block_mask<2x8x?x?, block = 128x128>
    ```
  }];
}

def SparseAttn_MaskIntersectOp : SparseAttn_MaskCombineOp<"mask_intersect"> {
  let summary = "intersection of two block masks";
  let description = [{
    A pair is visible iff it is visible in both operands. Operand rules as
    for `sparse_attn.mask_union`.

    Example:

    ```mlir
    %c = sparse_attn.mask_intersect %flex, %causal
        : !sparse_attn.block_mask<1x8x?x?, block = 128x128>,
          !sparse_attn.block_mask<1x1x?x?, block = 128x128>
        -> !sparse_attn.block_mask<1x8x?x?, block = 128x128>
    ```
  }];
}

include "sparse_attn/Dialect/SparseAttn/IR/SparseAttnTileOps.td"

#endif // SPARSE_ATTN_OPS_TD
