// RUN: sparse-attn-opt %s -convert-sparse-attn-to-linalg -split-input-file | FileCheck %s
// RUN: sparse-attn-opt %s -convert-sparse-attn-to-linalg -split-input-file | FileCheck %s --check-prefix=NO-SPARSE-ATTN

// The reference lowering of the prefill ops: every op and block mask is gone.
// NO-SPARSE-ATTN-NOT: sparse_attn

// XAttention: antidiagonal scores over 16 / 4 groups (a loop over the
// stride, the dot product guarded by the valid lengths, scale / stride),
// their strided causal visibility and softmax, the block mass summed through
// floor divisions, exact ranks, the masses in ranked order and their sums
// from the forced mass, the per-head threshold, and the token-level mask.

// CHECK-DAG:   #[[$BLOCKS:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2 floordiv 2, d3 floordiv 2)>
// CHECK-LABEL: func.func @xattention(
// CHECK-SAME:      %[[Q:[a-z0-9]+]]: tensor<1x2x16x8xf32>, %[[K:[a-z0-9]+]]: tensor<1x1x16x8xf32>, %[[T:[a-z0-9]+]]: tensor<2xf32>) -> tensor<1x2x16x16xi1>
// CHECK:         %[[Z:.*]] = linalg.generic {{.*}} outs(%{{.*}} : tensor<1x2x4x4xf32>)
// CHECK:           scf.for %{{.*}} = %{{.*}} to %c4
// CHECK:             scf.if
// CHECK:               tensor.extract %[[Q]]
// CHECK:               tensor.extract %[[K]]
// CHECK:           arith.constant 0.0883883461 : f32
// CHECK:         %[[GROUPS:.*]] = linalg.generic {{.*}} outs(%{{.*}} : tensor<1x2x4x4xi1>)
// CHECK:         %[[P:.*]] = linalg.generic {{.*}} ins(%[[Z]], %[[GROUPS]], %{{.*}}, %{{.*}} :
// CHECK:         %[[MASS:.*]] = linalg.generic {indexing_maps = [#{{.*}}, #[[$BLOCKS]]], iterator_types = ["parallel", "parallel", "reduction", "reduction"]} ins(%[[P]] : tensor<1x2x4x4xf32>) outs(%{{.*}} : tensor<1x2x2x2xf32>)
// CHECK:         %[[RANKS:.*]] = linalg.generic {{.*}} outs(%{{.*}} : tensor<1x2x2x2xi32>)
// CHECK:           arith.cmpf ogt
// CHECK:           arith.cmpf oeq
// CHECK:         %[[SORTED:.*]] = linalg.generic {{.*}} outs(%{{.*}} : tensor<1x2x2x2xf32>)
// CHECK:         %[[BEFORE:.*]] = linalg.generic {{.*}} outs(%{{.*}} : tensor<1x2x2x2xf32>)
// CHECK:         %[[SELECTED:.*]] = linalg.generic {{.*}} outs(%{{.*}} : tensor<1x2x2x2xi1>)
// CHECK:           tensor.extract %[[T]]
// CHECK:           tensor.extract %[[BEFORE]]
// CHECK:           arith.cmpf olt
// CHECK:         %[[MASK:.*]] = linalg.generic {{.*}} outs(%{{.*}} : tensor<1x2x16x16xi1>)
// CHECK:           tensor.extract %[[SELECTED]]
// CHECK:         return %[[MASK]] : tensor<1x2x16x16xi1>
func.func @xattention(%q: tensor<1x2x16x8xf32>, %k: tensor<1x1x16x8xf32>, %t: tensor<2xf32>)
    -> !sparse_attn.block_mask<1x2x16x16, block = 8x8> {
  %m = sparse_attn.xattention_mask <stride = 4> causal %q, %k thresholds(%t : tensor<2xf32>)
      : tensor<1x2x16x8xf32>, tensor<1x1x16x8xf32> -> !sparse_attn.block_mask<1x2x16x16, block = 8x8>
  return %m : !sparse_attn.block_mask<1x2x16x16, block = 8x8>
}

// -----

