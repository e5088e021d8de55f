//===- Passes.td - sparse_attn transformation passes -------*- tablegen -*-===//

#ifndef SPARSE_ATTN_TRANSFORMS_PASSES_TD
#define SPARSE_ATTN_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def SparseAttnTilePass : Pass<"sparse-attn-tile", "ModuleOp"> {
  let summary = "Tile attention and row-wise entmax into a query-tile grid "
                "with key-tile loops";
  let description = [{
    Rewrites every `sparse_attn.attention` into an `scf.forall` grid over
    (batch, head, query tile) whose body loads its query tile once and runs
    one or more `scf.for` loops over the key tiles with the normaliser's
    state as iter_args (docs/design/tiling.md):

    - softmax: one pass; running max, sum and accumulator
      (`sparse_attn.online_softmax`, scores in base-2 units: log2(e) is
      folded into the scale so the CPU and the GPU use exp2);
    - entmax: a max pass, for alpha in {1.5, 2} a histogram pass, the
      solver iterations in an `scf.while` (one moments pass each, then the
      closed-form or Halley step with bisection safeguards; it stops when no
      threshold of the tile moves, or after `iterations` passes when the
      attribute fixes them), then the output pass with the final threshold
      and no running max;
    - elastic softmax: a log-sum-exp pass, then the output pass.

    Every key loop is tagged `sparse_attn.key_pass = "<kind>"`. Each key
    tile's scores come from `sparse_attn.score_tile`, whose `visible`
    region is the token-level predicate: `i < Lq`, `j < Lk`, the causal
    condition `j <= i + (Lk - Lq)` and `sparse_attn.mask_visible` of the
    mask; varlen lengths also bound the key loops (a sequence with
    `Lk = 0` visits nothing). GQA reads key/value head `h / g` in place.
    `sparse_attn.entmax` becomes a grid over row tiles whose loops stream
    over chunks of the rows with the same threshold solver.

    Tile sizes are options; tiles never straddle a mask block: a tile
    larger than a mask's block size shrinks to it.

    Before:

    ```mlir
    %o = sparse_attn.attention softmax causal %q, %k, %v
        : tensor<1x2x100x16xf32>, tensor<1x2x100x16xf32>,
          tensor<1x2x100x16xf32> -> tensor<1x2x100x16xf32>
    ```

    After (abridged):

    ```mlir
    %r = scf.forall (%b, %h, %qt) in (1, 2, 2) shared_outs(%out = %init) {
      %q = sparse_attn.load_tile %query[%b, %h, %q0] : ... -> tensor<64x16xf32>
      %m, %l, %acc = scf.for %kt = %c0 to %nkt step %c1
          iter_args(%m0 = %neg_inf, %l0 = %zeros, %a0 = %zero_acc) {
        %k = sparse_attn.load_tile %key[%b, %hkv, %k0] : ...
        %v = sparse_attn.load_tile %value[%b, %hkv, %k0] : ...
        %s = sparse_attn.score_tile %q, %k at [%q0, %k0] scale(0.36067376)
            visible { ^bb0(%i: index, %j: index): ... } : ...
        %m1, %l1, %a1 = sparse_attn.online_softmax %s, %v, %m0, %l0, %a0 : ...
        scf.yield %m1, %l1, %a1 : ...
      } {sparse_attn.key_pass = "softmax"}
      %o_tile, %lse = sparse_attn.softmax_finalize %m, %l, %acc rows(%n) : ...
      scf.forall.in_parallel { tensor.parallel_insert_slice ... }
    }
    ```
  }];
  let options = [
    Option<"queryTile", "query-tile", "int64_t", /*default=*/"64",
           "Rows of a query tile (rows of a row tile for sparse_attn.entmax)">,
    Option<"keyTile", "key-tile", "int64_t", /*default=*/"64",
           "Keys of a key tile (columns of a chunk for sparse_attn.entmax)">,
    Option<"histogramBins", "histogram-bins", "int64_t", /*default=*/"64",
           "Bins of the entmax histogram start (alpha 1.5 and 2)">,
  ];
  let statistics = [
    Statistic<"numTiledAttention", "tiled-attention",
              "Attention ops tiled">,
    Statistic<"numTiledEntmax", "tiled-entmax", "Row-wise entmax ops tiled">,
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::tensor::TensorDialect",
  ];
}

