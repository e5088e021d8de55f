// RUN: sparse-attn-opt %s -split-input-file -sparse-attn-tile -sparse-attn-skip-blocks -canonicalize -cse | FileCheck %s

// Causal attention without a mask: the key loop stops at the last tile the
// diagonal reaches (closed form, before the loop), and tiles entirely below
// the diagonal and inside the key length drop the elementwise mask.

// CHECK-LABEL: func.func @causal_range
// CHECK:         scf.forall (%[[QT:.*]]) in (4)
// CHECK:           %[[Q0:.*]] = arith.muli %[[QT]], %c64
// CHECK:           %[[NKT:.*]] = arith.select %{{.*}}, %c5, %c0
// CHECK:           %[[ROWEND:.*]] = arith.minsi %{{.*}}, %c200
// CHECK:           %[[REACH:.*]] = arith.addi %[[ROWEND]], %c99
// CHECK:           %[[LAST:.*]] = arith.floordivsi %[[REACH]], %c64
// CHECK:           scf.for %[[KT:.*]] = %c0 to %{{.*}} step %c1
// CHECK:             %[[K0:.*]] = arith.muli %[[KT]], %c64
// CHECK:             %[[KEND:.*]] = arith.addi %[[K0]], %c64
// CHECK:             %[[INSIDE:.*]] = arith.cmpi sle, %[[KEND]], %c300
// CHECK:             %[[KLAST:.*]] = arith.addi %[[K0]], %c63
// CHECK:             %[[DIAG:.*]] = arith.addi %[[Q0]], %c100
// CHECK:             %[[BELOW:.*]] = arith.cmpi sle, %[[KLAST]], %[[DIAG]]
// CHECK:             %[[FULL:.*]] = arith.andi %[[INSIDE]], %[[BELOW]]
// CHECK:             %[[S:.*]] = scf.if %[[FULL]] -> (tensor<64x64xf32>) {
// CHECK:               %[[U:.*]] = sparse_attn.score_tile %{{.*}}, %{{.*}} at [%[[Q0]], %[[K0]]] scale(0.360673755) : tensor<64x16xf32>, tensor<64x16xf32> -> tensor<64x64xf32>
// CHECK:               scf.yield %[[U]]
// CHECK:             } else {
// CHECK:               %[[M:.*]] = sparse_attn.score_tile %{{.*}}, %{{.*}} at [%[[Q0]], %[[K0]]] scale(0.360673755) visible {
// CHECK:               scf.yield %[[M]]
// CHECK:             }
// CHECK:             sparse_attn.online_softmax %[[S]]
// CHECK:           } {sparse_attn.key_pass = "softmax"}
func.func @causal_range(%q: tensor<1x1x200x16xf32>, %k: tensor<1x1x300x16xf32>) -> tensor<1x1x200x16xf32> {
  %o = sparse_attn.attention softmax causal %q, %k, %k : tensor<1x1x200x16xf32>, tensor<1x1x300x16xf32>, tensor<1x1x300x16xf32> -> tensor<1x1x200x16xf32>
  return %o : tensor<1x1x200x16xf32>
}

// -----

// A streaming mask: two ranges (the sink tiles, then the window tiles up to
// the diagonal) walked by one loop; position s maps to the sink tile s or to
// window tile start + s - sink count.

