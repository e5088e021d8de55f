// RUN: sparse-attn-opt %s --sparse-attn-reference \
// RUN: | mlir-runner -e main -entry-point-result=void \
// RUN:     -shared-libs=%mlir_runner_utils,%mlir_c_runner_utils \
// RUN: | FileCheck %s

// One head, two queries and two keys, scale 1:
//   q = k = [[1, 0], [0, 1]], v = [[1, 2], [3, 4]], scores s = [[1, 0], [0, 1]].
// softmax: w0 = [e, 1] / (e + 1) = [0.731059, 0.268941]
//          o0 = w0 . v = [1.53788, 2.53788], o1 = [2.46212, 3.46212]
//          lse = 1 + log(1 + 1/e) = 1.31326 for both rows.
// causal:  query 0 sees key 0 only: o0 = [1, 2], lse0 = 1.
// varlen:  query_lengths = [1]: row 1 is padding: zeros and lse -inf.
// sparsemax with scale 0.5: x = [0.5, 0], tau = -0.25, w0 = [0.75, 0.25]:
//          o0 = [1.5, 2.5], o1 = [2.5, 3.5]; the statistic is tau.

func.func private @printMemrefF32(memref<*xf32>)

func.func @print(%t: tensor<1x1x2x2xf32>, %s: tensor<1x1x2xf32>) {
  %o = bufferization.to_buffer %t : tensor<1x1x2x2xf32> to memref<1x1x2x2xf32>
  %ou = memref.cast %o : memref<1x1x2x2xf32> to memref<*xf32>
  call @printMemrefF32(%ou) : (memref<*xf32>) -> ()
  %st = bufferization.to_buffer %s : tensor<1x1x2xf32> to memref<1x1x2xf32>
  %su = memref.cast %st : memref<1x1x2xf32> to memref<*xf32>
  call @printMemrefF32(%su) : (memref<*xf32>) -> ()
  return
}

func.func @main() {
  %q = arith.constant dense<[[[[1.0, 0.0], [0.0, 1.0]]]]> : tensor<1x1x2x2xf32>
  %v = arith.constant dense<[[[[1.0, 2.0], [3.0, 4.0]]]]> : tensor<1x1x2x2xf32>
  %one = arith.constant dense<1> : tensor<1xi32>

  // CHECK:      data =
  // CHECK-NEXT: {{\[\[\[}}[1.53788, 2.53788],
  // CHECK-NEXT:    [2.46212, 3.46212]]]]
  // CHECK:      data =
  // CHECK-NEXT: {{\[\[}}[1.31326, 1.31326]]]
  %o0, %s0 = sparse_attn.attention softmax %q, %q, %v scale(1.0)
      : tensor<1x1x2x2xf32>, tensor<1x1x2x2xf32>, tensor<1x1x2x2xf32>
      -> tensor<1x1x2x2xf32>, tensor<1x1x2xf32>
  call @print(%o0, %s0) : (tensor<1x1x2x2xf32>, tensor<1x1x2xf32>) -> ()

  // CHECK:      data =
  // CHECK-NEXT: {{\[\[\[}}[1, 2],
  // CHECK-NEXT:    [2.46212, 3.46212]]]]
  // CHECK:      data =
  // CHECK-NEXT: {{\[\[}}[1, 1.31326]]]
  %o1, %s1 = sparse_attn.attention softmax causal %q, %q, %v scale(1.0)
      : tensor<1x1x2x2xf32>, tensor<1x1x2x2xf32>, tensor<1x1x2x2xf32>
      -> tensor<1x1x2x2xf32>, tensor<1x1x2xf32>
  call @print(%o1, %s1) : (tensor<1x1x2x2xf32>, tensor<1x1x2xf32>) -> ()

  // CHECK:      data =
  // CHECK-NEXT: {{\[\[\[}}[1.53788, 2.53788],
  // CHECK-NEXT:    [0, 0]]]]
  // CHECK:      data =
  // CHECK-NEXT: {{\[\[}}[1.31326, -inf]]]
  %o2, %s2 = sparse_attn.attention softmax %q, %q, %v
      query_lengths(%one : tensor<1xi32>) scale(1.0)
      : tensor<1x1x2x2xf32>, tensor<1x1x2x2xf32>, tensor<1x1x2x2xf32>
      -> tensor<1x1x2x2xf32>, tensor<1x1x2xf32>
  call @print(%o2, %s2) : (tensor<1x1x2x2xf32>, tensor<1x1x2xf32>) -> ()

  // CHECK:      data =
  // CHECK-NEXT: {{\[\[\[}}[1.5, 2.5],
  // CHECK-NEXT:    [2.5, 3.5]]]]
  // CHECK:      data =
  // CHECK-NEXT: {{\[\[}}[-0.25, -0.25]]]
  %o3, %s3 = sparse_attn.attention entmax<alpha = 2.0> %q, %q, %v scale(0.5)
      : tensor<1x1x2x2xf32>, tensor<1x1x2x2xf32>, tensor<1x1x2x2xf32>
      -> tensor<1x1x2x2xf32>, tensor<1x1x2xf32>
  call @print(%o3, %s3) : (tensor<1x1x2x2xf32>, tensor<1x1x2xf32>) -> ()
  return
}