def SparseAttnSkipBlocksPass : Pass<"sparse-attn-skip-blocks", "ModuleOp"> {
  let summary = "Make key loops walk the block support of the mask instead "
                "of every key tile";
  let description = [{
    For every key loop of a tiled attention, reads the conjuncts of the
    score region's predicate (`j < Lk`, `i < Lq`, `j <= i + offset`,
    `sparse_attn.mask_visible` of a mask built by mask ops; anything else
    is an unknown conjunct that never skips) and builds, once per grid
    point and predicate, the *schedule* of key tiles that can hold a
    visible entry; every pass of the grid point walks it:

    - without index lists (no mask, causal, streaming, dense, varlen):
      closed-form loop bounds, at most two ranges (a streaming mask's sink
      and window), no memory;
    - with index lists (`mask_from_indices`, and unions or intersections
      involving them): one walk per grid point over the FlexAttention rows
      (full row first, then the partial row without the blocks the full row
      lists; duplicate and out-of-range entries select nothing) into a list
      of `2 * tile + full` entries; a union walks its left operand, then its
      right one minus the left's blocks; an intersection walks its most
      selective operand and tests the other at block level.

    Each tile is classified: a full tile (every entry in the rows below the
    row bound visible) runs `sparse_attn.score_tile` without its region, a
    partial one with it (`scf.if` when only known at run time). Tiles
    never straddle mask blocks (sparse-attn-tile shrinks them).

    Normaliser-specific skipping:
    - entmax: a new pass (`sparse_attn.key_pass = "entmax_mask"`) after the
      solver lists the tiles where `sparse_attn.any_above` the solver's
      proven lower bound of the threshold holds (AdaSplash's block mask, a
      superset of the support), and the output pass walks that list;
    - elastic softmax: the log-sum-exp pass records the row maxima of every
      visited tile (`TQ` floats per tile); the output pass skips tiles for
      which `sparse_attn.elastic_tile_live` is false.

    Before (causal softmax, dense key loop):

    ```mlir
    %r:3 = scf.for %kt = %c0 to %nkt step %c1 iter_args(...) {
      %k0 = arith.muli %kt, %c64 : index
      ...
      %s = sparse_attn.score_tile %q, %k at [%q0, %k0] scale(0.18) visible {...}
      ...
    } {sparse_attn.key_pass = "softmax"}
    ```

    After:

    ```mlir
    // end = min(nkt, floordiv(last_row + offset, 64) + 1) before the loops
    %r:3 = scf.for %kt = %c0 to %end step %c1 iter_args(...) {
      %k0 = arith.muli %kt, %c64 : index
      %full = ... // k0 + 63 <= q0 + offset and k0 + 64 <= Lk
      %s = scf.if %full -> (tensor<64x64xf32>) {
        %u = sparse_attn.score_tile %q, %k at [%q0, %k0] scale(0.18) : ...
        scf.yield %u : tensor<64x64xf32>
      } else {
        %m = sparse_attn.score_tile %q, %k at [%q0, %k0] scale(0.18) visible {...}
        scf.yield %m : tensor<64x64xf32>
      }
      ...
    } {sparse_attn.key_pass = "softmax"}
    ```
  }];
  let statistics = [
    Statistic<"numKeyLoops", "key-loops", "Key loops rewritten to walk a "
              "schedule">,
    Statistic<"numListWalks", "list-walks", "Key loops walking an index-row "
              "schedule">,
    Statistic<"numEntmaxMasks", "entmax-masks", "Entmax block-mask passes "
              "inserted">,
    Statistic<"numElasticSkips", "elastic-skips", "Elastic-softmax output "
              "passes with a tile skip test">,
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::tensor::TensorDialect",
  ];
}