// CHECK-LABEL: func.func @streaming_ranges
// CHECK:         scf.forall (%[[QT:.*]]) in (5)
// CHECK:           %[[Q0:.*]] = arith.muli %[[QT]], %c64
// CHECK:           %[[WSTART:.*]] = arith.subi %[[Q0]], %c127
// CHECK:           %[[WTILE:.*]] = arith.floordivsi %[[WSTART]], %c64
// CHECK:           %[[WCLAMP:.*]] = arith.maxsi %[[WTILE]], %c0
// CHECK:           %[[SECOND:.*]] = arith.maxsi %[[SINK:.*]], %[[WCLAMP]]
// CHECK:           %[[COUNT:.*]] = arith.addi %[[SINK]], %{{.*}}
// CHECK:           scf.for %[[S:.*]] = %c0 to %[[COUNT]] step %c1
// CHECK:             %[[IN_SINK:.*]] = arith.cmpi slt, %[[S]], %[[SINK]]
// CHECK:             %[[OFF:.*]] = arith.subi %[[S]], %[[SINK]]
// CHECK:             %[[IN_WINDOW:.*]] = arith.addi %[[SECOND]], %[[OFF]]
// CHECK:             %[[KT:.*]] = arith.select %[[IN_SINK]], %[[S]], %[[IN_WINDOW]]
// CHECK:             arith.muli %[[KT]], %c64
// CHECK:             scf.if
// CHECK:               sparse_attn.score_tile {{.*}} : tensor<64x16xf32>, tensor<64x16xf32> -> tensor<64x64xf32>
// CHECK:             } else {
// CHECK:               sparse_attn.score_tile {{.*}} visible {
// CHECK:                 sparse_attn.mask_visible
// CHECK:           } {sparse_attn.key_pass = "softmax"}
func.func @streaming_ranges(%q: tensor<1x1x300x16xf32>) -> tensor<1x1x300x16xf32> {
  %m = sparse_attn.streaming_mask() sink(64) window(128) : !sparse_attn.block_mask<1x1x300x300, block = 64x64>
  %o = sparse_attn.attention softmax %q, %q, %q mask(%m : !sparse_attn.block_mask<1x1x300x300, block = 64x64>) : tensor<1x1x300x16xf32>, tensor<1x1x300x16xf32>, tensor<1x1x300x16xf32> -> tensor<1x1x300x16xf32>
  return %o : tensor<1x1x300x16xf32>
}

// -----

// FlexAttention index rows intersected with causality: once per grid point,
// the full row then the partial row are walked; an entry that repeats an
// earlier one of its row, lies outside [0, KB) or (partial row) is listed in
// the full row selects nothing; each 128-key block expands to its two 64-key
// tiles, kept when the causal and length tests admit them, and is appended as
// 2 * tile + full. The key loop walks that list.

// CHECK-LABEL: func.func @index_rows
// CHECK-SAME:    (%[[Q:.*]]: tensor<2x4x256x16xf32>, %[[NUM:.*]]: tensor<2x4x2xi32>, %[[IDX:.*]]: tensor<2x4x2x2xi32>, %[[FNUM:.*]]: tensor<2x4x2xi32>, %[[FIDX:.*]]: tensor<2x4x2x2xi32>)
// CHECK:         scf.forall (%[[B:.*]], %[[H:.*]], %[[QT:.*]]) in (2, 4, 4)
// CHECK:           %[[EMPTY:.*]] = tensor.empty(%{{.*}}) : tensor<?xi32>
// CHECK:           %[[ROW:.*]] = arith.divui %{{.*}}, %c128
// CHECK:           tensor.extract %[[FNUM]][%[[B]], %[[H]], %[[ROW]]]
// CHECK:           %[[FULLWALK:.*]]:2 = scf.for %[[SLOT:.*]] = %c0 to %{{.*}} step %c1 iter_args(%{{.*}} = %[[EMPTY]], %{{.*}} = %c0)
// CHECK:             %[[BLOCK:.*]] = tensor.extract %[[FIDX]][%[[B]], %[[H]], %[[ROW]], %[[SLOT]]]
// CHECK:             sparse_attn.index_row_contains %[[FNUM]], %[[FIDX]][%[[B]], %[[H]], %[[ROW]]] block(%[[BLOCK]]) limit(%[[SLOT]])
// CHECK:             scf.if
// CHECK:               scf.for
// CHECK:                 tensor.insert
// CHECK:           tensor.extract %[[NUM]][%[[B]], %[[H]], %[[ROW]]]
// CHECK:           %[[WALK:.*]]:2 = scf.for %[[SLOT2:.*]] = %c0 to %{{.*}} step %c1 iter_args(%{{.*}} = %[[FULLWALK]]#0, %{{.*}} = %[[FULLWALK]]#1)
// CHECK:             %[[BLOCK2:.*]] = tensor.extract %[[IDX]][%[[B]], %[[H]], %[[ROW]], %[[SLOT2]]]
// CHECK:             sparse_attn.index_row_contains %[[NUM]], %[[IDX]][%[[B]], %[[H]], %[[ROW]]] block(%[[BLOCK2]]) limit(%[[SLOT2]])
// CHECK:             sparse_attn.index_row_contains %[[FNUM]], %[[FIDX]][%[[B]], %[[H]], %[[ROW]]] block(%[[BLOCK2]]) :
// CHECK:           scf.for %[[S:.*]] = %c0 to %[[WALK]]#1 step %c1
// CHECK:             %[[ENTRY:.*]] = tensor.extract %[[WALK]]#0[%[[S]]] : tensor<?xi32>
// CHECK:             %[[TILE:.*]] = arith.shrui %[[ENTRY]], %c1_i32
// CHECK:             %[[BIT:.*]] = arith.andi %[[ENTRY]], %c1_i32
// CHECK:             %[[KT:.*]] = arith.index_cast %[[TILE]] : i32 to index
// CHECK:             %[[FULL:.*]] = arith.trunci %[[BIT]] : i32 to i1
// CHECK:             scf.if %[[FULL]]
// CHECK:           } {sparse_attn.key_pass = "softmax"}
func.func @index_rows(%q: tensor<2x4x256x16xf32>, %num: tensor<2x4x2xi32>, %idx: tensor<2x4x2x2xi32>,
                      %fnum: tensor<2x4x2xi32>, %fidx: tensor<2x4x2x2xi32>) -> tensor<2x4x256x16xf32> {
  %m = sparse_attn.mask_from_indices %num, %idx full(%fnum, %fidx) ()
      : tensor<2x4x2xi32>, tensor<2x4x2x2xi32>, tensor<2x4x2xi32>, tensor<2x4x2x2xi32>
      -> !sparse_attn.block_mask<2x4x256x256, block = 128x128>
  %o = sparse_attn.attention softmax causal %q, %q, %q mask(%m : !sparse_attn.block_mask<2x4x256x256, block = 128x128>)
      : tensor<2x4x256x16xf32>, tensor<2x4x256x16xf32>, tensor<2x4x256x16xf32> -> tensor<2x4x256x16xf32>
  return %o : tensor<2x4x256x16xf32>
}