// FlexPrefill: estimation rows of the last block (8 rows), the coverage
// counts, block profiles, the Jensen-Shannon switch (log, sqrt) into the
// pattern codes, and the global top-p over the flattened block grid
// (entry I * KB + J).

// CHECK-LABEL: func.func @flexprefill(
// CHECK-SAME:      -> (tensor<1x2x40x40xi1>, tensor<1x2xi32>)
// CHECK:         linalg.generic {{.*}} outs(%{{.*}} : tensor<1x2x8x40xf32>)
// CHECK:         linalg.generic {{.*}} outs(%{{.*}} : tensor<1x2xindex>)
// CHECK:           arith.cmpf ole
// CHECK:         math.log
// CHECK:         %[[PATTERNS:.*]] = linalg.generic {{.*}} outs(%{{.*}} : tensor<1x2xi32>)
// CHECK:           math.sqrt
// CHECK:         %[[FLAT:.*]] = linalg.generic {{.*}} outs(%{{.*}} : tensor<1x2x25xf32>)
// CHECK:           arith.divui %{{.*}}, %c5
// CHECK:           arith.remui %{{.*}}, %c5
// CHECK:         %[[FLAT_RANKS:.*]] = linalg.generic {{.*}} outs(%{{.*}} : tensor<1x2x25xi32>)
// CHECK:         %[[TOP_P:.*]] = linalg.generic {{.*}} outs(%{{.*}} : tensor<1x2x5x5xi1>)
// CHECK:           tensor.extract %[[FLAT_RANKS]]
// CHECK:         %[[MASK:.*]] = linalg.generic {{.*}} outs(%{{.*}} : tensor<1x2x40x40xi1>)
// CHECK:         return %[[MASK]], %[[PATTERNS]] : tensor<1x2x40x40xi1>, tensor<1x2xi32>
func.func @flexprefill(%q: tensor<1x2x40x8xf32>)
    -> (!sparse_attn.block_mask<1x2x40x40, block = 8x8>, tensor<1x2xi32>) {
  %m, %p = sparse_attn.flexprefill_mask <min_budget = 8> %q, %q
      : tensor<1x2x40x8xf32>, tensor<1x2x40x8xf32> -> !sparse_attn.block_mask<1x2x40x40, block = 8x8>, tensor<1x2xi32>
  return %m, %p : !sparse_attn.block_mask<1x2x40x40, block = 8x8>, tensor<1x2xi32>
}

// -----

// select_blocks: XAttention's block mass in one pass over the keys (8
// strided rows, 2 key blocks of 4 key groups): a loop over the key blocks
// carrying the running row max and the partial sums and maxes per (row,
// key block); each iteration scores its key block's groups only, updates
// the max, sums exp(z - max) and writes column J. After the loop the
// partials are rescaled to the final max, normalised and summed per query
// block; the 8 x 8 strided score matrix never exists. Then the threshold
// selection (as in @xattention) and the lists: the counts, each block's
// rank among the selected ones before it, and the block of each rank.

