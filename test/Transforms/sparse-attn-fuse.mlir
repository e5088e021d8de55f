// RUN: sparse-attn-opt %s -split-input-file -sparse-attn-tile -sparse-attn-skip-blocks -sparse-attn-fuse -canonicalize -cse -verify-diagnostics | FileCheck %s
// RUN: sparse-attn-opt %s -split-input-file -sparse-attn-tile -sparse-attn-skip-blocks -sparse-attn-fuse -canonicalize -cse -verify-diagnostics | FileCheck %s --check-prefix=FUSED

// No token-level mask query and no live mask op is left, except for the
// mask without a tiled form of the last case.
// FUSED-NOT: sparse_attn.mask_visible
// FUSED-LABEL: func.func @opaque_mask
// FUSED-NOT: sparse_attn.streaming_mask
// FUSED-NOT: sparse_attn.mask_union

// The union of a streaming mask and FlexAttention index rows: in a masked
// tile the token-level query becomes the streaming arithmetic ORed with the
// tile's block membership, which one index_row_contains computes before the
// elementwise region (the 64x64 tile lies in one 64x64 mask block). No
// mask_visible is left.

// CHECK-LABEL: func.func @mask_union
// CHECK-SAME:    (%{{.*}}: tensor<1x2x256x16xf32>, %[[NUM:.*]]: tensor<1x2x4xi32>, %[[IDX:.*]]: tensor<1x2x4x4xi32>)
// CHECK:         scf.forall (%[[H:.*]], %[[QT:.*]]) in (2, 4)
// CHECK:           scf.for %{{.*}} = %c0 to %{{.*}}#1 step %c1
// CHECK:             } else {
// CHECK:               %[[BLOCK:.*]] = arith.divui %[[K0:.*]], %c64
// CHECK:               %[[BLOCK32:.*]] = arith.index_cast %[[BLOCK]] : index to i32
// CHECK:               %[[LISTED:.*]] = sparse_attn.index_row_contains %[[NUM]], %[[IDX]][%c0, %[[H]], %{{.*}}] block(%[[BLOCK32]])
// CHECK:               sparse_attn.score_tile %{{.*}}, %{{.*}} at [%{{.*}}, %[[K0]]] scale(0.360673755) visible {
// CHECK:               ^bb0(%[[I:.*]]: index, %[[J:.*]]: index):
// CHECK:                 %[[INK:.*]] = arith.cmpi slt, %[[J]], %c256
// CHECK:                 %[[INQ:.*]] = arith.cmpi slt, %[[I]], %c256
// CHECK:                 %[[IN:.*]] = arith.andi %[[INQ]], %[[INK]]
// CHECK:                 %[[CAUSAL:.*]] = arith.cmpi sle, %[[J]], %[[I]]
// CHECK:                 %[[SINK:.*]] = arith.cmpi slt, %[[J]], %c16
// CHECK:                 %[[DIST:.*]] = arith.subi %[[I]], %[[J]]
// CHECK:                 %[[RECENT:.*]] = arith.cmpi slt, %[[DIST]], %c64
// CHECK:                 %[[SINK_OR_RECENT:.*]] = arith.ori %[[SINK]], %[[RECENT]]
// CHECK:                 %[[A:.*]] = arith.andi %[[IN]], %[[CAUSAL]]
// CHECK:                 %[[STREAMING:.*]] = arith.andi %[[A]], %[[SINK_OR_RECENT]]
// CHECK:                 %[[IN_LIST:.*]] = arith.andi %[[IN]], %[[LISTED]]
// CHECK:                 %[[UNION:.*]] = arith.ori %[[STREAMING]], %[[IN_LIST]]
// CHECK:                 %[[VIS:.*]] = arith.andi %[[IN]], %[[UNION]]
// CHECK:                 sparse_attn.yield %[[VIS]] : i1
func.func @mask_union(%q: tensor<1x2x256x16xf32>, %num: tensor<1x2x4xi32>, %idx: tensor<1x2x4x4xi32>) -> tensor<1x2x256x16xf32> {
  %s = sparse_attn.streaming_mask() sink(16) window(64) : !sparse_attn.block_mask<1x1x256x256, block = 64x64>
  %l = sparse_attn.mask_from_indices %num, %idx () : tensor<1x2x4xi32>, tensor<1x2x4x4xi32> -> !sparse_attn.block_mask<1x2x256x256, block = 64x64>
  %m = sparse_attn.mask_union %s, %l : !sparse_attn.block_mask<1x1x256x256, block = 64x64>, !sparse_attn.block_mask<1x2x256x256, block = 64x64>
      -> !sparse_attn.block_mask<1x2x256x256, block = 64x64>
  %o = sparse_attn.attention softmax %q, %q, %q mask(%m : !sparse_attn.block_mask<1x2x256x256, block = 64x64>)
      : tensor<1x2x256x16xf32>, tensor<1x2x256x16xf32>, tensor<1x2x256x16xf32> -> tensor<1x2x256x16xf32>
  return %o : tensor<1x2x256x16xf32>
}