// -----

// A union walks its left operand (the streaming ranges), then its right one
// (the index row) minus the tiles the left one holds.

// CHECK-LABEL: func.func @union_walk
// CHECK:         scf.forall
// CHECK:           %[[EMPTY:.*]] = tensor.empty(%{{.*}}) : tensor<?xi32>
// CHECK:           %[[SINKS:.*]]:2 = scf.for {{.*}} iter_args(%{{.*}} = %[[EMPTY]], %{{.*}} = %c0)
// CHECK:           %[[WINDOWS:.*]]:2 = scf.for {{.*}} iter_args(%{{.*}} = %[[SINKS]]#0, %{{.*}} = %[[SINKS]]#1)
// CHECK:           %[[LISTED:.*]]:2 = scf.for {{.*}} iter_args(%{{.*}} = %[[WINDOWS]]#0, %{{.*}} = %[[WINDOWS]]#1)
// CHECK:             sparse_attn.index_row_contains
// CHECK:           scf.for %{{.*}} = %c0 to %[[LISTED]]#1 step %c1
// CHECK:           } {sparse_attn.key_pass = "softmax"}
func.func @union_walk(%q: tensor<1x2x256x16xf32>, %num: tensor<1x2x4xi32>, %idx: tensor<1x2x4x4xi32>) -> tensor<1x2x256x16xf32> {
  %s = sparse_attn.streaming_mask() sink(16) window(64) : !sparse_attn.block_mask<1x1x256x256, block = 64x64>
  %l = sparse_attn.mask_from_indices %num, %idx () : tensor<1x2x4xi32>, tensor<1x2x4x4xi32> -> !sparse_attn.block_mask<1x2x256x256, block = 64x64>
  %m = sparse_attn.mask_union %s, %l : !sparse_attn.block_mask<1x1x256x256, block = 64x64>, !sparse_attn.block_mask<1x2x256x256, block = 64x64>
      -> !sparse_attn.block_mask<1x2x256x256, block = 64x64>
  %o = sparse_attn.attention softmax %q, %q, %q mask(%m : !sparse_attn.block_mask<1x2x256x256, block = 64x64>)
      : tensor<1x2x256x16xf32>, tensor<1x2x256x16xf32>, tensor<1x2x256x16xf32> -> tensor<1x2x256x16xf32>
  return %o : tensor<1x2x256x16xf32>
}

// -----

// Entmax: after the solver, a pass over the schedule lists the tiles with an
// entry above the solver's proven lower bound of the threshold (result #2 of
// the solver loop); the output pass walks that list.

