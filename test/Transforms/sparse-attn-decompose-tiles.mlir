// RUN: sparse-attn-opt %s -split-input-file -sparse-attn-decompose-tiles -canonicalize -cse -verify-diagnostics | FileCheck %s

// A zero-padded tile load is a clamped slice plus tensor.pad; the score tile
// is a contraction over D (computed in f32) and an elementwise map that
// scales and inlines the visibility region with the absolute positions
// (linalg.index plus the tile offsets); invisible entries become -inf.

// CHECK-DAG:   #[[$Q_MAP:.*]] = affine_map<(d0, d1, d2) -> (d0, d2)>
// CHECK-DAG:   #[[$K_MAP:.*]] = affine_map<(d0, d1, d2) -> (d1, d2)>
// CHECK-DAG:   #[[$S_MAP:.*]] = affine_map<(d0, d1, d2) -> (d0, d1)>
// CHECK-LABEL: func.func @load_and_score
// CHECK-SAME:    (%[[K:.*]]: tensor<1x2x?x16xbf16>, %[[Q:.*]]: tensor<64x16xbf16>, %[[B:.*]]: index, %[[ROW:.*]]: index, %[[LEN:.*]]: index)
// CHECK:         %[[N:.*]] = tensor.dim %[[K]], %c2
// CHECK:         %[[START:.*]] = arith.minsi %[[ROW]], %[[N]]
// CHECK:         %[[SLICE:.*]] = tensor.extract_slice %[[K]][%[[B]], %[[B]], %[[START]], 0] [1, 1, %{{.*}}, 16] [1, 1, 1, 1] : tensor<1x2x?x16xbf16> to tensor<?x16xbf16>
// CHECK:         %[[TILE:.*]] = tensor.pad %[[SLICE]] low[0, 0] high[%{{.*}}, 0]
// CHECK:           tensor.yield %{{.*}} : bf16
// CHECK:         } : tensor<?x16xbf16> to tensor<64x16xbf16>
// CHECK:         %[[DOTS:.*]] = linalg.generic {indexing_maps = [#[[$Q_MAP]], #[[$K_MAP]], #[[$S_MAP]]], iterator_types = ["parallel", "parallel", "reduction"]} ins(%[[Q]], %[[TILE]] : tensor<64x16xbf16>, tensor<64x16xbf16>)
// CHECK:           arith.extf
// CHECK:           arith.mulf
// CHECK:           arith.addf
// CHECK:         linalg.generic {{.*}} ins(%[[DOTS]] : tensor<64x64xf32>)
// CHECK:           %[[SCALED:.*]] = arith.mulf %{{.*}}, %cst
// CHECK:           %[[C:.*]] = linalg.index 1 : index
// CHECK:           %[[J:.*]] = arith.addi %[[ROW]], %[[C]] : index
// CHECK:           %[[VISIBLE:.*]] = arith.cmpi slt, %[[J]], %[[LEN]] : index
// CHECK:           %[[MASKED:.*]] = arith.select %[[VISIBLE]], %[[SCALED]], %{{.*}} : f32
// CHECK:           linalg.yield %[[MASKED]] : f32
func.func @load_and_score(%k: tensor<1x2x?x16xbf16>, %q: tensor<64x16xbf16>, %b: index, %row: index, %len: index) -> tensor<64x64xf32> {
  %t = sparse_attn.load_tile %k[%b, %b, %row] : tensor<1x2x?x16xbf16> -> tensor<64x16xbf16>
  %s = sparse_attn.score_tile %q, %t at [%row, %row] scale(0.5) visible {
  ^bb0(%i: index, %j: index):
    %v = arith.cmpi slt, %j, %len : index
    sparse_attn.yield %v : i1
  } : tensor<64x16xbf16>, tensor<64x16xbf16> -> tensor<64x64xf32>
  return %s : tensor<64x64xf32>
}

// -----

// Online softmax: row max, the exponent base guarded against -inf - -inf,
// exp2 of the scores, the rescaled row sum accumulated in the column order
// of the P @ V contraction, which accumulates into the rescaled accumulator.

