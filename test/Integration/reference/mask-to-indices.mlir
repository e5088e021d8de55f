// RUN: sparse-attn-opt %s --sparse-attn-reference \
// RUN: | mlir-runner -e main -entry-point-result=void \
// RUN:     -shared-libs=%mlir_runner_utils,%mlir_c_runner_utils \
// RUN: | FileCheck %s

// Block lists of causal masks with 2x2 blocks.
//
// 4 x 4: block (0, 0) holds the invisible (0, 1): partial; (0, 1) is empty;
// (1, 0) is full; (1, 1) holds the invisible (2, 3): partial.
//
// 3 x 5 (query i sees j <= i + 2; the last blocks are clipped to row 2 and
// column 4): row block 0 has key block 0 full, 1 partial ((0, 3) is
// invisible), 2 empty; row block 1 (row 2 only) sees every key: all full.

func.func private @printMemrefI32(memref<*xi32>)

func.func @print(%t: tensor<1x1x?xi32>, %u: tensor<1x1x?x?xi32>) {
  %c = tensor.cast %t : tensor<1x1x?xi32> to tensor<*xi32>
  %cm = bufferization.to_buffer %c : tensor<*xi32> to memref<*xi32>
  call @printMemrefI32(%cm) : (memref<*xi32>) -> ()
  %i = tensor.cast %u : tensor<1x1x?x?xi32> to tensor<*xi32>
  %im = bufferization.to_buffer %i : tensor<*xi32> to memref<*xi32>
  call @printMemrefI32(%im) : (memref<*xi32>) -> ()
  return
}

func.func @main() {
  %m4 = sparse_attn.causal_mask() : !sparse_attn.block_mask<1x1x4x4, block = 2x2>
  %n4, %i4, %fn4, %fi4 = sparse_attn.mask_to_indices %m4
      : !sparse_attn.block_mask<1x1x4x4, block = 2x2>
      -> tensor<1x1x2xi32>, tensor<1x1x2x2xi32>, tensor<1x1x2xi32>, tensor<1x1x2x2xi32>
  // Partial blocks.
  // CHECK:      data =
  // CHECK-NEXT: {{\[\[}}[1, 1]]]
  // CHECK:      data =
  // CHECK-NEXT: {{\[\[\[}}[0, 0],
  // CHECK-NEXT:    [1, 0]]]]
  // Full blocks.
  // CHECK:      data =
  // CHECK-NEXT: {{\[\[}}[0, 1]]]
  // CHECK:      data =
  // CHECK-NEXT: {{\[\[\[}}[0, 0],
  // CHECK-NEXT:    [0, 0]]]]
  %n4d = tensor.cast %n4 : tensor<1x1x2xi32> to tensor<1x1x?xi32>
  %i4d = tensor.cast %i4 : tensor<1x1x2x2xi32> to tensor<1x1x?x?xi32>
  %fn4d = tensor.cast %fn4 : tensor<1x1x2xi32> to tensor<1x1x?xi32>
  %fi4d = tensor.cast %fi4 : tensor<1x1x2x2xi32> to tensor<1x1x?x?xi32>
  call @print(%n4d, %i4d) : (tensor<1x1x?xi32>, tensor<1x1x?x?xi32>) -> ()
  call @print(%fn4d, %fi4d) : (tensor<1x1x?xi32>, tensor<1x1x?x?xi32>) -> ()

  %c3 = arith.constant 3 : index
  %c5 = arith.constant 5 : index
  %m35 = sparse_attn.causal_mask(%c3, %c5) : !sparse_attn.block_mask<1x1x?x?, block = 2x2>
  %n, %i, %fn, %fi = sparse_attn.mask_to_indices %m35
      : !sparse_attn.block_mask<1x1x?x?, block = 2x2>
      -> tensor<1x1x?xi32>, tensor<1x1x?x?xi32>, tensor<1x1x?xi32>, tensor<1x1x?x?xi32>
  // CHECK:      data =
  // CHECK-NEXT: {{\[\[}}[1, 0]]]
  // CHECK:      data =
  // CHECK-NEXT: {{\[\[\[}}[1, 0, 0],
  // CHECK-NEXT:    [0, 0, 0]]]]
  // CHECK:      data =
  // CHECK-NEXT: {{\[\[}}[1, 3]]]
  // CHECK:      data =
  // CHECK-NEXT: {{\[\[\[}}[0, 0, 0],
  // CHECK-NEXT:    [0, 1, 2]]]]
  call @print(%n, %i) : (tensor<1x1x?xi32>, tensor<1x1x?x?xi32>) -> ()
  call @print(%fn, %fi) : (tensor<1x1x?xi32>, tensor<1x1x?x?xi32>) -> ()
  return
}
