// RUN: sparse-attn-opt %s -split-input-file -sparse-attn-tile -canonicalize -cse | FileCheck %s
// RUN: sparse-attn-opt %s -split-input-file -sparse-attn-tile="query-tile=128 key-tile=128" -canonicalize -cse | FileCheck %s --check-prefix=T128
// RUN: not sparse-attn-opt %s -split-input-file -sparse-attn-tile="query-tile=48" 2>&1 | FileCheck %s --check-prefix=BAD-TILE

// BAD-TILE: error: tile sizes must be positive powers of two, got 48x64

// Causal softmax with GQA (4 query heads on 2 key/value heads), Nq != Nk,
// and the log-sum-exp: a grid over (batch, head, query tile) whose key loop
// carries the running max, sum and accumulator; log2(e) is folded into the
// scale (0.25 * log2(e)).

// CHECK-LABEL: func.func @softmax_causal_gqa
// CHECK-SAME:    (%[[Q:.*]]: tensor<2x4x100x16xf32>, %[[K:.*]]: tensor<2x2x90x16xf32>, %[[V:.*]]: tensor<2x2x90x8xf32>)
// CHECK:         %[[GRID:.*]]:2 = scf.forall (%[[B:.*]], %[[H:.*]], %[[QT:.*]]) in (2, 4, 2) shared_outs(%[[O:.*]] = %{{.*}}, %[[S:.*]] = %{{.*}}) -> (tensor<2x4x100x8xf32>, tensor<2x4x100xf32>)
// CHECK:           %[[HKV:.*]] = arith.divui %[[H]], %c2
// CHECK:           %[[Q0:.*]] = arith.muli %[[QT]], %c64
// CHECK:           %[[QTILE:.*]] = sparse_attn.load_tile %[[Q]][%[[B]], %[[H]], %[[Q0]]] : tensor<2x4x100x16xf32> -> tensor<64x16xf32>
// CHECK:           %[[STATE:.*]]:3 = scf.for %[[KT:.*]] = %c0 to %{{.*}} step %c1 iter_args(%[[M:.*]] = %{{.*}}, %[[L:.*]] = %{{.*}}, %[[ACC:.*]] = %{{.*}}) -> (tensor<64xf32>, tensor<64xf32>, tensor<64x8xf32>)
// CHECK:             %[[K0:.*]] = arith.muli %[[KT]], %c64
// CHECK-DAG:         %[[VTILE:.*]] = sparse_attn.load_tile %[[V]][%[[B]], %[[HKV]], %[[K0]]] : tensor<2x2x90x8xf32> -> tensor<64x8xf32>
// CHECK-DAG:         %[[KTILE:.*]] = sparse_attn.load_tile %[[K]][%[[B]], %[[HKV]], %[[K0]]] : tensor<2x2x90x16xf32> -> tensor<64x16xf32>
// CHECK:             %[[SCORES:.*]] = sparse_attn.score_tile %[[QTILE]], %[[KTILE]] at [%[[Q0]], %[[K0]]] scale(0.360673755) visible {
// CHECK:             ^bb0(%[[I:.*]]: index, %[[J:.*]]: index):
// CHECK:               %[[INK:.*]] = arith.cmpi slt, %[[J]], %c90
// CHECK:               %[[INQ:.*]] = arith.cmpi slt, %[[I]], %c100
// CHECK:               %[[IN:.*]] = arith.andi %[[INQ]], %[[INK]]
// CHECK:               %[[POS:.*]] = arith.addi %[[I]], %c-10
// CHECK:               %[[CAUSAL:.*]] = arith.cmpi sle, %[[J]], %[[POS]]
// CHECK:               %[[VIS:.*]] = arith.andi %[[IN]], %[[CAUSAL]]
// CHECK:               sparse_attn.yield %[[VIS]] : i1
// CHECK:             }
// CHECK:             %{{.*}}, %{{.*}}, %{{.*}} = sparse_attn.online_softmax %[[SCORES]], %[[VTILE]], %[[M]], %[[L]], %[[ACC]]
// CHECK:             scf.yield
// CHECK:           } {sparse_attn.key_pass = "softmax"}
// CHECK:           %[[OUT:.*]], %[[LSE:.*]] = sparse_attn.softmax_finalize %[[STATE]]#0, %[[STATE]]#1, %[[STATE]]#2 rows(%{{.*}}) : tensor<64xf32>, tensor<64x8xf32> -> tensor<64x8xf32>
// CHECK:           scf.forall.in_parallel {
// CHECK:             tensor.parallel_insert_slice %{{.*}} into %[[O]][%[[B]], %[[H]], %[[Q0]], 0]
// CHECK:             tensor.parallel_insert_slice %{{.*}} into %[[S]][%[[B]], %[[H]], %[[Q0]]]
// CHECK:           }
// CHECK:         } {sparse_attn.grid = "attention"}
// CHECK:         return %[[GRID]]#0, %[[GRID]]#1