// CHECK-LABEL: func.func @online_softmax
// CHECK:         %[[TILEMAX:.*]] = linalg.generic {{.*}} iterator_types = ["parallel", "reduction"]
// CHECK:           arith.maximumf
// CHECK:         %[[ROWS:.*]]:3 = linalg.generic {{.*}} iterator_types = ["parallel"]} ins(%{{.*}}, %[[TILEMAX]] :
// CHECK:           %[[NEWMAX:.*]] = arith.maximumf
// CHECK:           %[[EMPTY:.*]] = arith.cmpf oeq, %[[NEWMAX]], %cst
// CHECK:           %[[BASE:.*]] = arith.select %[[EMPTY]], %{{.*}}, %[[NEWMAX]]
// CHECK:           math.exp2
// CHECK:         %[[P:.*]] = linalg.generic {{.*}} ins(%{{.*}}, %[[ROWS]]#1 :
// CHECK:           arith.subf
// CHECK:           math.exp2
// CHECK:         %[[SUM:.*]] = linalg.generic {{.*}} ins(%{{.*}}, %[[ROWS]]#2 :
// CHECK:           arith.mulf
// CHECK:         linalg.generic {{.*}} iterator_types = ["parallel", "reduction"]} ins(%[[P]] : tensor<64x64xf32>) outs(%[[SUM]] : tensor<64xf32>)
// CHECK:         %[[RESCALED:.*]] = linalg.generic {{.*}} ins(%{{.*}}, %[[ROWS]]#2 : tensor<64x8xf32>, tensor<64xf32>)
// CHECK:         linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "reduction"]} ins(%[[P]], %{{.*}} : tensor<64x64xf32>, tensor<64x8xbf16>) outs(%[[RESCALED]] : tensor<64x8xf32>)
func.func @online_softmax(%s: tensor<64x64xf32>, %v: tensor<64x8xbf16>, %m: tensor<64xf32>, %l: tensor<64xf32>, %acc: tensor<64x8xf32>)
    -> (tensor<64xf32>, tensor<64xf32>, tensor<64x8xf32>) {
  %m1, %l1, %acc1 = sparse_attn.online_softmax %s, %v, %m, %l, %acc : tensor<64x64xf32>, tensor<64x8xbf16>, tensor<64xf32>, tensor<64x8xf32>
  return %m1, %l1, %acc1 : tensor<64xf32>, tensor<64xf32>, tensor<64x8xf32>
}

// -----

// The entmax solver step for alpha 1.5: the closed-form root on the support
// (no transcendental function but a square root), the bracket update, and
// the convergence flag reduced over the rows.

// CHECK-LABEL: func.func @threshold_step
// CHECK:         %[[NEXT:.*]]:4 = linalg.generic {{.*}} iterator_types = ["parallel"]}
// CHECK-NOT:       math.powf
// CHECK:           math.sqrt
// CHECK:           linalg.yield
// CHECK:         %[[MOVED:.*]] = linalg.generic {{.*}} iterator_types = ["reduction"]} ins(%[[NEXT]]#3 : tensor<64xf32>)
// CHECK:           arith.ori
// CHECK:         %[[ANY:.*]] = tensor.extract %[[MOVED]][] : tensor<i1>
// CHECK:         %[[DONE:.*]] = arith.xori %[[ANY]], %true
// CHECK:         return %[[NEXT]]#0, %[[NEXT]]#1, %[[NEXT]]#2, %[[DONE]]
func.func @threshold_step(%t: tensor<64xf32>, %s: tensor<64xf32>) -> (tensor<64xf32>, tensor<64xf32>, tensor<64xf32>, i1) {
  %t1, %lo, %hi, %done = sparse_attn.entmax_threshold_step <alpha = 1.5> %t, %t, %t, %s, %s, %s : tensor<64xf32>
  return %t1, %lo, %hi, %done : tensor<64xf32>, tensor<64xf32>, tensor<64xf32>, i1
}

// -----

// The gap record: row by row in column order, an entry in (lower, upper]
// raises the count in column 0 and, while there is room (2 here), its bits
// go to the next column. The step reads the record beside the moments:
// the kept entries (+inf past the count) in order, then the closed form
// without the first j of them, proven in [e_j, e_{j+1}) and at most the
// upper bound when the record is complete and f >= 0.