// CHECK-DAG:   #[[$QUERY_BLOCKS:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2 floordiv 4, d3)>
// CHECK-LABEL: func.func @select_blocks(
// CHECK-NOT:     tensor<1x2x8x8xf32>
// CHECK:         %[[PASS:.*]]:3 = scf.for %[[J:.*]] = %{{.*}} to %{{.*}} step %{{.*}} iter_args(%[[MAX:.*]] = %{{.*}}, %[[SUMS:.*]] = %{{.*}}, %[[MAXES:.*]] = %{{.*}}) -> (tensor<1x2x8xf32>, tensor<1x2x8x2xf32>, tensor<1x2x8x2xf32>)
// CHECK:           %[[SCORES:.*]] = linalg.generic {{.*}} outs(%{{.*}} : tensor<1x2x8x4xf32>)
// CHECK:             scf.if
// CHECK:               tensor.extract %{{.*}}
// CHECK:           %[[BLOCK_MAX:.*]] = linalg.generic {{.*}} ins(%[[SCORES]] : tensor<1x2x8x4xf32>) outs(%{{.*}} : tensor<1x2x8xf32>)
// CHECK:             arith.maximumf
// CHECK:           %[[NEW_MAX:.*]] = linalg.generic {{.*}} ins(%[[MAX]], %[[BLOCK_MAX]] : tensor<1x2x8xf32>, tensor<1x2x8xf32>)
// CHECK:           %[[SUM:.*]] = linalg.generic {{.*}} ins(%[[SCORES]], %[[NEW_MAX]] : tensor<1x2x8x4xf32>, tensor<1x2x8xf32>) outs(%{{.*}} : tensor<1x2x8xf32>)
// CHECK:             math.exp
// CHECK:           %[[NEW_SUMS:.*]] = tensor.insert_slice %[[SUM]] into %[[SUMS]][0, 0, 0, %[[J]]] [1, 2, 8, 1] [1, 1, 1, 1]
// CHECK:           %[[NEW_MAXES:.*]] = tensor.insert_slice %[[NEW_MAX]] into %[[MAXES]][0, 0, 0, %[[J]]] [1, 2, 8, 1] [1, 1, 1, 1]
// CHECK:           scf.yield %[[NEW_MAX]], %[[NEW_SUMS]], %[[NEW_MAXES]]
// CHECK:         %[[RESCALED:.*]] = linalg.generic {{.*}} ins(%[[PASS]]#1, %[[PASS]]#2, %[[PASS]]#0 : tensor<1x2x8x2xf32>, tensor<1x2x8x2xf32>, tensor<1x2x8xf32>)
// CHECK:           math.exp
// CHECK:         %[[TOTAL:.*]] = linalg.generic {{.*}} ins(%[[RESCALED]] : tensor<1x2x8x2xf32>) outs(%{{.*}} : tensor<1x2x8xf32>)
// CHECK:         %[[P:.*]] = linalg.generic {{.*}} ins(%[[RESCALED]], %[[TOTAL]] :
// CHECK:           arith.divf
// CHECK:         linalg.generic {indexing_maps = [#{{.*}}, #[[$QUERY_BLOCKS]]], iterator_types = ["parallel", "parallel", "reduction", "parallel"]} ins(%[[P]] : tensor<1x2x8x2xf32>) outs(%{{.*}} : tensor<1x2x2x2xf32>)
// CHECK:         linalg.generic {{.*}} outs(%{{.*}} : tensor<1x2x2x2xi1>)
// CHECK:           arith.cmpf olt
// CHECK:         %[[COUNTS:.*]] = linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%[[SELECTED:.*]] : tensor<1x2x2x2xi1>) outs(%{{.*}} : tensor<1x2x2xi32>)
// CHECK:         %[[RANKS:.*]] = linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%[[SELECTED]] : tensor<1x2x2x2xi1>) outs(%{{.*}} : tensor<1x2x2x2xi32>)
// CHECK:           arith.cmpi ult
// CHECK:         %[[INDICES:.*]] = linalg.generic {{.*}} ins(%[[SELECTED]], %[[RANKS]] : tensor<1x2x2x2xi1>, tensor<1x2x2x2xi32>) outs(%{{.*}} : tensor<1x2x2x2xi32>)
// CHECK:           arith.cmpi eq
// CHECK:         return %[[COUNTS]], %[[INDICES]] : tensor<1x2x2xi32>, tensor<1x2x2x2xi32>
// CHECK-NOT:     tensor<1x2x8x8xf32>
func.func @select_blocks(%q: tensor<1x2x32x8xf32>, %k: tensor<1x1x32x8xf32>)
    -> (tensor<1x2x2xi32>, tensor<1x2x2x2xi32>) {
  %n, %i = sparse_attn.select_blocks xattention<stride = 4> causal %q, %k block(16, 16)
      : tensor<1x2x32x8xf32>, tensor<1x1x32x8xf32> -> tensor<1x2x2xi32>, tensor<1x2x2x2xi32>
  return %n, %i : tensor<1x2x2xi32>, tensor<1x2x2x2xi32>
}

// -----

// Vertical-slash with dynamic lengths: estimation rows of the last 4
// queries, per-head budgets, and the token-level mask of kept columns and
// offsets.