// CHECK-LABEL: func.func @entmax_block_mask
// CHECK:         %[[SOLVER:.*]]:4 = scf.while
// CHECK:         } attributes {sparse_attn.solver_iterations}
// CHECK:         %[[EMPTY:.*]] = tensor.empty(%{{.*}}) : tensor<?xi32>
// CHECK:         %[[MASK:.*]]:2 = scf.for {{.*}} iter_args(%[[LIST:.*]] = %[[EMPTY]], %[[COUNT:.*]] = %c0) -> (tensor<?xi32>, index)
// CHECK:           %[[X:.*]] = scf.if
// CHECK:           %[[HIT:.*]] = sparse_attn.any_above %[[X]], %[[SOLVER]]#2 : tensor<64x64xf32>, tensor<64xf32>
// CHECK:           scf.if %[[HIT]] -> (tensor<?xi32>, index)
// CHECK:             tensor.insert %{{.*}} into %[[LIST]][%[[COUNT]]]
// CHECK:         } {sparse_attn.key_pass = "entmax_mask"}
// CHECK:         scf.for %[[S:.*]] = %c0 to %[[MASK]]#1 step %c1
// CHECK:           tensor.extract %[[MASK]]#0[%[[S]]]
// CHECK:           sparse_attn.entmax_accumulate <alpha = 1.5> %{{.*}}, %{{.*}}, %[[SOLVER]]#1
// CHECK:         } {sparse_attn.key_pass = "entmax_output"}
func.func @entmax_block_mask(%q: tensor<1x1x200x16xf32>) -> tensor<1x1x200x16xf32> {
  %o = sparse_attn.attention entmax<alpha = 1.5> causal %q, %q, %q
      : tensor<1x1x200x16xf32>, tensor<1x1x200x16xf32>, tensor<1x1x200x16xf32> -> tensor<1x1x200x16xf32>
  return %o : tensor<1x1x200x16xf32>
}

// -----

// Elastic softmax: the log-sum-exp pass records each visited tile's row
// maxima as a column of a [64 x tiles] tensor; the output pass skips a tile
// whose largest weight of every row falls to zero after the shift.

// CHECK-LABEL: func.func @elastic_skip
// CHECK:         %[[EMPTY:.*]] = tensor.empty(%{{.*}}) : tensor<64x?xf32>
// CHECK:         %[[LSE:.*]]:3 = scf.for %[[S:.*]] = {{.*}} iter_args(%{{.*}} = %{{.*}}, %{{.*}} = %{{.*}}, %[[MAXIMA:.*]] = %[[EMPTY]])
// CHECK:           %[[X:.*]] = scf.if
// CHECK:           sparse_attn.online_logsumexp %[[X]]
// CHECK:           %[[TILEMAX:.*]], %{{.*}} = sparse_attn.row_max %[[X]], %{{.*}}, %{{.*}}
// CHECK:           tensor.insert_slice %[[TILEMAX]] into %[[MAXIMA]][0, %[[S]]] [64, 1] [1, 1] : tensor<64xf32> into tensor<64x?xf32>
// CHECK:         } {sparse_attn.key_pass = "logsumexp"}
// CHECK:         %[[TAU:.*]] = tensor.extract
// CHECK:         scf.for %[[S2:.*]] = {{.*}} iter_args(%[[ACC:.*]] = %{{.*}})
// CHECK:           %[[COLUMN:.*]] = tensor.extract_slice %[[LSE]]#2[0, %[[S2]]] [64, 1] [1, 1] : tensor<64x?xf32> to tensor<64xf32>
// CHECK:           %[[LIVE:.*]] = sparse_attn.elastic_tile_live %[[COLUMN]], %[[LSE]]#0, %[[LSE]]#1 shift(%[[TAU]], %{{.*}})
// CHECK:           scf.if %[[LIVE]] -> (tensor<64x16xf32>) {
// CHECK:             sparse_attn.elastic_accumulate
// CHECK:           } else {
// CHECK:             scf.yield %[[ACC]]
// CHECK:           }
// CHECK:         } {sparse_attn.key_pass = "elastic_output"}
func.func @elastic_skip(%q: tensor<1x2x200x16xf32>, %tau: tensor<2xf32>) -> tensor<1x2x200x16xf32> {
  %o = sparse_attn.attention elastic_softmax causal %q, %q, %q tau(%tau : tensor<2xf32>)
      : tensor<1x2x200x16xf32>, tensor<1x2x200x16xf32>, tensor<1x2x200x16xf32> -> tensor<1x2x200x16xf32>
  return %o : tensor<1x2x200x16xf32>
}
