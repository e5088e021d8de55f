//===- SparseAttnTileOps.td - tile-level sparse_attn ops ---*- tablegen -*-===//
//
// The tiled level of the dialect: what `sparse-attn-tile` emits inside the
// query-tile grid and the key-tile loops. Every op works on static tiles at
// the granularity one GPU warpgroup executes (a 64 or 128 row query tile, a
// key tile, a row vector of per-query state); `sparse-attn-decompose-tiles`
// is the only place that knows their CPU form.
//
// Units: softmax and elastic-softmax scores are in base-2 units (log2(e) is
// folded into the scale, so exp becomes exp2); entmax scores are the
// thresholded quantity x = (alpha - 1) * s. Row vectors are f32.
//
//===----------------------------------------------------------------------===//

#ifndef SPARSE_ATTN_TILE_OPS_TD
#define SPARSE_ATTN_TILE_OPS_TD

include "mlir/IR/OpBase.td"
include "mlir/Interfaces/ControlFlowInterfaces.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "sparse_attn/Dialect/SparseAttn/IR/SparseAttnDialect.td"
include "sparse_attn/Dialect/SparseAttn/IR/SparseAttnAttributes.td"
include "sparse_attn/Dialect/SparseAttn/IR/SparseAttnTypes.td"

def SparseAttn_Tile : TypeConstraint<
    And<[TensorRankOf<[BF16, F16, F32], [2]>.predicate, HasStaticShapePred]>,
    "static 2-D tile of bf16, f16 or f32", "::mlir::RankedTensorType">;
def SparseAttn_F32Tile : Type<
    And<[TensorRankOf<[F32], [2]>.predicate, HasStaticShapePred]>,
    "static 2-D tile of f32", "::mlir::RankedTensorType">;
def SparseAttn_RowVector : Type<
    And<[TensorRankOf<[F32], [1]>.predicate, HasStaticShapePred]>,
    "static 1-D vector of f32 (one entry per tile row)",
    "::mlir::RankedTensorType">;

