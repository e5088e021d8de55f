// RUN: sparse-attn-opt %s -split-input-file -sparse-attn-tile -sparse-attn-skip-blocks -sparse-attn-fuse -sparse-attn-decompose-vertical-slash -canonicalize -cse | FileCheck %s

// Causal GQA attention (2 query heads on 1 key head, Nq = 200 < Nk = 300)
// under a vertical-slash mask: the selection becomes index lists once, next
// to the estimator, which goes away with its last token-level query. Per
// grid point: prefix counts of the offset and column lists, the kept
// diagonals merged into ranges (descending offsets, an interval extending the
// open range or closing it), the kept columns outside every range; then the
// ranges walked in key tiles from the range start (full tiles unmasked,
// partial ones masked by the kept offsets or columns before the range end)
// and the gathered columns in gather_tile tiles, both under the one online
// softmax state that the finalisation reads.

// CHECK-LABEL: func.func @causal_gqa
// CHECK-SAME:    (%[[Q:.*]]: tensor<1x2x200x16xf32>, %[[K:.*]]: tensor<1x1x300x16xf32>, %[[V:.*]]: tensor<1x1x300x16xf32>)
// CHECK-NOT:     sparse_attn.vertical_slash_mask
// CHECK:         %[[NC:.*]], %[[COLS:.*]], %[[NO:.*]], %[[OFFS:.*]] = sparse_attn.select_vertical_slash <vertical_size = 8, slash_size = 32, sink = 4, local = 8> %[[Q]], %[[K]] : tensor<1x2x200x16xf32>, tensor<1x1x300x16xf32> -> tensor<1x2xi32>, tensor<1x2x300xi32>, tensor<1x2xi32>, tensor<1x2x300xi32>
// CHECK:         scf.forall (%[[H:.*]], %[[QT:.*]]) in (2, 4)
// CHECK:           %[[HKV:.*]] = arith.divui %[[H]], %c2
// CHECK:           %[[Q0:.*]] = arith.muli %[[QT]], %c64
// Prefix counts of the kept offsets, then of the kept columns.
// CHECK:           %[[SLASH:.*]]:3 = scf.for
// CHECK:             tensor.extract %[[OFFS]][%c0, %[[H]], %{{.*}}] : tensor<1x2x300xi32>
// CHECK:           %[[COLUMN:.*]]:3 = scf.for
// CHECK:             tensor.extract %[[COLS]][%c0, %[[H]], %{{.*}}] : tensor<1x2x300xi32>
// The merge, in descending offsets.
// CHECK:           %[[MERGE:.*]]:4 = scf.for %{{.*}} = %c0 to %{{.*}} step %c1 iter_args({{.*}}) -> (tensor<?xi32>, index, index, index)
// CHECK:             %[[LAST:.*]] = arith.subi %{{.*}}, %c1 : index
// CHECK:             %[[SLOT:.*]] = arith.subi %[[LAST]], %{{.*}} : index
// CHECK:             tensor.extract %[[OFFS]][%c0, %[[H]], %[[SLOT]]]
// CHECK:           %[[NRANGES:.*]] = arith.divui %{{.*}}#1, %c2 : index
// The kept columns outside the ranges.
// CHECK:           %[[GATHERED:.*]]:2 = scf.for
// CHECK:             tensor.extract %[[COLS]][%c0, %[[H]], %{{.*}}] : tensor<1x2x300xi32>
// CHECK:             tensor.extract %[[SLASH]]#0
// CHECK:           %[[RANGES:.*]]:3 = scf.for %[[R:.*]] = %c0 to %[[NRANGES]] step %c1 iter_args(%{{.*}} = %cst, %{{.*}} = %cst_{{.*}}, %{{.*}} = %cst_{{.*}})
// CHECK:             %[[START:.*]] = arith.index_cast
// CHECK:             %[[END:.*]] = arith.index_cast
// CHECK:             %[[LEN:.*]] = arith.subi %[[END]], %[[START]]
// CHECK:             %[[TILES:.*]] = arith.ceildivsi %[[LEN]], %c64
// CHECK:             scf.for %{{.*}} = %c0 to %[[TILES]] step %c1
// CHECK:               %[[K0:.*]] = arith.addi %[[START]], %{{.*}} : index
// CHECK:               %[[KT:.*]] = sparse_attn.load_tile %[[K]][%c0, %[[HKV]], %[[K0]]]
// CHECK:               %[[VT:.*]] = sparse_attn.load_tile %[[V]][%c0, %[[HKV]], %[[K0]]]
// CHECK:               %[[S:.*]] = scf.if %{{.*}} -> (tensor<64x64xf32>) {
// CHECK:                 sparse_attn.score_tile %{{.*}}, %[[KT]] at [%[[Q0]], %[[K0]]] scale(0.360673755) : tensor<64x16xf32>, tensor<64x16xf32> -> tensor<64x64xf32>
// CHECK:               } else {
// CHECK:                 sparse_attn.score_tile %{{.*}}, %[[KT]] at [%[[Q0]], %[[K0]]] scale(0.360673755) visible {
// CHECK:                 ^bb0(%[[I:.*]]: index, %[[J:.*]]: index):
// CHECK:                   tensor.extract %[[COLUMN]]#0
// CHECK:                   tensor.extract %[[SLASH]]#0
// CHECK:                   %[[KEPT:.*]] = arith.ori
// CHECK:                   %[[IN_RANGE:.*]] = arith.cmpi slt, %[[J]], %[[END]] : index
// CHECK:                   sparse_attn.yield
// CHECK:               sparse_attn.online_softmax %[[S]], %[[VT]], %{{.*}}, %{{.*}}, %{{.*}}
// CHECK:           %[[NGT:.*]] = arith.ceildivsi %[[GATHERED]]#1, %c64 : index
// CHECK:           %[[OUT:.*]]:3 = scf.for %{{.*}} = %c0 to %[[NGT]] step %c1 iter_args(%{{.*}} = %[[RANGES]]#0, %{{.*}} = %[[RANGES]]#1, %{{.*}} = %[[RANGES]]#2)
// CHECK:             %[[C0:.*]] = arith.muli %{{.*}}, %c64 : index
// CHECK:             %[[KG:.*]] = sparse_attn.gather_tile %[[K]][%c0, %[[HKV]]] rows(%[[GATHERED]]#0[%[[C0]]], %[[GATHERED]]#1) : tensor<1x1x300x16xf32>, tensor<?xi32> -> tensor<64x16xf32>
// CHECK:             %[[VG:.*]] = sparse_attn.gather_tile %[[V]][%c0, %[[HKV]]] rows(%[[GATHERED]]#0[%[[C0]]], %[[GATHERED]]#1)
// CHECK:             sparse_attn.score_tile %{{.*}}, %[[KG]] at [%[[Q0]], %[[C0]]] scale(0.360673755) : tensor<64x16xf32>
// CHECK:             sparse_attn.score_tile %{{.*}}, %[[KG]] at [%[[Q0]], %[[C0]]] scale(0.360673755) visible {
// CHECK:             ^bb0(%{{.*}}: index, %[[C:.*]]: index):
// CHECK:               %[[SLOT_C:.*]] = arith.minsi %[[C]], %{{.*}} : index
// CHECK:               tensor.extract %[[GATHERED]]#0[%[[SLOT_C]]]
// CHECK:             sparse_attn.online_softmax %{{.*}}, %[[VG]], %{{.*}}, %{{.*}}, %{{.*}}
// CHECK:           sparse_attn.softmax_finalize %[[OUT]]#0, %[[OUT]]#1, %[[OUT]]#2
// CHECK-NOT:     sparse_attn.mask_visible
func.func @causal_gqa(%q: tensor<1x2x200x16xf32>, %k: tensor<1x1x300x16xf32>, %v: tensor<1x1x300x16xf32>) -> tensor<1x2x200x16xf32> {
  %m = sparse_attn.vertical_slash_mask <vertical_size = 8, slash_size = 32, sink = 4, local = 8> %q, %k
      : tensor<1x2x200x16xf32>, tensor<1x1x300x16xf32> -> !sparse_attn.block_mask<1x2x200x300, block = 64x64>
  %o = sparse_attn.attention softmax causal %q, %k, %v mask(%m : !sparse_attn.block_mask<1x2x200x300, block = 64x64>)
      : tensor<1x2x200x16xf32>, tensor<1x1x300x16xf32>, tensor<1x1x300x16xf32> -> tensor<1x2x200x16xf32>
  return %o : tensor<1x2x200x16xf32>
}