def SparseAttnFusePass : Pass<"sparse-attn-fuse", "ModuleOp"> {
  let summary = "Fuse mask producers into score predicates and the entmax "
                "block-mask build into the solver passes";
  let description = [{
    Two fusions on the tiled form (sparse-attn-skip-blocks has already
    fused the causal, varlen and streaming structure and the mask algebra
    into the block walk and its full/partial classification):

    1. Mask producers into their consumers. Every
       `sparse_attn.mask_visible` in a score region becomes the arithmetic
       of the mask's producers: causal and streaming conditions as `arith`
       comparisons, `mask_union` / `mask_intersect` as `arith.ori` /
       `arith.andi` of their operands' expansions, and index-list
       membership as one `sparse_attn.index_row_contains` per tile, hoisted
       out of the elementwise region (a tile lies in one mask block). No
       block-mask value is used inside the grid afterwards and the mask ops
       die. A query of a mask that has no tiled form (a prefill estimator,
       `mask_route_heads`, a function argument, or an algebra involving
       one) stays: `convert-sparse-attn-to-linalg` reads it from the mask's
       token-level reference form.

       Before:

       ```mlir
       %m = sparse_attn.mask_union %a, %c : ...
       ...
       %s = sparse_attn.score_tile %q, %k at [%q0, %k0] scale(0.18) visible {
       ^bb0(%i: index, %j: index):
         %v = sparse_attn.mask_visible %m[%b, %h, %i, %j] : ...
         sparse_attn.yield %v : i1
       } : ...
       ```

       After (`%a` from `mask_from_indices`, `%c` a causal mask):

       ```mlir
       %listed = sparse_attn.index_row_contains %num, %idx[%b0, %h0, %qb]
           block(%kb) : ...
       %s = sparse_attn.score_tile %q, %k at [%q0, %k0] scale(0.18) visible {
       ^bb0(%i: index, %j: index):
         %in = ...                       // i < Nq and j < Nk
         %a_ij = arith.andi %in, %listed : i1
         %pos = arith.addi %i, %offset : index
         %c_ij = arith.cmpi sle, %j, %pos : index
         %v = arith.ori %a_ij, %c_ij : i1
         sparse_attn.yield %v : i1
       } : ...
       ```

    2. The entmax block-mask build into the solver. The separate pass over
       the keys that skip-blocks inserts after the threshold solver
       (`sparse_attn.key_pass = "entmax_mask"`) moves into the solver's
       moments pass: every solver pass lists the tiles with an entry above
       the lower bound it starts from (proven by an earlier exact
       evaluation, so the list is a superset of the support), the list is
       carried by the solver loop, and the output pass walks the list of
       the last executed pass. One pass over K less.

       Before:

       ```mlir
       %t:5 = scf.while (...) { ... } do {
         %m:3 = scf.for ... { %x = ...; sparse_attn.entmax_moments ... }
             {sparse_attn.key_pass = "entmax_solver"}
         ...
       } {sparse_attn.solver_iterations}
       %list:2 = scf.for %s = %c0 to %n step %c1 iter_args(%l = %empty, %c = %c0) {
         %x = ...
         %hit = sparse_attn.any_above %x, %t#2 : ...
         ...
       } {sparse_attn.key_pass = "entmax_mask"}
       ```

       After:

       ```mlir
       %t:7 = scf.while (..., %l0 = %empty, %c0_ = %c0) { ... } do {
       ^bb0(%it: index, %tau: tensor<64xf32>, %lo: tensor<64xf32>, ...):
         %m:5 = scf.for ... iter_args(..., %l = %l_in, %c = %c0) {
           %x = ...
           ... sparse_attn.entmax_moments ...
           %hit = sparse_attn.any_above %x, %lo : ...
           ...
         } {sparse_attn.key_pass = "entmax_solver"}
         ...
       } {sparse_attn.solver_iterations}
       // the output pass walks %t#5[0 : %t#6]
       ```
  }];
  let statistics = [
    Statistic<"numExpandedQueries", "expanded-mask-queries",
              "mask_visible queries replaced by their producers' arithmetic">,
    Statistic<"numTokenLevelQueries", "token-level-mask-queries",
              "mask_visible queries of masks without a tiled form, left to "
              "their token-level reference form">,
    Statistic<"numFusedMaskBuilds", "fused-entmax-mask-builds",
              "Entmax block-mask passes fused into the solver">,
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::tensor::TensorDialect",
  ];
}