// CHECK-LABEL: func.func @gap_record_proof
// CHECK-SAME:    (%[[X:.*]]: tensor<64x64xf32>, %[[T:.*]]: tensor<64xf32>, %[[G:.*]]: tensor<64x3xi32>)
// CHECK:         %[[RECORD:.*]] = scf.for %[[ROW:.*]] = %c0 to %c64 step %c1 iter_args(%[[ROWS:.*]] = %[[G]])
// CHECK:           %[[BOUND:.*]] = tensor.extract %[[T]][%[[ROW]]]
// CHECK:           scf.for %[[COL:.*]] = %c0 to %c64 step %c1 iter_args(%[[GAP:.*]] = %[[ROWS]])
// CHECK:             %[[XV:.*]] = tensor.extract %[[X]][%[[ROW]], %[[COL]]]
// CHECK-DAG:         %[[BELOW:.*]] = arith.cmpf ole, %[[XV]], %[[BOUND]]
// CHECK-DAG:         %[[ABOVE:.*]] = arith.cmpf ogt, %[[XV]], %[[BOUND]]
// CHECK:             %[[BETWEEN:.*]] = arith.andi %[[ABOVE]], %[[BELOW]]
// CHECK:             scf.if %[[BETWEEN]] -> (tensor<64x3xi32>) {
// CHECK:               %[[COUNT:.*]] = tensor.extract %[[GAP]][%[[ROW]], %c0]
// CHECK:               %[[ROOM:.*]] = arith.cmpi slt, %[[COUNT]], %c2_i32
// CHECK:               %[[KEPT:.*]] = scf.if %[[ROOM]] -> (tensor<64x3xi32>) {
// CHECK:                 %[[BITS:.*]] = arith.bitcast %[[XV]] : f32 to i32
// CHECK:                 tensor.insert %[[BITS]] into %[[GAP]][%[[ROW]], %{{.*}}]
// CHECK:               %[[COUNTED:.*]] = arith.addi %[[COUNT]], %c1_i32
// CHECK:               tensor.insert %[[COUNTED]] into %[[KEPT]][%[[ROW]], %c0]
// CHECK:         linalg.generic {{.*}} iterator_types = ["parallel"]}
// CHECK:           %[[R:.*]] = linalg.index 0 : index
// CHECK:           %[[N:.*]] = tensor.extract %[[RECORD]][%[[R]], %c0]
// CHECK:           %[[E1:.*]] = arith.bitcast %{{.*}} : i32 to f32
// CHECK:           %[[E2:.*]] = arith.bitcast %{{.*}} : i32 to f32
// From below, the closed form on {x > tau} (a superset of the support)
// bounds the root from above, up to rounding: the new upper bound.
// CHECK:           %[[ROOT:.*]] = arith.divf %{{.*}}, %{{.*}} : f32
// CHECK:           %[[CLOSED:.*]] = arith.addf %{{.*}}, %[[ROOT]] : f32
// CHECK:           %[[MARGIN:.*]] = arith.addf %[[CLOSED]], %{{.*}} : f32
// CHECK:           %[[TIGHTER:.*]] = arith.minimumf %{{.*}}, %[[MARGIN]] : f32
// CHECK:           arith.select %{{.*}}, %[[TIGHTER]], %{{.*}} : f32
// Unproven from below, the Newton step tau + f / (2 s1) (it stays below
// the root, where the proof applies).
// CHECK:           %[[NEWTON_STEP:.*]] = arith.divf %{{.*}}, %{{.*}} : f32
// CHECK:           %[[NEWTON:.*]] = arith.addf %{{.*}}, %[[NEWTON_STEP]] : f32
// CHECK:           arith.select %{{.*}}, %[[NEWTON]], %{{.*}} : f32
// CHECK:           %[[HAS1:.*]] = arith.cmpi sgt, %[[N]], %c0_i32
// CHECK:           %[[K1:.*]] = arith.select %[[HAS1]], %[[E1]], %[[INF:.*]] : f32
// CHECK:           %[[HAS2:.*]] = arith.cmpi sgt, %[[N]], %c1_i32
// CHECK:           %[[K2:.*]] = arith.select %[[HAS2]], %[[E2]], %[[INF]] : f32
// CHECK:           %[[FIRST:.*]] = arith.minimumf %[[K1]], %[[K2]]
// CHECK:           %[[SECOND:.*]] = arith.maximumf %[[K1]], %[[K2]]
// CHECK:           %[[COMPLETE:.*]] = arith.cmpi sle, %[[N]], %c2_i32
// Without the first entry: its offset leaves the moments.
// CHECK:           %[[OFFSET:.*]] = arith.subf %[[FIRST]], %{{.*}} : f32
// CHECK:           arith.mulf %[[OFFSET]], %[[OFFSET]]
// CHECK:           math.sqrt
// CHECK:           %[[WITHOUT:.*]] = arith.addf %{{.*}}, %{{.*}} : f32
// CHECK:           arith.cmpf olt, %[[WITHOUT]], %[[SECOND]] : f32
// CHECK:           arith.cmpf oge, %[[WITHOUT]], %[[FIRST]] : f32
// CHECK:           arith.andi %{{.*}}, %[[COMPLETE]] : i1
// CHECK:           linalg.yield
func.func @gap_record_proof(%x: tensor<64x64xf32>, %t: tensor<64xf32>, %g: tensor<64x3xi32>) -> (tensor<64xf32>, i1) {
  %g1 = sparse_attn.entries_between %x, %t, %t, %g : tensor<64x64xf32>, tensor<64xf32>, tensor<64x3xi32>
  %t1, %lo, %hi, %done = sparse_attn.entmax_threshold_step <alpha = 1.5> %t, %t, %t, %t, %t, %t gap(%g1 : tensor<64x3xi32>) : tensor<64xf32>
  return %t1, %done : tensor<64xf32>, i1
}