// One 128-row query tile covers the sequence (the canonicalizer drops the
// unit grid dimension and the single-trip key loop).
// T128-LABEL: func.func @softmax_causal_gqa
// T128:         scf.forall (%{{.*}}, %{{.*}}) in (2, 4)
// T128:           sparse_attn.load_tile %{{.*}} : tensor<2x4x100x16xf32> -> tensor<128x16xf32>
func.func @softmax_causal_gqa(%q: tensor<2x4x100x16xf32>, %k: tensor<2x2x90x16xf32>, %v: tensor<2x2x90x8xf32>)
    -> (tensor<2x4x100x8xf32>, tensor<2x4x100xf32>) {
  %o, %lse = sparse_attn.attention softmax causal %q, %k, %v scale(0.25)
      : tensor<2x4x100x16xf32>, tensor<2x2x90x16xf32>, tensor<2x2x90x8xf32> -> tensor<2x4x100x8xf32>, tensor<2x4x100xf32>
  return %o, %lse : tensor<2x4x100x8xf32>, tensor<2x4x100xf32>
}

// -----

// Entmax 1.5: a max pass, a histogram pass, the solver iterations (an
// scf.while whose body is one moments pass and a threshold step; it stops
// when the thresholds no longer move) and the output pass with the final
// threshold. The scores are x = (alpha - 1) * scale * q.k.