def SparseAttnInstrumentPass : Pass<"sparse-attn-instrument", "ModuleOp"> {
  let summary = "Count, in the compiled code, the tiles visited, the passes "
                "over the keys and the solver iterations";
  let description = [{
    Makes the tiled code count what it does into the public global
    `@sparse_attn_counters : memref<R x S x i64>` (one record of
    `S = 8 + 2 * head-capacity` slots per query-tile grid, in module order,
    zero-initialised, updated with `memref.atomic_rmw addi`) and describes
    it in the constant global `@sparse_attn_counters_layout :
    memref<(4 + R) x i64>` = `[1 (version), R, S, head-capacity, kind of
    record 0, ..., kind of record R-1]` with kinds 0 softmax, 1 entmax
    attention, 2 elastic softmax, 3 row-wise entmax. Record slots:

    | slot | counts |
    |---|---|
    | 0 | grid points (query tiles, or row tiles) executed |
    | 1 | dense key tiles: per grid point, ceil(N_k / key tile) |
    | 2 | passes over the keys (key-loop executions) |
    | 3 | score tiles computed, all passes |
    | 4 | score tiles computed by the pass producing the output |
    | 5 | of those, full tiles (no elementwise mask) |
    | 6 | entmax solver iterations (threshold steps) |
    | 7 | reserved (0) |
    | 8 + 2h | tiles of the output pass for head h |
    | 9 + 2h | dense key tiles for head h |

    Heads at or past `head-capacity` share the last pair. A module that
    reads the counters itself (a test driver) declares both globals
    uninitialised with these types; the pass then gives them their values.
    Run after
    sparse-attn-fuse so that the counts are those of the final schedule
    (a fused pass is not counted). Visited-against-total for the output is
    slot 4 / slot 1; passes over K per query tile slot 2 / slot 0.

    Before:

    ```mlir
    %r:3 = scf.for %kt = %c0 to %n step %c1 iter_args(...) {
      %s = sparse_attn.score_tile ... : ...
      ...
    } {sparse_attn.key_pass = "softmax"}
    ```

    After:

    ```mlir
    %counters = memref.get_global @sparse_attn_counters : memref<1x136xi64>
    ...
    memref.atomic_rmw addi %one, %counters[%record, %c2] : (i64, memref<1x136xi64>) -> i64
    %r:3 = scf.for %kt = %c0 to %n step %c1 iter_args(...) {
      memref.atomic_rmw addi %one, %counters[%record, %c3] : ...
      memref.atomic_rmw addi %one, %counters[%record, %c4] : ...
      memref.atomic_rmw addi %one, %counters[%record, %head_slot] : ...
      %s = sparse_attn.score_tile ... : ...
      ...
    } {sparse_attn.key_pass = "softmax"}
    ```
  }];
  let options = [
    Option<"headCapacity", "head-capacity", "int64_t", /*default=*/"128",
           "Heads with their own pair of counters">,
  ];
  let statistics = [
    Statistic<"numCountedPasses", "counted-passes",
              "Key loops given a pass counter">,
    Statistic<"numCountedTileSites", "counted-tile-sites",
              "Score-tile sites given a visit counter">,
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::memref::MemRefDialect",
  ];
}

def SparseAttnDecomposeTilesPass
    : Pass<"sparse-attn-decompose-tiles", "ModuleOp"> {
  let summary = "Lower the tile-level ops to linalg, tensor, arith and math "
                "on tensors (the CPU form)";
  let description = [{
    Replaces every tile-level op by its CPU form on tensors: the two
    contractions of a tile as `linalg.generic` (`S = q k^T`, `P @ V`),
    row reductions and elementwise maps as `linalg.generic`, zero-padded
    loads as `tensor.extract_slice` + `tensor.pad`, the `visible` region
    of `sparse_attn.score_tile` inlined into the elementwise generic that
    scales the scores, and index-row searches as `scf.for`. This pass is
    the only place that knows the CPU form; the GPU lowering consumes the
    same tile ops. A `sparse_attn.mask_visible` that `sparse-attn-fuse`
    left (a mask without a tiled form) moves into the generic with the
    region and is read later by `convert-sparse-attn-to-linalg`.

    Before:

    ```mlir
    %m1, %n1 = sparse_attn.row_max %x, %m, %n : tensor<64x64xf32>, tensor<64xf32>
    ```

    After:

    ```mlir
    %r:2 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>,
        affine_map<(d0, d1) -> (d0)>, affine_map<(d0, d1) -> (d0)>],
        iterator_types = ["parallel", "reduction"]}
        ins(%x : tensor<64x64xf32>) outs(%m, %n : tensor<64xf32>, tensor<64xf32>) {
    ^bb0(%s: f32, %max: f32, %count: f32):
      ...
      linalg.yield %new_max, %new_count : f32, f32
    } -> (tensor<64xf32>, tensor<64xf32>)
    ```
  }];
  let statistics = [
    Statistic<"numDecomposed", "decomposed-tile-ops",
              "Tile-level ops lowered to their CPU form">,
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::math::MathDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::tensor::TensorDialect",
  ];
}