// -----

// The histogram counts each entry into its bin over (row, column, bin): a
// reduction over the columns into i32 counts. The histogram start reads a
// row's counts back as f32 and solves the closed form on the bins above
// the last edge where the lower-edge objective is non-negative; the lower
// end is at least max - 1, the upper end one bin width (1/2) above the root.

// CHECK-LABEL: func.func @histogram_counts
// CHECK-SAME:    (%[[X:.*]]: tensor<64x64xf32>, %[[M:.*]]: tensor<64xf32>, %[[H:.*]]: tensor<64x2xi32>)
// CHECK:         %[[COUNTS:.*]] = linalg.generic {{.*}} iterator_types = ["parallel", "reduction", "parallel"]} ins(%[[X]], %[[M]] : tensor<64x64xf32>, tensor<64xf32>) outs(%[[H]] : tensor<64x2xi32>)
// CHECK:           %[[SCALED:.*]] = arith.mulf %{{.*}}, %cst{{.*}} : f32
// CHECK:           %[[FLOOR:.*]] = math.floor %[[SCALED]]
// CHECK:           %[[BIN:.*]] = arith.minimumf %[[FLOOR]], %{{.*}} : f32
// CHECK:           %[[IN_BIN:.*]] = arith.cmpf oeq, %[[BIN]], %{{.*}} : f32
// CHECK:           %[[ABOVE_ORIGIN:.*]] = arith.cmpf oge, %{{.*}}, %{{.*}} : f32
// CHECK:           %[[COUNTED:.*]] = arith.andi %[[ABOVE_ORIGIN]], %[[IN_BIN]] : i1
// CHECK:           %[[ONE:.*]] = arith.extui %[[COUNTED]] : i1 to i32
// CHECK:           arith.addi %{{.*}}, %[[ONE]] : i32
// CHECK:         linalg.generic {{.*}} iterator_types = ["parallel"]} ins(%[[M]], %[[M]] : tensor<64xf32>, tensor<64xf32>)
// CHECK:           %[[C0:.*]] = tensor.extract %[[COUNTS]][%{{.*}}, %c0] : tensor<64x2xi32>
// CHECK:           arith.sitofp %[[C0]] : i32 to f32
// CHECK:           %[[C1:.*]] = tensor.extract %[[COUNTS]][%{{.*}}, %c1] : tensor<64x2xi32>
// CHECK:           arith.sitofp %[[C1]] : i32 to f32
// CHECK:           math.sqrt
// CHECK:           %[[ROOT:.*]] = arith.divf
// CHECK:           arith.maximumf %[[ROOT]], %{{.*}} : f32
// CHECK:           arith.addf %[[ROOT]], %cst{{.*}} : f32
// CHECK:           linalg.yield
func.func @histogram_counts(%x: tensor<64x64xf32>, %m: tensor<64xf32>, %h: tensor<64x2xi32>) -> (tensor<64xf32>, tensor<64xf32>, tensor<64xf32>) {
  %h1 = sparse_attn.entmax_histogram %x, %m, %h : tensor<64x64xf32>, tensor<64xf32>, tensor<64x2xi32>
  %t, %lo, %hi = sparse_attn.entmax_threshold_init <alpha = 1.5> %m, %m histogram(%h1 : tensor<64x2xi32>) : tensor<64xf32>
  return %t, %lo, %hi : tensor<64xf32>, tensor<64xf32>, tensor<64xf32>
}

// -----

// The alpha 1.5 moments: [d]_+ is one maxnum (0 for d <= 0 and NaN), its
// square a product, the count a select; each sum is compensated (Kahan).