// CHECK-LABEL: func.func @entmax_histogram_start
// CHECK:         %[[EMPTY_GAP:.*]] = arith.constant dense<0> : tensor<64x17xi32>
// CHECK:         scf.forall (%{{.*}}) in (4)
// CHECK:           %[[MAX:.*]]:2 = scf.for {{.*}} -> (tensor<64xf32>, tensor<64xf32>) {
// CHECK:             %[[X0:.*]] = sparse_attn.score_tile {{.*}} scale(1.250000e-01) visible {
// CHECK:             sparse_attn.row_max %[[X0]], %{{.*}}, %{{.*}} : tensor<64x64xf32>, tensor<64xf32>
// CHECK:           } {sparse_attn.key_pass = "entmax_max"}
// CHECK:           %[[HIST:.*]] = scf.for {{.*}} -> (tensor<64x64xi32>) {
// CHECK:             sparse_attn.entmax_histogram %{{.*}}, %[[MAX]]#0, %{{.*}} : tensor<64x64xf32>, tensor<64xf32>, tensor<64x64xi32>
// CHECK:           } {sparse_attn.key_pass = "entmax_histogram"}
// CHECK:           %[[T0:.*]], %[[LO0:.*]], %[[HI0:.*]] = sparse_attn.entmax_threshold_init <alpha = 1.5> %[[MAX]]#0, %[[MAX]]#1 histogram(%[[HIST]] : tensor<64x64xi32>)
// CHECK:           %[[SOLVED:.*]]:4 = scf.while (%[[IT:.*]] = %c0, %[[TAU:.*]] = %[[T0]], %{{.*}} = %[[LO0]], %{{.*}} = %[[HI0]], %[[DONE:.*]] = %false)
// CHECK:             %[[MORE:.*]] = arith.cmpi slt, %[[IT]], %c12
// CHECK:             %[[PENDING:.*]] = arith.xori %[[DONE]], %true
// CHECK:             arith.andi %[[MORE]], %[[PENDING]]
// CHECK:           } do {
// CHECK:           ^bb0(%{{.*}}: index, %[[TAU_IN:.*]]: tensor<64xf32>, %[[LO_IN:.*]]: tensor<64xf32>, %[[HI_IN:.*]]: tensor<64xf32>):
// The pass also records the entries between the threshold and the upper
// bound (count and 16 entries per row, from zeros), which let the step
// prove its closed-form root exact.
// CHECK:             %[[MOMENTS:.*]]:4 = scf.for {{.*}} iter_args({{.*}}, %{{.*}} = %[[EMPTY_GAP]])
// CHECK:               sparse_attn.entmax_moments <alpha = 1.5> %[[X:.*]], %[[TAU_IN]]
// CHECK:               sparse_attn.entries_between %[[X]], %[[TAU_IN]], %[[HI_IN]], %{{.*}} : tensor<64x64xf32>, tensor<64xf32>, tensor<64x17xi32>
// CHECK:             } {sparse_attn.key_pass = "entmax_solver"}
// CHECK:             sparse_attn.entmax_threshold_step <alpha = 1.5> %[[TAU_IN]], %[[LO_IN]], %[[HI_IN]], %[[MOMENTS]]#0, %[[MOMENTS]]#1, %[[MOMENTS]]#2 gap(%[[MOMENTS]]#3 : tensor<64x17xi32>)
// CHECK:           } attributes {sparse_attn.solver_iterations}
// CHECK:           %[[OUT:.*]]:2 = scf.for
// CHECK:             sparse_attn.entmax_accumulate <alpha = 1.5> %{{.*}}, %{{.*}}, %[[SOLVED]]#1, %{{.*}}, %{{.*}}
// CHECK:           } {sparse_attn.key_pass = "entmax_output"}
// CHECK:           sparse_attn.entmax_finalize %[[SOLVED]]#1, %[[OUT]]#1, %[[OUT]]#0 rows(%{{.*}})
func.func @entmax_histogram_start(%q: tensor<1x1x200x16xf32>, %k: tensor<1x1x200x16xf32>)
    -> (tensor<1x1x200x16xf32>, tensor<1x1x200xf32>) {
  %o, %tau = sparse_attn.attention entmax<alpha = 1.5> %q, %k, %k
      : tensor<1x1x200x16xf32>, tensor<1x1x200x16xf32>, tensor<1x1x200x16xf32> -> tensor<1x1x200x16xf32>, tensor<1x1x200xf32>
  return %o, %tau : tensor<1x1x200x16xf32>, tensor<1x1x200xf32>
}

// -----

// General alpha starts from the [max - 1, max - n^(1 - alpha)] bracket
// without a histogram pass; a fixed iteration count runs exactly that many
// solver passes.

// CHECK-LABEL: func.func @entmax_general_alpha
// CHECK:         } {sparse_attn.key_pass = "entmax_max"}
// CHECK-NOT:     entmax_histogram
// CHECK:         sparse_attn.entmax_threshold_init <alpha = 1.25, iterations = 3> %{{.*}}, %{{.*}} : tensor<64xf32>
// CHECK:         scf.while (%[[IT:.*]] = %c0,
// CHECK:           %[[MORE:.*]] = arith.cmpi slt, %[[IT]], %c3
// CHECK-NEXT:      scf.condition(%[[MORE]])
// CHECK:         } {sparse_attn.key_pass = "entmax_output"}
func.func @entmax_general_alpha(%q: tensor<1x1x200x16xf32>) -> tensor<1x1x200x16xf32> {
  %o = sparse_attn.attention entmax<alpha = 1.25, iterations = 3> %q, %q, %q
      : tensor<1x1x200x16xf32>, tensor<1x1x200x16xf32>, tensor<1x1x200x16xf32> -> tensor<1x1x200x16xf32>
  return %o : tensor<1x1x200x16xf32>
}

// -----

// Elastic softmax: a log-sum-exp pass, then an output pass that shifts the
// softmax weights by tau[h] / (position + 1); no renormalisation. The bias
// is read at diagonal Lk - Lq and scaled into base-2 units too.