// -----

// The mask has another use: the estimator stays for it, the attention walks
// the lists all the same.

// CHECK-LABEL: func.func @kept_mask
// CHECK:         %[[MASK:.*]] = sparse_attn.vertical_slash_mask
// CHECK:         sparse_attn.select_vertical_slash
// CHECK:         scf.forall
// CHECK-NOT:       sparse_attn.mask_visible
// CHECK:           sparse_attn.gather_tile
// CHECK:         sparse_attn.mask_to_indices %[[MASK]]
func.func @kept_mask(%q: tensor<1x2x128x16xf32>) -> (tensor<1x2x128x16xf32>, tensor<1x2x2xi32>, tensor<1x2x2x2xi32>, tensor<1x2x2xi32>, tensor<1x2x2x2xi32>) {
  %m = sparse_attn.vertical_slash_mask <vertical_size = 8, slash_size = 16, sink = 4, local = 8> %q, %q
      : tensor<1x2x128x16xf32>, tensor<1x2x128x16xf32> -> !sparse_attn.block_mask<1x2x128x128, block = 64x64>
  %o = sparse_attn.attention softmax causal %q, %q, %q mask(%m : !sparse_attn.block_mask<1x2x128x128, block = 64x64>)
      : tensor<1x2x128x16xf32>, tensor<1x2x128x16xf32>, tensor<1x2x128x16xf32> -> tensor<1x2x128x16xf32>
  %n, %i, %fn, %fi = sparse_attn.mask_to_indices %m : !sparse_attn.block_mask<1x2x128x128, block = 64x64>
      -> tensor<1x2x2xi32>, tensor<1x2x2x2xi32>, tensor<1x2x2xi32>, tensor<1x2x2x2xi32>
  return %o, %n, %i, %fn, %fi : tensor<1x2x128x16xf32>, tensor<1x2x2xi32>, tensor<1x2x2x2xi32>, tensor<1x2x2xi32>, tensor<1x2x2x2xi32>
}

