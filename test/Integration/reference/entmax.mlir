// RUN: sparse-attn-opt %s --sparse-attn-reference \
// RUN: | mlir-runner -e main -entry-point-result=void \
// RUN:     -shared-libs=%mlir_runner_utils,%mlir_c_runner_utils \
// RUN: | FileCheck %s

// Sparsemax (alpha = 2) of [1, 0.5, 0, -1]: tau = 0.25, p = [0.75, 0.25, 0, 0].
// A constant row is uniform. A row of -1000 and -999 is [0, 1] whatever
// the magnitude of the entries (the threshold is found relative to the max).
// 1.5-entmax of [1, 0] (x = [0.5, 0]): (0.5 - tau)^2 + tau^2 = 1 gives
// tau = (1 - sqrt(7)) / 4 = -0.411438, p = [0.830719, 0.169281].

func.func private @printMemrefF32(memref<*xf32>)

func.func @main() {
  %x = arith.constant dense<[[1.0, 0.5, 0.0, -1.0],
                             [0.3, 0.3, 0.3, 0.3],
                             [-1000.0, -999.0, -1000.0, -1000.0]]> : tensor<3x4xf32>
  // CHECK:      data =
  // CHECK-NEXT: {{\[}}[0.75, 0.25, 0, 0],
  // CHECK-NEXT:  [0.25, 0.25, 0.25, 0.25],
  // CHECK-NEXT:  [0, 1, 0, 0]]
  %p = sparse_attn.entmax %x <alpha = 2.0> : tensor<3x4xf32>
  %pm = bufferization.to_buffer %p : tensor<3x4xf32> to memref<3x4xf32>
  %pu = memref.cast %pm : memref<3x4xf32> to memref<*xf32>
  call @printMemrefF32(%pu) : (memref<*xf32>) -> ()

  %y = arith.constant dense<[1.0, 0.0]> : tensor<2xf32>
  // CHECK:      data =
  // CHECK-NEXT: [0.830719, 0.169281]
  %q = sparse_attn.entmax %y <alpha = 1.5> : tensor<2xf32>
  %qm = bufferization.to_buffer %q : tensor<2xf32> to memref<2xf32>
  %qu = memref.cast %qm : memref<2xf32> to memref<*xf32>
  call @printMemrefF32(%qu) : (memref<*xf32>) -> ()
  return
}