// CHECK-LABEL: func.func @elastic
// CHECK-SAME:    (%{{.*}}: tensor<1x2x200x16xf32>, %{{.*}}: tensor<1x2x200x16xf32>, %[[BIAS:.*]]: tensor<2x8xf32>, %[[TAU:.*]]: tensor<2xf32>)
// CHECK:         scf.forall (%[[H:.*]], %[[QT:.*]]) in (2, 4)
// CHECK:           %[[Q0:.*]] = arith.muli %[[QT]], %c64
// CHECK:           %[[LSE:.*]]:2 = scf.for
// CHECK:             %[[S:.*]] = sparse_attn.score_tile {{.*}} scale(0.360673755) bias(%[[BIAS]][%[[H]], %c0] : tensor<2x8xf32>) bias_scale(1.44269502) visible {
// CHECK:             sparse_attn.online_logsumexp %[[S]]
// CHECK:           } {sparse_attn.key_pass = "logsumexp"}
// CHECK:           %[[TAU_H:.*]] = tensor.extract %[[TAU]][%[[H]]]
// CHECK:           %[[ACC:.*]] = scf.for
// CHECK:             sparse_attn.elastic_accumulate %{{.*}}, %{{.*}}, %[[LSE]]#0, %[[LSE]]#1, %{{.*}} shift(%[[TAU_H]], %[[Q0]])
// CHECK:           } {sparse_attn.key_pass = "elastic_output"}
// CHECK:           sparse_attn.softmax_finalize %[[LSE]]#0, %[[LSE]]#1, %[[ACC]] rows(%{{.*}}) unnormalized
func.func @elastic(%q: tensor<1x2x200x16xf32>, %k: tensor<1x2x200x16xf32>, %bias: tensor<2x8xf32>, %tau: tensor<2xf32>)
    -> tensor<1x2x200x16xf32> {
  %o = sparse_attn.attention elastic_softmax causal %q, %k, %k bias(%bias : tensor<2x8xf32>) tau(%tau : tensor<2xf32>)
      : tensor<1x2x200x16xf32>, tensor<1x2x200x16xf32>, tensor<1x2x200x16xf32> -> tensor<1x2x200x16xf32>
  return %o : tensor<1x2x200x16xf32>
}

// -----

// Varlen with a mask on dynamic shapes: the clamped lengths bound the key
// loop (no key tile for a grid point whose rows all lie past Lq) and enter
// the region with the token-level query of the mask. Tiles shrink to the
// mask's 32x32 blocks.

// CHECK-LABEL: func.func @varlen_mask
// CHECK-SAME:    (%[[Q:.*]]: tensor<?x4x?x16xbf16>, %[[K:.*]]: tensor<?x4x?x16xbf16>, %[[QL:.*]]: tensor<?xi32>, %[[KL:.*]]: tensor<?xi32>, %{{.*}}: index)
// CHECK:         %[[MASK:.*]] = sparse_attn.streaming_mask
// CHECK:         scf.forall (%[[B:.*]], %[[H:.*]], %[[QT:.*]]) in (%{{.*}}, 4, %{{.*}})
// CHECK:           %[[Q0:.*]] = arith.muli %[[QT]], %c32
// CHECK:           tensor.extract %[[QL]][%[[B]]]
// CHECK:           %[[LQ:.*]] = arith.minsi
// CHECK:           tensor.extract %[[KL]][%[[B]]]
// CHECK:           %[[LK:.*]] = arith.minsi
// CHECK:           %[[ANY:.*]] = arith.cmpi slt, %[[Q0]], %[[LQ]]
// CHECK:           %[[TILES:.*]] = arith.ceildivui %[[LK]], %c32
// CHECK:           %[[N:.*]] = arith.select %[[ANY]], %[[TILES]], %c0
// CHECK:           sparse_attn.load_tile %[[Q]][%[[B]], %[[H]], %[[Q0]]] : tensor<?x4x?x16xbf16> -> tensor<32x16xbf16>
// CHECK:           scf.for %{{.*}} = %c0 to %[[N]] step %c1
// CHECK:             sparse_attn.score_tile {{.*}} visible {
// CHECK:             ^bb0(%[[I:.*]]: index, %[[J:.*]]: index):
// CHECK:               arith.cmpi slt, %[[J]], %[[LK]]
// CHECK:               arith.cmpi slt, %[[I]], %[[LQ]]
// CHECK:               sparse_attn.mask_visible %[[MASK]][%[[B]], %[[H]], %[[I]], %[[J]]]
// CHECK:             } : tensor<32x16xbf16>, tensor<32x16xbf16> -> tensor<32x32xf32>
// CHECK:           sparse_attn.softmax_finalize {{.*}} -> tensor<32x16xbf16>
func.func @varlen_mask(%q: tensor<?x4x?x16xbf16>, %k: tensor<?x4x?x16xbf16>, %ql: tensor<?xi32>, %kl: tensor<?xi32>, %n: index)
    -> tensor<?x4x?x16xbf16> {
  %m = sparse_attn.streaming_mask(%n, %n) sink(4) window(64) : !sparse_attn.block_mask<1x1x?x?, block = 32x32>
  %o = sparse_attn.attention softmax %q, %k, %k mask(%m : !sparse_attn.block_mask<1x1x?x?, block = 32x32>)
      query_lengths(%ql : tensor<?xi32>) key_lengths(%kl : tensor<?xi32>)
      : tensor<?x4x?x16xbf16>, tensor<?x4x?x16xbf16>, tensor<?x4x?x16xbf16> -> tensor<?x4x?x16xbf16>
  return %o : tensor<?x4x?x16xbf16>
}