// -----

// Combined with another mask the region is not the vertical-slash mask's
// alone: the key loop keeps its token-level query.

// CHECK-LABEL: func.func @combined
// CHECK-NOT:     sparse_attn.select_vertical_slash
// CHECK-NOT:     sparse_attn.gather_tile
// CHECK:         sparse_attn.mask_visible
func.func @combined(%q: tensor<1x2x128x16xf32>) -> tensor<1x2x128x16xf32> {
  %m = sparse_attn.vertical_slash_mask %q, %q
      : tensor<1x2x128x16xf32>, tensor<1x2x128x16xf32> -> !sparse_attn.block_mask<1x2x128x128, block = 64x64>
  %s = sparse_attn.streaming_mask() sink(16) window(64) : !sparse_attn.block_mask<1x1x128x128, block = 64x64>
  %c = sparse_attn.mask_intersect %m, %s : !sparse_attn.block_mask<1x2x128x128, block = 64x64>, !sparse_attn.block_mask<1x1x128x128, block = 64x64>
      -> !sparse_attn.block_mask<1x2x128x128, block = 64x64>
  %o = sparse_attn.attention softmax causal %q, %q, %q mask(%c : !sparse_attn.block_mask<1x2x128x128, block = 64x64>)
      : tensor<1x2x128x16xf32>, tensor<1x2x128x16xf32>, tensor<1x2x128x16xf32> -> tensor<1x2x128x16xf32>
  return %o : tensor<1x2x128x16xf32>
}