def SparseAttnExpandPrefillPass
    : Pass<"sparse-attn-expand-prefill", "ModuleOp"> {
  let summary = "Rewrite every sparse_attn.prefill into its mask estimator "
                "and sparse_attn.attention";
  let description = [{
    Each `sparse_attn.prefill` becomes the estimator its pattern names
    (`xattention` -> `sparse_attn.xattention_mask` with the prefill's
    `causal` and `thresholds`, `flexprefill` -> `sparse_attn.flexprefill_mask`,
    `minference` -> `sparse_attn.vertical_slash_mask` with `budgets`; square
    blocks of the prefill's block size), intersected with the prefill's
    `mask` operand when there is one (`sparse_attn.mask_intersect`), and a
    softmax `sparse_attn.attention` with the prefill's `causal`, lengths,
    `scale` and results. The `full` pattern becomes the attention alone.
    The lowerings then see only estimators and attention; the expansion is
    `PrefillOp::expand`, which the reference lowering uses too.

    Before:

    ```mlir
    %o = sparse_attn.prefill xattention<threshold = 0.95> causal %q, %k, %v
        : tensor<1x8x4096x64xbf16>, tensor<1x2x4096x64xbf16>,
          tensor<1x2x4096x64xbf16> -> tensor<1x8x4096x64xbf16>
    ```

    After:

    ```mlir
    %m = sparse_attn.xattention_mask <threshold = 0.95> causal %q, %k
        : tensor<1x8x4096x64xbf16>, tensor<1x2x4096x64xbf16>
        -> !sparse_attn.block_mask<1x8x4096x4096, block = 128x128>
    %o = sparse_attn.attention softmax causal %q, %k, %v
        mask(%m : !sparse_attn.block_mask<1x8x4096x4096, block = 128x128>)
        : tensor<1x8x4096x64xbf16>, tensor<1x2x4096x64xbf16>,
          tensor<1x2x4096x64xbf16> -> tensor<1x8x4096x64xbf16>
    ```
  }];
  let statistics = [
    Statistic<"numExpanded", "expanded-prefills",
              "Prefill ops rewritten into an estimator and attention">,
  ];
}

def SparseAttnDecomposeEstimatorsPass
    : Pass<"sparse-attn-decompose-estimators", "ModuleOp"> {
  let summary = "Rewrite the block-selecting estimators into index lists that "
                "the tiled attention walks";
  let description = [{
    Every `sparse_attn.xattention_mask` and `sparse_attn.flexprefill_mask`
    becomes `sparse_attn.select_blocks` (the same method, operands and
    block grid; its FlexAttention index tensors are computed on the device,
    with no host round trip) and `sparse_attn.mask_from_indices` of its
    lists, intersected with `sparse_attn.causal_mask` when the estimator is
    causal: exactly the estimator's token-level mask when it has no varlen
    lengths. With lengths, the valid-and-causal part of the mask is the
    consumer's own: the rewrite happens only when every use of the mask is
    the mask of a `sparse_attn.attention` with the same length operands
    (and `causal` when the estimator is); otherwise the estimator stays and
    is read token-level. sparse-attn-skip-blocks then walks the lists: the
    attention visits only the selected blocks.

    Before:

    ```mlir
    %m = sparse_attn.xattention_mask causal %q, %k
        : tensor<1x8x4096x64xbf16>, tensor<1x2x4096x64xbf16>
        -> !sparse_attn.block_mask<1x8x4096x4096, block = 128x128>
    ```

    After:

    ```mlir
    %n, %i = sparse_attn.select_blocks xattention causal %q, %k block(128, 128)
        : tensor<1x8x4096x64xbf16>, tensor<1x2x4096x64xbf16>
        -> tensor<1x8x32xi32>, tensor<1x8x32x32xi32>
    %s = sparse_attn.mask_from_indices %n, %i ()
        : tensor<1x8x32xi32>, tensor<1x8x32x32xi32>
        -> !sparse_attn.block_mask<1x8x4096x4096, block = 128x128>
    %c = sparse_attn.causal_mask() : !sparse_attn.block_mask<1x1x4096x4096, block = 128x128>
    %m = sparse_attn.mask_intersect %s, %c
        : !sparse_attn.block_mask<1x8x4096x4096, block = 128x128>,
          !sparse_attn.block_mask<1x1x4096x4096, block = 128x128>
        -> !sparse_attn.block_mask<1x8x4096x4096, block = 128x128>
    ```
  }];
  let statistics = [
    Statistic<"numDecomposed", "decomposed-estimators",
              "Estimators rewritten into index lists">,
  ];
  let dependentDialects = ["::mlir::tensor::TensorDialect"];
}

def SparseAttnDecomposeVerticalSlashPass
    : Pass<"sparse-attn-decompose-vertical-slash", "ModuleOp"> {
  let summary = "Execute vertical-slash masks as merged key ranges plus "
                "gathered columns under one online softmax";
  let description = [{
    Runs on the tiled form after sparse-attn-skip-blocks and
    sparse-attn-fuse. A softmax key loop (`sparse_attn.key_pass =
    "softmax"`) whose score region reads a `sparse_attn.vertical_slash_mask`
    (besides the row bound, key bound and causal conjuncts) becomes, per
    query tile:

    - `sparse_attn.select_vertical_slash` of the estimator (once, next to
      it): the kept columns and diagonal offsets as ascending lists;
    - per grid point, prefix counts of both lists (O(1) membership), the
      kept diagonals' key intervals over the tile's live rows merged into
      sorted disjoint ranges, and the kept columns inside no range;
    - a loop over the ranges and, inside, over key tiles from the range
      start (`load_tile` at any offset; unmasked `score_tile` where every
      live pair of the tile lies on kept diagonals, else masked by the exact
      vertical-slash visibility and the range end);
    - a loop over the gathered columns in key tiles (`gather_tile` of K and
      V rows by index), masked causally;
    - both loops carry the `online_softmax` state of the original loop and
      `sparse_attn.key_pass = "softmax"`, the second one also
      `sparse_attn.key_pass_continues` (one pass over K for the counters).

    Before (inside the grid):

    ```mlir
    %r:3 = scf.for %kt = %c0 to %n step %c1 iter_args(%m = %m0, %l = %l0, %a = %a0) ... {
      %k = sparse_attn.load_tile %key[%b, %hkv, %k0] : ...
      %s = sparse_attn.score_tile %q, %k at [%q0, %k0] scale(0.36) visible {
      ^bb0(%i: index, %j: index):
        %v = sparse_attn.mask_visible %vs[%b, %h, %i, %j] : !sparse_attn.block_mask<...>
        ...
      } : ...
      ... = sparse_attn.online_softmax %s, %v, %m, %l, %a : ...
    } {sparse_attn.key_pass = "softmax"}
    ```

    After:

    ```mlir
    %nc, %cols, %no, %offs = sparse_attn.select_vertical_slash <...> %q, %k : ...
    // per grid point: prefix counts, %ranges / %nr, %gathered / %ng
    %r1:3 = scf.for %r = %c0 to %nr step %c1 iter_args(...) {
      %r2:3 = scf.for %t = %c0 to %tiles step %c1 iter_args(...) {
        %k = sparse_attn.load_tile %key[%b, %hkv, %k0] : ...
        %s = scf.if %full -> ... { score_tile without region } else { score_tile visible {...} }
        ... = sparse_attn.online_softmax %s, %v, ...
      }
    }
    %r3:3 = scf.for %t = %c0 to %ngt step %c1 iter_args(... = %r1#0, ...) {
      %k = sparse_attn.gather_tile %key[%b, %hkv] rows(%gathered[%c0t], %ng) : ...
      ...
      ... = sparse_attn.online_softmax %s, %v, ...
    }
    ```

    Other key loops (entmax, elastic, biases, masks combined with others)
    keep the token-level mask query.
  }];
  let statistics = [
    Statistic<"numDecomposed", "decomposed-key-loops",
              "Key loops rewritten into range and gathered-column walks">,
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::scf::SCFDialect",
                           "::mlir::tensor::TensorDialect"];
}

#endif // SPARSE_ATTN_TRANSFORMS_PASSES_TD