// -----

// Row-wise entmax: a grid over 64-row tiles of the rows collapsed to a
// matrix, chunks of 64 entries as key tiles (-inf outside the rows), the
// same solver, a pass for the row sums at the final threshold and a pass
// that writes the renormalised weights chunk by chunk.

// CHECK-LABEL: func.func @row_entmax
// CHECK:         %[[ROWS:.*]] = tensor.collapse_shape %{{.*}} {{\[\[}}0, 1], [2]] : tensor<3x?x300xbf16> into tensor<?x300xbf16>
// CHECK:         scf.forall (%[[RT:.*]]) in (%{{.*}}) shared_outs(%[[OUT:.*]] = %{{.*}})
// CHECK:           %[[R0:.*]] = arith.muli %[[RT]], %c64
// CHECK:           scf.for %[[C:.*]] = %c0 to %c5
// CHECK:             %[[C0:.*]] = arith.muli %[[C]], %c64
// CHECK:             sparse_attn.load_score_chunk %[[ROWS]][%[[R0]], %[[C0]]] scale(1.000000e+00) : tensor<?x300xbf16> -> tensor<64x64xf32>
// CHECK:           } {sparse_attn.key_pass = "entmax_max"}
// CHECK:           } {sparse_attn.key_pass = "entmax_histogram"}
// CHECK:           %[[SOLVED:.*]]:4 = scf.while
// CHECK:           } attributes {sparse_attn.solver_iterations}
// CHECK:           %[[SUMS:.*]]:3 = scf.for
// CHECK:             sparse_attn.entmax_moments <alpha = 2.0> %{{.*}}, %[[SOLVED]]#1
// CHECK:           } {sparse_attn.key_pass = "entmax_sum"}
// CHECK:           %[[SLAB:.*]] = tensor.extract_slice %[[OUT]][%[[R0]], 0]
// CHECK:           %[[WRITTEN:.*]] = scf.for {{.*}} iter_args(%[[PART:.*]] = %[[SLAB]])
// CHECK:             %[[W:.*]] = sparse_attn.entmax_weights <alpha = 2.0> %{{.*}}, %[[SOLVED]]#1, %[[SUMS]]#0 : tensor<64x64xf32>, tensor<64xf32> -> tensor<64x64xbf16>
// CHECK:             %[[PIECE:.*]] = tensor.extract_slice %[[W]][0, 0]
// CHECK:             tensor.insert_slice %[[PIECE]] into %[[PART]]
// CHECK:           } {sparse_attn.key_pass = "entmax_output"}
// CHECK:           tensor.parallel_insert_slice %[[WRITTEN]] into %[[OUT]][%[[R0]], 0]
// CHECK:         } {sparse_attn.grid = "entmax"}
// CHECK:         tensor.expand_shape %{{.*}} {{\[\[}}0, 1], [2]] output_shape [3, %{{.*}}, 300]
func.func @row_entmax(%x: tensor<3x?x300xbf16>) -> tensor<3x?x300xbf16> {
  %p = sparse_attn.entmax %x <alpha = 2.0> : tensor<3x?x300xbf16>
  return %p : tensor<3x?x300xbf16>
}