class SparseAttn_TileOp<string mnemonic, list<Trait> traits = []>
    : SparseAttn_Op<mnemonic, !listconcat(traits, [Pure])> {
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Loading tiles
//===----------------------------------------------------------------------===//

def SparseAttn_LoadTileOp : SparseAttn_TileOp<"load_tile"> {
  let summary = "zero-padded static tile of a [B, H, N, D] tensor";
  let description = [{
    `result[r, d] = source[batch, head, row + r, d]` for `row + r < N`, and
    zero for the rows past the end of the sequence (what a TMA load does
    out of bounds). The tile holds `R` consecutive rows of one head; its
    element type is the source's.

    Example:

    ```mlir
    %k = sparse_attn.load_tile %key[%b, %hkv, %k0]
        : tensor<?x?x?x64xbf16> -> tensor<64x64xbf16>
    ```
  }];
  let arguments = (ins
    TensorRankOf<[BF16, F16, F32], [4]>:$source,
    Index:$batch, Index:$head, Index:$row
  );
  let results = (outs SparseAttn_Tile:$result);
  let assemblyFormat = [{
    $source `[` $batch `,` $head `,` $row `]` attr-dict `:` type($source)
    `->` type($result)
  }];
}

def SparseAttn_GatherTileOp : SparseAttn_TileOp<"gather_tile"> {
  let summary = "zero-padded static tile of [B, H, N, D] rows gathered by index";
  let description = [{
    `result[r, d] = source[batch, head, rows[start + r], d]` for
    `start + r < count`, and zero for the rows past `count`. `rows` (i32)
    lists positions inside `[0, N)` in its first `count` entries; the tile
    holds `R` of them from `start` on (MInference's gathered vertical
    columns; a TMA gather on the GPU).

    Example:

    ```mlir
    %k = sparse_attn.gather_tile %key[%b, %hkv] rows(%list[%c0], %n)
        : tensor<?x?x?x64xbf16>, tensor<?xi32> -> tensor<64x64xbf16>
    ```
  }];
  let arguments = (ins
    TensorRankOf<[BF16, F16, F32], [4]>:$source,
    Index:$batch, Index:$head,
    TensorRankOf<[I32], [1]>:$rows,
    Index:$start, Index:$count
  );
  let results = (outs SparseAttn_Tile:$result);
  let assemblyFormat = [{
    $source `[` $batch `,` $head `]` `rows` `(` $rows `[` $start `]` `,`
    $count `)` attr-dict `:` type($source) `,` type($rows) `->` type($result)
  }];
}

def SparseAttn_LoadScoreChunkOp : SparseAttn_TileOp<"load_score_chunk"> {
  let summary = "scaled f32 chunk of a [R, N] tensor, -inf outside";
  let description = [{
    `result[r, c] = scale * source[row + r, col + c]` in f32 where the
    position lies inside the source, and `-inf` (an entry that does not
    exist) elsewhere. The row-wise entmax reads its rows chunk by chunk
    through this op, `scale` being `alpha - 1`.

    Example:

    ```mlir
    %x = sparse_attn.load_score_chunk %input[%r0, %c0] scale(0.5)
        : tensor<?x?xbf16> -> tensor<8x128xf32>
    ```
  }];
  let arguments = (ins
    TensorRankOf<[BF16, F16, F32], [2]>:$source,
    Index:$row, Index:$col,
    F32Attr:$scale
  );
  let results = (outs SparseAttn_F32Tile:$result);
  let assemblyFormat = [{
    $source `[` $row `,` $col `]` `scale` `(` $scale `)` attr-dict `:`
    type($source) `->` type($result)
  }];
}

//===----------------------------------------------------------------------===//
// Scores and visibility
//===----------------------------------------------------------------------===//

def SparseAttn_ScoreTileOp : SparseAttn_TileOp<"score_tile",
    [AttrSizedOperandSegments, SingleBlock]> {
  let summary = "scaled score tile S = scale * q k^T (+ bias), masked";
  let description = [{
    For the query tile `query [TQ, D]` whose row `r` is the absolute query
    `i = row_offset + r`, and the key tile `key [TK, D]` whose row `c` is the
    absolute key `j = col_offset + c`:

        S[r, c] = scale * sum_d query[r, d] * key[c, d]
                  + bias_scale * bias[bias_head, i + bias_diagonal - j]

    computed in f32; the bias term is present when `bias` is given and
    `0 <= i + bias_diagonal - j < W` (`W` the bias's second extent). With
    the optional `visible` region (the FlexAttention `mask_mod`: arguments
    `i` and `j`, yields an `i1`), entries whose region yields false are
    `-inf`. Without the region every entry is visible (a full block).

    Example (causal, keys past %len invisible):

    ```mlir
    %s = sparse_attn.score_tile %q, %k at [%q0, %k0] scale(0.18033688)
        visible {
        ^bb0(%i: index, %j: index):
          %in = arith.cmpi slt, %j, %len : index
          %pos = arith.addi %i, %off : index
          %causal = arith.cmpi sle, %j, %pos : index
          %v = arith.andi %in, %causal : i1
          sparse_attn.yield %v : i1
        } : tensor<64x64xbf16>, tensor<64x64xbf16> -> tensor<64x64xf32>
    ```
  }];
  let arguments = (ins
    SparseAttn_Tile:$query,
    SparseAttn_Tile:$key,
    Index:$row_offset,
    Index:$col_offset,
    Optional<TensorRankOf<[BF16, F16, F32], [2]>>:$bias,
    Optional<Index>:$bias_head,
    Optional<Index>:$bias_diagonal,
    F32Attr:$scale,
    OptionalAttr<F32Attr>:$bias_scale
  );
  let results = (outs SparseAttn_F32Tile:$result);
  let regions = (region MaxSizedRegion<1>:$visible);
  let assemblyFormat = [{
    $query `,` $key `at` ` ` `[` $row_offset `,` $col_offset `]`
    `scale` `(` $scale `)`
    (`bias` `(` $bias^ `[` $bias_head `,` $bias_diagonal `]` `:` type($bias)
     `)` `bias_scale` `(` $bias_scale `)`)?
    (`visible` $visible^)?
    attr-dict `:` type($query) `,` type($key) `->` type($result)
  }];
  let extraClassDeclaration = [{
    /// Whether the tile is masked elementwise (a partial block).
    bool isMasked() { return !getVisible().empty(); }
    /// The value the `visible` region yields; null without the region.
    ::mlir::Value getVisibleCondition();
  }];
}

def SparseAttn_YieldOp : SparseAttn_Op<"yield",
    [Pure, Terminator, ReturnLike, HasParent<"ScoreTileOp">]> {
  let summary = "yields the visibility of one score entry";
  let description = [{
    Terminates the `visible` region of `sparse_attn.score_tile` with the
    `i1` visibility of the entry `(i, j)`.

    Example:

    ```mlir
    sparse_attn.yield %visible : i1
    ```
  }];
  let arguments = (ins I1:$value);
  let assemblyFormat = "$value attr-dict `:` type($value)";
}

def SparseAttn_MaskVisibleOp : SparseAttn_TileOp<"mask_visible"> {
  let summary = "token-level visibility of a block mask";
  let description = [{
    `M[b', h', i, j]` of the mask (docs/design/semantics.md), `b'` being 0
    when the mask's batch extent is 1 and `batch` otherwise, likewise `h'`.
    Positions outside the mask's sequence lengths are invisible.
    `sparse-attn-tile` places this op in score regions;
    `sparse-attn-fuse` replaces it by the arithmetic of the mask's
    producers.

    Example:

    ```mlir
    %v = sparse_attn.mask_visible %m[%b, %h, %i, %j]
        : !sparse_attn.block_mask<1x1x?x?, block = 128x128>
    ```
  }];
  let arguments = (ins
    SparseAttn_BlockMaskType:$mask,
    Index:$batch, Index:$head, Index:$query, Index:$key
  );
  let results = (outs I1:$result);
  let assemblyFormat = [{
    $mask `[` $batch `,` $head `,` $query `,` $key `]` attr-dict `:`
    qualified(type($mask))
  }];
  let hasVerifier = 0;
}

def SparseAttn_IndexRowContainsOp : SparseAttn_TileOp<"index_row_contains"> {
  let summary = "whether a FlexAttention index row lists a block";
  let description = [{
    With `n = clamp(counts[batch, head, row], 0, KB)` (`KB` the last extent
    of `indices`), reduced to `min(n, limit)` when `limit` is given: true
    iff `indices[batch, head, row, s] == block` for some `s < n`. Block
    walks use it to drop duplicate entries (`limit` = the entry's own
    position) and to test membership in another row.

    Example:

    ```mlir
    %seen = sparse_attn.index_row_contains %num, %idx[%b, %h, %qb] block(%kb)
        limit(%s) : tensor<1x8x4xi32>, tensor<1x8x4x4xi32>
    ```
  }];
  let arguments = (ins
    TensorRankOf<[I32], [3]>:$counts,
    TensorRankOf<[I32], [4]>:$indices,
    Index:$batch, Index:$head, Index:$row,
    I32:$block,
    Optional<Index>:$limit
  );
  let results = (outs I1:$result);
  let assemblyFormat = [{
    $counts `,` $indices `[` $batch `,` $head `,` $row `]`
    `block` `(` $block `)` (`limit` `(` $limit^ `)`)? attr-dict `:`
    type($counts) `,` type($indices)
  }];
}

//===----------------------------------------------------------------------===//
// Softmax and elastic softmax steps (base-2 units)
//===----------------------------------------------------------------------===//

def SparseAttn_OnlineSoftmaxOp : SparseAttn_TileOp<"online_softmax",
    [AllTypesMatch<["max", "sum", "new_max", "new_sum"]>,
     AllTypesMatch<["acc", "new_acc"]>]> {
  let summary = "online-softmax update with P @ V";
  let description = [{
    One key tile of the streaming softmax, scores in base-2 units:

        new_max = max(max, max_c scores[:, c])
        m       = new_max, or 0 where new_max = -inf (no visible key yet)
        P       = exp2(scores - m)
        new_sum = exp2(max - m) * sum + sum_c P[:, c]
        new_acc = exp2(max - m) * acc + P @ value

    The `-inf` guard keeps fully masked rows and tiles free of NaN.

    Example:

    ```mlir
    %m1, %l1, %acc1 = sparse_attn.online_softmax %s, %v, %m, %l, %acc
        : tensor<64x64xf32>, tensor<64x32xbf16>, tensor<64xf32>,
          tensor<64x32xf32>
    ```
  }];
  let arguments = (ins
    SparseAttn_F32Tile:$scores, SparseAttn_Tile:$value,
    SparseAttn_RowVector:$max, SparseAttn_RowVector:$sum,
    SparseAttn_F32Tile:$acc
  );
  let results = (outs
    SparseAttn_RowVector:$new_max, SparseAttn_RowVector:$new_sum,
    SparseAttn_F32Tile:$new_acc
  );
  let assemblyFormat = [{
    $scores `,` $value `,` $max `,` $sum `,` $acc attr-dict `:`
    type($scores) `,` type($value) `,` type($max) `,` type($acc)
  }];
}

def SparseAttn_OnlineLogSumExpOp : SparseAttn_TileOp<"online_logsumexp",
    [AllTypesMatch<["max", "sum", "new_max", "new_sum"]>]> {
  let summary = "online log-sum-exp update (the softmax pass without P @ V)";
  let description = [{
    `online_softmax` without the value product: the running row maximum and
    the running sum of `exp2(scores - max)` in base-2 units, with the same
    `-inf` guard. Elastic softmax makes this its first pass over the keys.

    Example:

    ```mlir
    %m1, %l1 = sparse_attn.online_logsumexp %s, %m, %l
        : tensor<64x64xf32>, tensor<64xf32>
    ```
  }];
  let arguments = (ins
    SparseAttn_F32Tile:$scores,
    SparseAttn_RowVector:$max, SparseAttn_RowVector:$sum
  );
  let results = (outs
    SparseAttn_RowVector:$new_max, SparseAttn_RowVector:$new_sum
  );
  let assemblyFormat = [{
    $scores `,` $max `,` $sum attr-dict `:` type($scores) `,` type($max)
  }];
}

def SparseAttn_RowMaxOp : SparseAttn_TileOp<"row_max",
    [AllTypesMatch<["max", "count", "new_max", "new_count"]>]> {
  let summary = "running row maximum and count of visible entries";
  let description = [{
    `new_max = max(max, max_c scores[:, c])` and
    `new_count = count + #{c : scores[:, c] > -inf}` (as f32). The entmax
    max pass; elastic softmax also records per-tile row maxima with it.

    Example:

    ```mlir
    %m1, %n1 = sparse_attn.row_max %x, %m, %n : tensor<64x64xf32>, tensor<64xf32>
    ```
  }];
  let arguments = (ins
    SparseAttn_F32Tile:$scores,
    SparseAttn_RowVector:$max, SparseAttn_RowVector:$count
  );
  let results = (outs
    SparseAttn_RowVector:$new_max, SparseAttn_RowVector:$new_count
  );
  let assemblyFormat = [{
    $scores `,` $max `,` $count attr-dict `:` type($scores) `,` type($max)
  }];
}

def SparseAttn_ElasticAccumulateOp : SparseAttn_TileOp<"elastic_accumulate",
    [AllTypesMatch<["max", "sum"]>, AllTypesMatch<["acc", "new_acc"]>]> {
  let summary = "elastic-softmax weights of a tile times V, accumulated";
  let description = [{
    With the final row maximum and sum of the log-sum-exp pass (base-2
    units), `P = exp2(scores - max) / sum` is the softmax weight and

        w[r, c] = max(0, P[r, c] + tau / (position + r + 1))
        new_acc = acc + w @ value

    Rows with `sum = 0` (no visible key) get no weight. `position` is the
    absolute position of the tile's first query row.

    Example:

    ```mlir
    %acc1 = sparse_attn.elastic_accumulate %s, %v, %m, %l, %acc
        shift(%tau, %pos0) : tensor<64x64xf32>, tensor<64x32xf32>,
        tensor<64xf32>, tensor<64x32xf32>
    ```
  }];
  let arguments = (ins
    SparseAttn_F32Tile:$scores, SparseAttn_Tile:$value,
    SparseAttn_RowVector:$max, SparseAttn_RowVector:$sum,
    SparseAttn_F32Tile:$acc, F32:$tau, Index:$position
  );
  let results = (outs SparseAttn_F32Tile:$new_acc);
  let assemblyFormat = [{
    $scores `,` $value `,` $max `,` $sum `,` $acc
    `shift` `(` $tau `,` $position `)` attr-dict `:`
    type($scores) `,` type($value) `,` type($max) `,` type($acc)
  }];
}

def SparseAttn_ElasticTileLiveOp : SparseAttn_TileOp<"elastic_tile_live",
    [AllTypesMatch<["tile_max", "max", "sum"]>]> {
  let summary = "whether some elastic-softmax weight of a tile is positive";
  let description = [{
    `tile_max[r]` is the maximum score of row `r` inside one key tile
    (base-2 units, recorded during the log-sum-exp pass). The result is
    true iff some row `r` with `sum[r] > 0` has
    `exp2(tile_max[r] - max[r]) / sum[r] + tau / (position + r + 1) > 0`,
    i.e. the tile's largest weight of that row survives the shift; when it
    is false every weight of the tile is zero and the output pass skips it.

    Example:

    ```mlir
    %live = sparse_attn.elastic_tile_live %tmax, %m, %l shift(%tau, %pos0)
        : tensor<64xf32>
    ```
  }];
  let arguments = (ins
    SparseAttn_RowVector:$tile_max, SparseAttn_RowVector:$max,
    SparseAttn_RowVector:$sum, F32:$tau, Index:$position
  );
  let results = (outs I1:$result);
  let assemblyFormat = [{
    $tile_max `,` $max `,` $sum `shift` `(` $tau `,` $position `)` attr-dict
    `:` type($tile_max)
  }];
  let hasVerifier = 0;
}

def SparseAttn_SoftmaxFinalizeOp : SparseAttn_TileOp<"softmax_finalize",
    [AllTypesMatch<["max", "sum", "logsumexp"]>]> {
  let summary = "output rows and log-sum-exp of a softmax query tile";
  let description = [{
    For rows `r < rows` with `sum[r] > 0`: `output[r] = acc[r] / sum[r]`
    (or `acc[r]` itself with `unnormalized`, as elastic softmax needs) and
    `logsumexp[r] = ln(2) * (max[r] + log2(sum[r]))` (natural units). Other
    rows (padding, no visible key) are zero with a `-inf` log-sum-exp.
    The output has the element type of the attention result.

    Example:

    ```mlir
    %o, %lse = sparse_attn.softmax_finalize %m, %l, %acc rows(%n)
        : tensor<64xf32>, tensor<64x32xf32> -> tensor<64x32xbf16>
    ```
  }];
  let arguments = (ins
    SparseAttn_RowVector:$max, SparseAttn_RowVector:$sum,
    SparseAttn_F32Tile:$acc, Index:$rows, UnitAttr:$unnormalized
  );
  let results = (outs SparseAttn_Tile:$output, SparseAttn_RowVector:$logsumexp);
  let assemblyFormat = [{
    $max `,` $sum `,` $acc `rows` `(` $rows `)` (`unnormalized` $unnormalized^)?
    attr-dict `:` type($max) `,` type($acc) `->` type($output)
  }];
}

//===----------------------------------------------------------------------===//
// Entmax threshold solver and output (units of x = (alpha - 1) s)
//===----------------------------------------------------------------------===//

def SparseAttn_EntmaxHistogramOp : SparseAttn_TileOp<"entmax_histogram",
    [AllTypesMatch<["histogram", "new_histogram"]>]> {
  let summary = "per-bin counts of the entries within 1 of the row maximum";
  let description = [{
    With the origin `t0 = max[r] - 1` (`max` the row maxima of the scores
    over all key tiles), every entry with `z = scores[r, c] - t0 >= 0`
    counts into bin `min(floor(z * BINS), BINS - 1)` of row `r` of
    `histogram [TQ, BINS]` (i32). Counts alone bound the entmax threshold
    from both sides: moving every entry of bin `k` down to its lower edge
    `k / BINS` (or up to `(k + 1) / BINS`) can only lower (raise) the
    objective, so the roots of those two step functions bracket the true
    one within one bin width (ALGORITHMS.md section 1, histogram start),
    and integer counts take the GPU's native shared-memory atomics. Rows
    with `max = -inf` add nothing.

    Example:

    ```mlir
    %h1 = sparse_attn.entmax_histogram %x, %m, %h
        : tensor<64x64xf32>, tensor<64xf32>, tensor<64x64xi32>
    ```
  }];
  let arguments = (ins
    SparseAttn_F32Tile:$scores, SparseAttn_RowVector:$max,
    StaticShapeTensorOf<[I32]>:$histogram
  );
  let results = (outs StaticShapeTensorOf<[I32]>:$new_histogram);
  let assemblyFormat = [{
    $scores `,` $max `,` $histogram attr-dict `:` type($scores) `,`
    type($max) `,` type($histogram)
  }];
}

def SparseAttn_EntmaxMomentsOp : SparseAttn_TileOp<"entmax_moments",
    [AllTypesMatch<["threshold", "s0", "s1", "s2", "new_s0", "new_s1",
                    "new_s2"]>]> {
  let summary = "moments of the entmax objective at a per-row threshold";
  let description = [{
    With `c0 = 1 / (alpha - 1)`, `c1 = c0 - 1`, `c2 = c0 - 2` and
    `d = scores[r, c] - threshold[r]`, over the entries with `d > 0`:
    `new_s0 = s0 + sum d^c0`, `new_s1 = s1 + sum d^c1`,
    `new_s2 = s2 + sum d^c2`. `f = s0 - 1` is the entmax objective,
    `f' = -c0 s1`, `f'' = c0 c1 s2`. For alpha = 2, `s1` counts the
    support; for alpha = 1.5, `s2` does. No transcendental function is
    needed for alpha in {1.5, 2}.

    Example:

    ```mlir
    %a0, %a1, %a2 = sparse_attn.entmax_moments <alpha = 1.5> %x, %tau, %s0, %s1, %s2
        : tensor<64x64xf32>, tensor<64xf32>
    ```
  }];
  let arguments = (ins
    SparseAttn_EntmaxAttr:$config,
    SparseAttn_F32Tile:$scores, SparseAttn_RowVector:$threshold,
    SparseAttn_RowVector:$s0, SparseAttn_RowVector:$s1,
    SparseAttn_RowVector:$s2
  );
  let results = (outs
    SparseAttn_RowVector:$new_s0, SparseAttn_RowVector:$new_s1,
    SparseAttn_RowVector:$new_s2
  );
  let assemblyFormat = [{
    $config $scores `,` $threshold `,` $s0 `,` $s1 `,` $s2 attr-dict `:`
    type($scores) `,` type($threshold)
  }];
}

def SparseAttn_EntmaxThresholdInitOp
    : SparseAttn_TileOp<"entmax_threshold_init",
    [AllTypesMatch<["max", "count", "threshold", "lower", "upper"]>]> {
  let summary = "initial entmax threshold and bracket per row";
  let description = [{
    From the row maximum `max` and the number `count` of visible entries:
    without a histogram, the bracket `[max - 1, max - count^(1 - alpha)]`
    (ALGORITHMS.md section 1) and the start `threshold = lower`. With the
    counts of `sparse_attn.entmax_histogram` (origin `max - 1`; alpha 1.5
    or 2 only): `lower` is the root of the objective with every entry at
    its bin's lower edge (exact on the suffix of bins above it), no less
    than `max - 1`, and `upper` that root plus one bin width (every entry
    at its upper edge); both are proven bounds of the true threshold, and
    the start is `lower`, where the solver's exactness proof applies
    (`sparse_attn.entmax_threshold_step`). Empty rows (`max = -inf`) get
    `+inf` for all three.

    Example:

    ```mlir
    %tau, %lo, %hi = sparse_attn.entmax_threshold_init <alpha = 1.5> %m, %n
        histogram(%h : tensor<64x64xi32>) : tensor<64xf32>
    ```
  }];
  let arguments = (ins
    SparseAttn_EntmaxAttr:$config,
    SparseAttn_RowVector:$max, SparseAttn_RowVector:$count,
    Optional<StaticShapeTensorOf<[I32]>>:$histogram
  );
  let results = (outs
    SparseAttn_RowVector:$threshold, SparseAttn_RowVector:$lower,
    SparseAttn_RowVector:$upper
  );
  let assemblyFormat = [{
    $config $max `,` $count
    (`histogram` `(` $histogram^ `:` type($histogram) `)`)?
    attr-dict `:` type($max)
  }];
}

def SparseAttn_EntmaxThresholdStepOp
    : SparseAttn_TileOp<"entmax_threshold_step",
    [AllTypesMatch<["threshold", "lower", "upper", "s0", "s1", "s2",
                    "new_threshold", "new_lower", "new_upper"]>]> {
  let summary = "one hybrid entmax solver step from the moments at a threshold";
  let description = [{
    Given the moments of `sparse_attn.entmax_moments` at `threshold`
    (`f = s0 - 1`): the bracket tightens (`f >= 0`: `new_lower =
    max(lower, threshold)`, which keeps `lower` a proven lower bound; else
    `new_upper = min(upper, threshold)`). The candidate is, for alpha = 2
    and 1.5, the closed-form root on the support `{x > threshold}` (exact
    once the support is right), otherwise the Halley step
    `threshold - 2 f f' / (2 f'^2 - f f'')`. The bisection midpoint
    replaces a candidate outside `(new_lower - 1e-6, new_upper + 1e-6)` or
    NaN and, for the Halley step, one not strictly inside the bracket or,
    while `|f| > 2^-16`, shorter than 1/64 of the bracket (entries just above the threshold make the derivatives
    of alpha > 1.5 huge and the step crawl); the result is clamped into the
    bracket. Rows with an infinite threshold (empty rows) keep it. With
    `r = 2^-20 * max(1, |threshold|)` (a few f32 ulps), a row has converged
    when it moved by at most `r` with `|f| <= 2^-16`, or when its bracket
    is at most `r` wide; `converged` is true when every row has, and the
    solver loop may stop there.

    With `gap` (alpha 1.5 and 2), the record of
    `sparse_attn.entries_between` from `threshold` to `upper`, a row whose
    record is complete (at most `K` entries) also converges on a proof when
    `f >= 0`: with the entries `e_1 <= ... <= e_m` of the record in order
    and `e_0 = threshold`, the closed form `t_j` on the support
    `{x > threshold}` without `e_1 .. e_j` is the root if
    `e_j <= t_j < e_{j+1}` (`e_{m+1} = +inf`) and `t_j <= upper` (up to a
    few ulps of rounding): every other entry above the threshold exceeds
    `upper`, so `{x > t_j}` is exactly the support `t_j` was solved on. The root is taken without the
    pass that would confirm it. Unproven with `f >= 0`, alpha 1.5 steps to
    the Newton point `threshold + f / (2 s1)` instead of the closed form,
    which on a superset of the support overshoots the root and so becomes
    the new upper bound; `f` is convex and decreasing, so the Newton point
    stays below the root (where the proof applies) and converges
    quadratically.

    Example:

    ```mlir
    %tau1, %lo1, %hi1, %done = sparse_attn.entmax_threshold_step <alpha = 1.5>
        %tau, %lo, %hi, %s0, %s1, %s2 gap(%g : tensor<64x17xi32>)
        : tensor<64xf32>
    ```
  }];
  let arguments = (ins
    SparseAttn_EntmaxAttr:$config,
    SparseAttn_RowVector:$threshold, SparseAttn_RowVector:$lower,
    SparseAttn_RowVector:$upper, SparseAttn_RowVector:$s0,
    SparseAttn_RowVector:$s1, SparseAttn_RowVector:$s2,
    Optional<StaticShapeTensorOf<[I32]>>:$gap
  );
  let results = (outs
    SparseAttn_RowVector:$new_threshold, SparseAttn_RowVector:$new_lower,
    SparseAttn_RowVector:$new_upper, I1:$converged
  );
  let assemblyFormat = [{
    $config $threshold `,` $lower `,` $upper `,` $s0 `,` $s1 `,` $s2
    (`gap` `(` $gap^ `:` type($gap) `)`)? attr-dict `:` type($threshold)
  }];
}

def SparseAttn_EntmaxAccumulateOp : SparseAttn_TileOp<"entmax_accumulate",
    [AllTypesMatch<["threshold", "sum", "new_sum"]>,
     AllTypesMatch<["acc", "new_acc"]>]> {
  let summary = "entmax weights of a tile times V, accumulated with their sum";
  let description = [{
    `w = [scores - threshold]_+ ^ (1 / (alpha - 1))` (rowwise threshold),
    `new_acc = acc + w @ value`, `new_sum = sum + sum_c w[:, c]`. The sum
    renormalises the output row at the end (its deviation from one is the
    solver's residual).

    Example:

    ```mlir
    %acc1, %l1 = sparse_attn.entmax_accumulate <alpha = 1.5> %x, %v, %tau, %acc, %l
        : tensor<64x64xf32>, tensor<64x32xbf16>, tensor<64xf32>, tensor<64x32xf32>
    ```
  }];
  let arguments = (ins
    SparseAttn_EntmaxAttr:$config,
    SparseAttn_F32Tile:$scores, SparseAttn_Tile:$value,
    SparseAttn_RowVector:$threshold, SparseAttn_F32Tile:$acc,
    SparseAttn_RowVector:$sum
  );
  let results = (outs SparseAttn_F32Tile:$new_acc,
                      SparseAttn_RowVector:$new_sum);
  let assemblyFormat = [{
    $config $scores `,` $value `,` $threshold `,` $acc `,` $sum attr-dict
    `:` type($scores) `,` type($value) `,` type($threshold) `,` type($acc)
  }];
}

def SparseAttn_EntmaxWeightsOp : SparseAttn_TileOp<"entmax_weights",
    [AllTypesMatch<["threshold", "sum"]>]> {
  let summary = "normalised entmax weights of a chunk of rows";
  let description = [{
    `result[r, c] = [scores[r, c] - threshold[r]]_+ ^ (1 / (alpha - 1)) /
    sum[r]` (zero where `sum[r]` is not positive), rounded to the result
    element type: the output chunk of the row-wise entmax, `sum` being the
    row's total weight at `threshold` (renormalisation).

    Example:

    ```mlir
    %p = sparse_attn.entmax_weights <alpha = 2.0> %x, %tau, %l
        : tensor<8x128xf32>, tensor<8xf32> -> tensor<8x128xbf16>
    ```
  }];
  let arguments = (ins
    SparseAttn_EntmaxAttr:$config,
    SparseAttn_F32Tile:$scores, SparseAttn_RowVector:$threshold,
    SparseAttn_RowVector:$sum
  );
  let results = (outs SparseAttn_Tile:$result);
  let assemblyFormat = [{
    $config $scores `,` $threshold `,` $sum attr-dict `:`
    type($scores) `,` type($threshold) `->` type($result)
  }];
}

def SparseAttn_AnyAboveOp : SparseAttn_TileOp<"any_above"> {
  let summary = "whether some entry of a tile exceeds its row's threshold";
  let description = [{
    True iff `scores[r, c] > threshold[r]` for some `(r, c)`. With a lower
    bound of the entmax threshold this is the AdaSplash block-mask bit of
    the tile: false proves the tile has no weight.

    Example:

    ```mlir
    %hit = sparse_attn.any_above %x, %lo : tensor<64x64xf32>, tensor<64xf32>
    ```
  }];
  let arguments = (ins
    SparseAttn_F32Tile:$scores, SparseAttn_RowVector:$threshold
  );
  let results = (outs I1:$result);
  let assemblyFormat = [{
    $scores `,` $threshold attr-dict `:` type($scores) `,` type($threshold)
  }];
}

def SparseAttn_EntriesBetweenOp : SparseAttn_TileOp<"entries_between",
    [AllTypesMatch<["lower", "upper"]>, AllTypesMatch<["gap", "new_gap"]>]> {
  let summary = "entries of each row between two bounds, counted and kept";
  let description = [{
    The entries `lower[r] < scores[r, c] <= upper[r]` of each row join the
    row's gap record `gap[r]` (i32, `1 + K` columns): column 0 counts them
    all, and while the count is at most `K` columns `1 .. count` hold their
    f32 bit patterns in unspecified order (past `K` the kept entries are
    unspecified). Between the threshold of a solver pass and the upper
    bound of the root, these are the entries that may leave the support: a
    complete record lets `sparse_attn.entmax_threshold_step` solve the
    root exactly in the pass (one entry per row in a 1/64 bin width, 3 on
    average at 16K random keys).

    Example:

    ```mlir
    %g1 = sparse_attn.entries_between %x, %tau, %hi, %g0
        : tensor<64x64xf32>, tensor<64xf32>, tensor<64x17xi32>
    ```
  }];
  let arguments = (ins
    SparseAttn_F32Tile:$scores, SparseAttn_RowVector:$lower,
    SparseAttn_RowVector:$upper, StaticShapeTensorOf<[I32]>:$gap
  );
  let results = (outs StaticShapeTensorOf<[I32]>:$new_gap);
  let assemblyFormat = [{
    $scores `,` $lower `,` $upper `,` $gap attr-dict `:`
    type($scores) `,` type($lower) `,` type($gap)
  }];
}

def SparseAttn_EntmaxFinalizeOp : SparseAttn_TileOp<"entmax_finalize",
    [AllTypesMatch<["threshold", "sum", "statistic"]>]> {
  let summary = "output rows and threshold statistic of an entmax query tile";
  let description = [{
    For rows `r < rows` with `sum[r] > 0`: `output[r] = acc[r] / sum[r]`
    (renormalised, so the weights sum to one up to f32 rounding) and
    `statistic[r] = threshold[r]`. Other rows are zero with a `+inf`
    statistic.

    Example:

    ```mlir
    %o, %tau_out = sparse_attn.entmax_finalize %tau, %l, %acc rows(%n)
        : tensor<64xf32>, tensor<64x32xf32> -> tensor<64x32xf32>
    ```
  }];
  let arguments = (ins
    SparseAttn_RowVector:$threshold, SparseAttn_RowVector:$sum,
    SparseAttn_F32Tile:$acc, Index:$rows
  );
  let results = (outs SparseAttn_Tile:$output, SparseAttn_RowVector:$statistic);
  let assemblyFormat = [{
    $threshold `,` $sum `,` $acc `rows` `(` $rows `)` attr-dict `:`
    type($threshold) `,` type($acc) `->` type($output)
  }];
}

#endif // SPARSE_ATTN_TILE_OPS_TD
