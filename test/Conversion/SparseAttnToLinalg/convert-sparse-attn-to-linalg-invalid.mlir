// RUN: sparse-attn-opt %s -convert-sparse-attn-to-linalg -split-input-file -verify-diagnostics -allow-unregistered-dialect

// A block mask consumed by an op that has no tensor form of it cannot be
// lowered: the conversion fails with a diagnostic instead of leaving a cast.

func.func @unknown_mask_user(%n: index) {
  %m = sparse_attn.causal_mask(%n, %n) : !sparse_attn.block_mask<1x1x?x?, block = 64x64>
  // expected-error @+1 {{failed to legalize operation 'test.consume_mask'}}
  "test.consume_mask"(%m) : (!sparse_attn.block_mask<1x1x?x?, block = 64x64>) -> ()
  return
}

// -----

func.func @unknown_mask_producer() -> tensor<1x1x4x4xi32> {
  // expected-error @+1 {{failed to legalize operation 'test.make_mask'}}
  %m = "test.make_mask"() : () -> !sparse_attn.block_mask<1x1x4x4, block = 2x2>
  %n, %i, %fn, %fi = sparse_attn.mask_to_indices %m : !sparse_attn.block_mask<1x1x4x4, block = 2x2>
      -> tensor<1x1x2xi32>, tensor<1x1x2x2xi32>, tensor<1x1x2xi32>, tensor<1x1x2x2xi32>
  %r = "test.use"(%n) : (tensor<1x1x2xi32>) -> tensor<1x1x4x4xi32>
  return %r : tensor<1x1x4x4xi32>
}