// CHECK-LABEL: func.func @moments_closed_form
// CHECK:         linalg.generic {{.*}} iterator_types = ["parallel", "reduction"]}
// CHECK:           %[[D:.*]] = arith.subf %{{.*}}, %{{.*}} : f32
// CHECK:           %[[POSITIVE:.*]] = arith.maxnumf %[[D]], %{{.*}} : f32
// CHECK:           arith.mulf %[[POSITIVE]], %[[POSITIVE]] : f32
// CHECK:           %[[IN_SUPPORT:.*]] = arith.cmpf ogt, %[[D]], %{{.*}} : f32
// CHECK:           arith.select %[[IN_SUPPORT]], %{{.*}}, %{{.*}} : f32
// CHECK-NOT:       math.powf
// CHECK:           linalg.yield
func.func @moments_closed_form(%x: tensor<64x64xf32>, %t: tensor<64xf32>) -> (tensor<64xf32>, tensor<64xf32>, tensor<64xf32>) {
  %a, %b, %c = sparse_attn.entmax_moments <alpha = 1.5> %x, %t, %t, %t, %t : tensor<64x64xf32>, tensor<64xf32>
  return %a, %b, %c : tensor<64xf32>, tensor<64xf32>, tensor<64xf32>
}

// -----

// General alpha raises to fractional powers.

// CHECK-LABEL: func.func @moments_general_alpha
// CHECK:         linalg.generic
// CHECK:           math.powf
func.func @moments_general_alpha(%x: tensor<64x64xf32>, %t: tensor<64xf32>) -> (tensor<64xf32>, tensor<64xf32>, tensor<64xf32>) {
  %a, %b, %c = sparse_attn.entmax_moments <alpha = 1.25> %x, %t, %t, %t, %t : tensor<64x64xf32>, tensor<64xf32>
  return %a, %b, %c : tensor<64xf32>, tensor<64xf32>, tensor<64xf32>
}

// -----

// An index-row search is a loop over the clamped count of the row.

// CHECK-LABEL: func.func @index_row_contains
// CHECK-SAME:    (%[[NUM:.*]]: tensor<1x2x4xi32>, %[[IDX:.*]]: tensor<1x2x4x4xi32>, %[[X:.*]]: index, %[[BLOCK:.*]]: i32)
// CHECK:         %[[COUNT:.*]] = tensor.extract %[[NUM]][%[[X]], %[[X]], %[[X]]]
// CHECK:         %[[N:.*]] = arith.index_cast %[[COUNT]]
// CHECK:         %[[CLAMPED:.*]] = arith.minsi %{{.*}}, %c4
// CHECK:         %[[LIMITED:.*]] = arith.minsi %[[CLAMPED]], %[[X]]
// CHECK:         %[[FOUND:.*]] = scf.for %[[S:.*]] = %c0 to %[[LIMITED]] step %c1 iter_args(%[[ACC:.*]] = %false) -> (i1)
// CHECK:           %[[ENTRY:.*]] = tensor.extract %[[IDX]][%[[X]], %[[X]], %[[X]], %[[S]]]
// CHECK:           %[[EQ:.*]] = arith.cmpi eq, %[[ENTRY]], %[[BLOCK]]
// CHECK:           %[[OR:.*]] = arith.ori %[[ACC]], %[[EQ]]
// CHECK:           scf.yield %[[OR]]
// CHECK:         return %[[FOUND]]
func.func @index_row_contains(%n: tensor<1x2x4xi32>, %i: tensor<1x2x4x4xi32>, %x: index, %b: i32) -> i1 {
  %c = sparse_attn.index_row_contains %n, %i[%x, %x, %x] block(%b) limit(%x) : tensor<1x2x4xi32>, tensor<1x2x4x4xi32>
  return %c : i1
}

// -----

// A token-level query that fusion left (a mask without a tiled form) moves
// with the region into the elementwise generic, for
// convert-sparse-attn-to-linalg to read.

// CHECK-LABEL: func.func @unfused_mask(
// CHECK-SAME:      %{{.*}}: tensor<64x16xf32>, %[[M:.*]]: !sparse_attn.block_mask<1x1x64x64, block = 64x64>, %[[X:.*]]: index)
// CHECK:         linalg.generic
// CHECK:           %[[I:.*]] = arith.addi %[[X]], %{{.*}}
// CHECK:           %[[J:.*]] = arith.addi %[[X]], %{{.*}}
// CHECK:           sparse_attn.mask_visible %[[M]][%[[X]], %[[X]], %[[I]], %[[J]]]
func.func @unfused_mask(%q: tensor<64x16xf32>, %m: !sparse_attn.block_mask<1x1x64x64, block = 64x64>, %x: index) -> tensor<64x64xf32> {
  %s = sparse_attn.score_tile %q, %q at [%x, %x] scale(1.0) visible {
  ^bb0(%i: index, %j: index):
    %v = sparse_attn.mask_visible %m[%x, %x, %i, %j] : !sparse_attn.block_mask<1x1x64x64, block = 64x64>
    sparse_attn.yield %v : i1
  } : tensor<64x16xf32>, tensor<64x16xf32> -> tensor<64x64xf32>
  return %s : tensor<64x64xf32>
}