// CHECK-LABEL: func.func @vertical_slash(
// CHECK-SAME:      %[[Q:[a-z0-9]+]]: tensor<1x2x?x8xbf16>, %[[B:[a-z0-9]+]]: tensor<2x2xi32>) -> tensor<1x2x?x?xi1>
// CHECK:         linalg.generic {{.*}} outs(%{{.*}} : tensor<1x2x4x?xf32>)
// CHECK:           arith.extf
// CHECK:         linalg.generic {{.*}} outs(%{{.*}} : tensor<1x2xindex>)
// CHECK:           tensor.extract %[[B]]
// CHECK:         %[[MASK:.*]] = linalg.generic {{.*}} outs(%{{.*}} : tensor<1x2x?x?xi1>)
// CHECK:         return %[[MASK]]
func.func @vertical_slash(%q: tensor<1x2x?x8xbf16>, %b: tensor<2x2xi32>) -> !sparse_attn.block_mask<1x2x?x?, block = 8x8> {
  %m = sparse_attn.vertical_slash_mask <last_queries = 4> %q, %q budgets(%b : tensor<2x2xi32>)
      : tensor<1x2x?x8xbf16>, tensor<1x2x?x8xbf16> -> !sparse_attn.block_mask<1x2x?x?, block = 8x8>
  return %m : !sparse_attn.block_mask<1x2x?x?, block = 8x8>
}

// -----

// Head routing: the kind of head h selects among the operands' visibility.

// CHECK-LABEL: func.func @route_heads(
// CHECK-SAME:      %[[KINDS:[a-z0-9]+]]: tensor<3xi32>, %[[S:[a-z0-9]+]]: tensor<1x1x9x9xi1>, %[[A:[a-z0-9]+]]: tensor<1x3x9x9xi1>) -> tensor<1x3x9x9xi1>
// CHECK:         linalg.generic {{.*}} outs(%{{.*}} : tensor<1x3x9x9xi1>)
// CHECK:           %[[KIND:.*]] = tensor.extract %[[KINDS]]
// CHECK:           arith.cmpi eq, %[[KIND]], %c0_i32
// CHECK:           tensor.extract %[[S]]
// CHECK:           arith.cmpi eq, %[[KIND]], %c-1_i32
// CHECK:           tensor.extract %[[A]]
// CHECK:           arith.cmpi eq, %[[KIND]], %c1_i32
func.func @route_heads(%kinds: tensor<3xi32>, %s: !sparse_attn.block_mask<1x1x9x9, block = 4x4>,
                       %a: !sparse_attn.block_mask<1x3x9x9, block = 4x4>) -> !sparse_attn.block_mask<1x3x9x9, block = 4x4> {
  %m = sparse_attn.mask_route_heads %kinds streaming(%s : !sparse_attn.block_mask<1x1x9x9, block = 4x4>)
      masks(%a : !sparse_attn.block_mask<1x3x9x9, block = 4x4>) () : tensor<3xi32> -> !sparse_attn.block_mask<1x3x9x9, block = 4x4>
  return %m : !sparse_attn.block_mask<1x3x9x9, block = 4x4>
}

// -----

// Prefill: its estimator's lowering (here XAttention's block mass), then the
// attention under that mask.

// CHECK-LABEL: func.func @prefill(
// CHECK:         linalg.generic {indexing_maps = [#{{.*}}, #{{.*}}], iterator_types = ["parallel", "parallel", "reduction", "reduction"]} ins(%{{.*}} : tensor<1x2x2x2xf32>) outs(%{{.*}} : tensor<1x2x1x1xf32>)
// CHECK:         %[[OUTPUT:.*]] = linalg.generic {{.*}} outs(%{{.*}} : tensor<1x2x8x4xf32>)
// CHECK:         return %[[OUTPUT]] : tensor<1x2x8x4xf32>
func.func @prefill(%q: tensor<1x2x8x4xf32>) -> tensor<1x2x8x4xf32> {
  %o = sparse_attn.prefill xattention<stride = 4> causal %q, %q, %q block(8)
      : tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32> -> tensor<1x2x8x4xf32>
  return %o : tensor<1x2x8x4xf32>
}