// -----

// Entmax: the block-mask pass that skip-blocks inserted after the solver
// moves into the solver's moments pass (one pass over K less). Each solver
// pass lists the tiles above the lower bound it starts from (%[[LO]], a
// bound proven by an earlier pass), the solver loop carries the list, and the
// output pass walks the list of the last executed pass.

// CHECK-LABEL: func.func @entmax_mask_in_solver
// CHECK-NOT:     sparse_attn.key_pass = "entmax_mask"
// CHECK:         %[[EMPTY:.*]] = tensor.empty(%{{.*}}) : tensor<?xi32>
// CHECK:         %[[SOLVER:.*]]:6 = scf.while ({{.*}}, %{{.*}} = %[[EMPTY]], %{{.*}} = %c0)
// CHECK:         } do {
// CHECK:         ^bb0(%{{.*}}: index, %[[TAU:.*]]: tensor<64xf32>, %[[LO:.*]]: tensor<64xf32>, %{{.*}}: tensor<64xf32>, %[[LIST_IN:.*]]: tensor<?xi32>, %{{.*}}: index):
// CHECK:           %[[PASS:.*]]:6 = scf.for {{.*}} iter_args({{.*}}, %[[LIST:.*]] = %[[LIST_IN]], %[[COUNT:.*]] = %c0)
// CHECK:             %[[X:.*]] = scf.if
// CHECK:             sparse_attn.entmax_moments <alpha = 1.5> %[[X]], %[[TAU]]
// CHECK:             sparse_attn.entries_between %[[X]], %[[TAU]]
// CHECK:             %[[HIT:.*]] = sparse_attn.any_above %[[X]], %[[LO]]
// CHECK:             scf.if %[[HIT]] -> (tensor<?xi32>, index) {
// CHECK:               tensor.insert %{{.*}} into %[[LIST]][%[[COUNT]]]
// CHECK:           } {sparse_attn.key_pass = "entmax_solver"}
// CHECK:           scf.yield {{.*}}, %[[PASS]]#4, %[[PASS]]#5 :
// CHECK:         } attributes {sparse_attn.solver_iterations}
// CHECK:         scf.for %[[S:.*]] = %c0 to %[[SOLVER]]#5 step %c1
// CHECK:           tensor.extract %[[SOLVER]]#4[%[[S]]]
// CHECK:         } {sparse_attn.key_pass = "entmax_output"}
func.func @entmax_mask_in_solver(%q: tensor<1x1x200x16xf32>) -> tensor<1x1x200x16xf32> {
  %o = sparse_attn.attention entmax<alpha = 1.5> causal %q, %q, %q
      : tensor<1x1x200x16xf32>, tensor<1x1x200x16xf32>, tensor<1x1x200x16xf32> -> tensor<1x1x200x16xf32>
  return %o : tensor<1x1x200x16xf32>
}

// -----

// A mask that no mask op produces has no arithmetic to fuse: its query
// stays, for convert-sparse-attn-to-linalg to read the token-level form.

// CHECK-LABEL: func.func @opaque_mask(
// CHECK-SAME:      %{{.*}}: tensor<1x1x64x16xf32>, %[[M:.*]]: !sparse_attn.block_mask<1x1x64x64, block = 64x64>)
// CHECK:         sparse_attn.score_tile {{.*}} visible {
// CHECK:           sparse_attn.mask_visible %[[M]][
func.func @opaque_mask(%q: tensor<1x1x64x16xf32>, %m: !sparse_attn.block_mask<1x1x64x64, block = 64x64>) -> tensor<1x1x64x16xf32> {
  %o = sparse_attn.attention softmax %q, %q, %q mask(%m : !sparse_attn.block_mask<1x1x64x64, block = 64x64>)
      : tensor<1x1x64x16xf32>, tensor<1x1x64x16xf32>, tensor<1x1x64x16xf32> -> tensor<1x1x64x16xf32>
  return %o : tensor<1x1x64x16xf32>
}
