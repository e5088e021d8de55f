// RUN: sparse-attn-opt %s -split-input-file -sparse-attn-tile -sparse-attn-skip-blocks -sparse-attn-fuse -sparse-attn-instrument="head-capacity=4" -canonicalize -cse -verify-diagnostics | FileCheck %s

// One record per grid in module order (here causal softmax attention, kind
// 0, then row-wise entmax, kind 3), 8 + 2 x 4 slots each; the layout global
// reads [version, records, slots, head capacity, kinds...]. Every grid point
// counts itself and its dense key tiles (also per head), every key loop one
// pass over K, every score tile a visit (the output pass also per head, and
// its full tiles), every solver step an iteration.

// CHECK-DAG:   memref.global "public" @sparse_attn_counters : memref<2x16xi64> = dense<0>
// CHECK-DAG:   memref.global "public" constant @sparse_attn_counters_layout : memref<6xi64> = dense<[1, 2, 16, 4, 0, 3]>
// CHECK-LABEL: func.func @two_ops
// CHECK:         scf.forall (%[[H:.*]], %[[QT:.*]]) in (2, 2)
// CHECK:           %[[COUNTERS:.*]] = memref.get_global @sparse_attn_counters : memref<2x16xi64>
// CHECK:           %[[CAPPED:.*]] = arith.minui %[[H]], %c3
// CHECK:           %[[PAIR:.*]] = arith.muli %[[CAPPED]], %c2
// CHECK:           %[[HEAD_SLOT:.*]] = arith.addi %[[PAIR]], %c8
// CHECK:           memref.atomic_rmw addi %c1_i64, %[[COUNTERS]][%c0, %c0]
// Two dense key tiles of 64 cover the 100 keys.
// CHECK:           memref.atomic_rmw addi %c2_i64, %[[COUNTERS]][%c0, %c1]
// CHECK:           %[[HEAD_TOTAL:.*]] = arith.addi %[[PAIR]], %c9
// CHECK:           memref.atomic_rmw addi %c2_i64, %[[COUNTERS]][%c0, %[[HEAD_TOTAL]]]
// CHECK:           memref.atomic_rmw addi %c1_i64, %[[COUNTERS]][%c0, %c2]
// CHECK-NEXT:      scf.for
// CHECK:             scf.if
// CHECK:               memref.atomic_rmw addi %c1_i64, %[[COUNTERS]][%c0, %c3]
// CHECK:               memref.atomic_rmw addi %c1_i64, %[[COUNTERS]][%c0, %c4]
// CHECK:               memref.atomic_rmw addi %c1_i64, %[[COUNTERS]][%c0, %[[HEAD_SLOT]]]
// CHECK:               memref.atomic_rmw addi %c1_i64, %[[COUNTERS]][%c0, %c5]
// CHECK:               sparse_attn.score_tile {{.*}} : tensor<64x16xf32>, tensor<64x16xf32> -> tensor<64x64xf32>
// CHECK:             } else {
// CHECK:               memref.atomic_rmw addi %c1_i64, %[[COUNTERS]][%c0, %c3]
// CHECK:               memref.atomic_rmw addi %c1_i64, %[[COUNTERS]][%c0, %c4]
// CHECK:               memref.atomic_rmw addi %c1_i64, %[[COUNTERS]][%c0, %[[HEAD_SLOT]]]
// CHECK-NOT:           %[[COUNTERS]][%c0, %c5]
// CHECK:               sparse_attn.score_tile {{.*}} visible {
// CHECK:           } {sparse_attn.key_pass = "softmax"}
// CHECK:         scf.forall
// CHECK:           %[[COUNTERS2:.*]] = memref.get_global @sparse_attn_counters : memref<2x16xi64>
// CHECK:           memref.atomic_rmw addi %c1_i64, %[[COUNTERS2]][%c1, %c0]
// CHECK:           scf.while
// CHECK:             sparse_attn.entmax_threshold_step
// CHECK-NEXT:        memref.atomic_rmw addi %c1_i64, %[[COUNTERS2]][%c1, %c6]
func.func @two_ops(%q: tensor<1x2x100x16xf32>, %x: tensor<8x100xf32>) -> (tensor<1x2x100x16xf32>, tensor<8x100xf32>) {
  %o = sparse_attn.attention softmax causal %q, %q, %q : tensor<1x2x100x16xf32>, tensor<1x2x100x16xf32>, tensor<1x2x100x16xf32> -> tensor<1x2x100x16xf32>
  %p = sparse_attn.entmax %x <alpha = 1.5> : tensor<8x100xf32>
  return %o, %p : tensor<1x2x100x16xf32>, tensor<8x100xf32>
}

// -----

// A module without tiled ops gets no counters.

// CHECK-NOT:   memref.global
// CHECK-LABEL: func.func @nothing_tiled
func.func @nothing_tiled(%x: tensor<4xf32>) -> tensor<4xf32> {
  return %x : tensor<4xf32>
}

// -----

// A declaration of the counters (a driver that prints them) is defined in
// place; one of another type is an error.

// CHECK: memref.global "public" @sparse_attn_counters : memref<1x16xi64> = dense<0>
// CHECK-LABEL: func.func @declared
module {
  memref.global "public" @sparse_attn_counters : memref<1x16xi64>
  func.func @declared(%x: tensor<8x100xf32>) -> tensor<8x100xf32> {
    %p = sparse_attn.entmax %x <alpha = 1.5> : tensor<8x100xf32>
    return %p : tensor<8x100xf32>
  }
}

// -----

module {
  // expected-error @+1 {{@sparse_attn_counters exists; the instrumentation defines it as an uninitialised 'memref<1x16xi64>' declaration or creates it}}
  memref.global "public" @sparse_attn_counters : memref<1x8xi64>
  func.func @declared_wrong(%x: tensor<8x100xf32>) -> tensor<8x100xf32> {
    %p = sparse_attn.entmax %x <alpha = 1.5> : tensor<8x100xf32>
    return %p : tensor<8x100xf32>
  }
}
