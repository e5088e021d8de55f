// RUN: sparse-attn-opt %s -split-input-file | sparse-attn-opt -split-input-file | FileCheck %s
// RUN: sparse-attn-opt %s -split-input-file -mlir-print-op-generic | sparse-attn-opt -split-input-file | FileCheck %s

// CHECK-LABEL: func.func @softmax_plain
// CHECK: sparse_attn.attention softmax %{{.*}}, %{{.*}}, %{{.*}} : tensor<1x8x128x64xf32>, tensor<1x8x128x64xf32>, tensor<1x8x128x64xf32> -> tensor<1x8x128x64xf32>
func.func @softmax_plain(%q: tensor<1x8x128x64xf32>) -> tensor<1x8x128x64xf32> {
  %o = sparse_attn.attention softmax %q, %q, %q : tensor<1x8x128x64xf32>, tensor<1x8x128x64xf32>, tensor<1x8x128x64xf32> -> tensor<1x8x128x64xf32>
  return %o : tensor<1x8x128x64xf32>
}

// -----

// CHECK-LABEL: func.func @softmax_everything
// CHECK: %{{.*}}, %{{.*}} = sparse_attn.attention softmax causal %{{.*}}, %{{.*}}, %{{.*}} mask(%{{.*}} : !sparse_attn.block_mask<1x1x?x?, block = 128x128>) query_lengths(%{{.*}} : tensor<2xi32>) key_lengths(%{{.*}} : tensor<2xi32>) bias(%{{.*}} : tensor<32x64xbf16>) scale(1.250000e-01) : tensor<2x32x?x128xbf16>, tensor<2x8x?x128xbf16>, tensor<2x8x?x128xbf16> -> tensor<2x32x?x128xbf16>, tensor<2x32x?xf32>
func.func @softmax_everything(%q: tensor<2x32x?x128xbf16>, %k: tensor<2x8x?x128xbf16>, %v: tensor<2x8x?x128xbf16>,
                              %m: !sparse_attn.block_mask<1x1x?x?, block = 128x128>, %ql: tensor<2xi32>, %kl: tensor<2xi32>,
                              %b: tensor<32x64xbf16>) -> (tensor<2x32x?x128xbf16>, tensor<2x32x?xf32>) {
  %o, %lse = sparse_attn.attention softmax causal %q, %k, %v mask(%m : !sparse_attn.block_mask<1x1x?x?, block = 128x128>)
      query_lengths(%ql : tensor<2xi32>) key_lengths(%kl : tensor<2xi32>) bias(%b : tensor<32x64xbf16>) scale(0.125)
      : tensor<2x32x?x128xbf16>, tensor<2x8x?x128xbf16>, tensor<2x8x?x128xbf16> -> tensor<2x32x?x128xbf16>, tensor<2x32x?xf32>
  return %o, %lse : tensor<2x32x?x128xbf16>, tensor<2x32x?xf32>
}

// -----

// CHECK-LABEL: func.func @entmax_forms
// CHECK: sparse_attn.attention entmax<alpha = 1.5> causal
// CHECK: sparse_attn.attention entmax<alpha = 2.0>
// CHECK: sparse_attn.attention entmax<alpha = 1.25, iterations = 8>
func.func @entmax_forms(%q: tensor<?x?x?x64xf16>, %k: tensor<?x?x?x64xf16>, %v: tensor<?x?x?x32xf16>)
    -> (tensor<?x?x?x32xf16>, tensor<?x?x?xf32>, tensor<?x?x?x32xf16>, tensor<?x?x?x32xf16>) {
  %o, %tau = sparse_attn.attention entmax<alpha = 1.5> causal %q, %k, %v : tensor<?x?x?x64xf16>, tensor<?x?x?x64xf16>, tensor<?x?x?x32xf16> -> tensor<?x?x?x32xf16>, tensor<?x?x?xf32>
  %s = sparse_attn.attention entmax<alpha = 2.0> %q, %k, %v : tensor<?x?x?x64xf16>, tensor<?x?x?x64xf16>, tensor<?x?x?x32xf16> -> tensor<?x?x?x32xf16>
  %g = sparse_attn.attention entmax<alpha = 1.25, iterations = 8> %q, %k, %v : tensor<?x?x?x64xf16>, tensor<?x?x?x64xf16>, tensor<?x?x?x32xf16> -> tensor<?x?x?x32xf16>
  return %o, %tau, %s, %g : tensor<?x?x?x32xf16>, tensor<?x?x?xf32>, tensor<?x?x?x32xf16>, tensor<?x?x?x32xf16>
}

// -----

// CHECK-LABEL: func.func @elastic
// CHECK: sparse_attn.attention elastic_softmax causal %{{.*}}, %{{.*}}, %{{.*}} bias(%{{.*}} : tensor<8x65xf32>) tau(%{{.*}} : tensor<8xf32>) : tensor<1x8x256x64xf32>, tensor<1x2x256x64xf32>, tensor<1x2x256x64xf32> -> tensor<1x8x256x64xf32>, tensor<1x8x256xf32>
func.func @elastic(%q: tensor<1x8x256x64xf32>, %k: tensor<1x2x256x64xf32>, %b: tensor<8x65xf32>, %t: tensor<8xf32>)
    -> (tensor<1x8x256x64xf32>, tensor<1x8x256xf32>) {
  %o, %lse = sparse_attn.attention elastic_softmax causal %q, %k, %k bias(%b : tensor<8x65xf32>) tau(%t : tensor<8xf32>)
      : tensor<1x8x256x64xf32>, tensor<1x2x256x64xf32>, tensor<1x2x256x64xf32> -> tensor<1x8x256x64xf32>, tensor<1x8x256xf32>
  return %o, %lse : tensor<1x8x256x64xf32>, tensor<1x8x256xf32>
}

// -----

// CHECK-LABEL: func.func @row_entmax
// CHECK: sparse_attn.entmax %{{.*}} <alpha = 1.5> : tensor<4x16x1000xf32>
// CHECK: sparse_attn.entmax %{{.*}} <alpha = 3.0, iterations = 2> : tensor<?xbf16>
func.func @row_entmax(%x: tensor<4x16x1000xf32>, %y: tensor<?xbf16>) -> (tensor<4x16x1000xf32>, tensor<?xbf16>) {
  %p = sparse_attn.entmax %x <alpha = 1.5> : tensor<4x16x1000xf32>
  %r = sparse_attn.entmax %y <alpha = 3.0, iterations = 2> : tensor<?xbf16>
  return %p, %r : tensor<4x16x1000xf32>, tensor<?xbf16>
}

// -----

// CHECK-LABEL: func.func @mask_producers
// CHECK: sparse_attn.dense_mask() : !sparse_attn.block_mask<1x1x512x512, block = 128x128>
// CHECK: sparse_attn.causal_mask(%{{.*}}, %{{.*}}) : !sparse_attn.block_mask<1x1x?x?, block = 64x64>
// CHECK: sparse_attn.streaming_mask(%{{.*}}) sink(128) window(3968) : !sparse_attn.block_mask<1x1x?x8192, block = 128x128>
func.func @mask_producers(%n: index) {
  %d = sparse_attn.dense_mask() : !sparse_attn.block_mask<1x1x512x512, block = 128x128>
  %c = sparse_attn.causal_mask(%n, %n) : !sparse_attn.block_mask<1x1x?x?, block = 64x64>
  %s = sparse_attn.streaming_mask(%n) sink(128) window(3968) : !sparse_attn.block_mask<1x1x?x8192, block = 128x128>
  return
}

// -----

// CHECK-LABEL: func.func @from_and_to_indices
// CHECK: sparse_attn.mask_from_indices %{{.*}}, %{{.*}} () : tensor<1x8x4xi32>, tensor<1x8x4x4xi32> -> !sparse_attn.block_mask<1x8x512x512, block = 128x128>
// CHECK: sparse_attn.mask_from_indices %{{.*}}, %{{.*}} full(%{{.*}}, %{{.*}}) (%{{.*}}, %{{.*}}) : tensor<2x4x?xi32>, tensor<2x4x?x?xi32>, tensor<2x4x?xi32>, tensor<2x4x?x?xi32> -> !sparse_attn.block_mask<2x4x?x?, block = 64x64>
// CHECK: sparse_attn.mask_to_indices %{{.*}} : !sparse_attn.block_mask<1x8x512x512, block = 128x128> -> tensor<1x8x4xi32>, tensor<1x8x4x4xi32>, tensor<1x8x4xi32>, tensor<1x8x4x4xi32>
func.func @from_and_to_indices(%n: tensor<1x8x4xi32>, %i: tensor<1x8x4x4xi32>,
                               %dn: tensor<2x4x?xi32>, %di: tensor<2x4x?x?xi32>, %len: index)
    -> (tensor<1x8x4xi32>, tensor<1x8x4x4xi32>, tensor<1x8x4xi32>, tensor<1x8x4x4xi32>) {
  %m = sparse_attn.mask_from_indices %n, %i () : tensor<1x8x4xi32>, tensor<1x8x4x4xi32> -> !sparse_attn.block_mask<1x8x512x512, block = 128x128>
  %f = sparse_attn.mask_from_indices %dn, %di full(%dn, %di) (%len, %len) : tensor<2x4x?xi32>, tensor<2x4x?x?xi32>, tensor<2x4x?xi32>, tensor<2x4x?x?xi32> -> !sparse_attn.block_mask<2x4x?x?, block = 64x64>
  %a, %b, %c, %d = sparse_attn.mask_to_indices %m : !sparse_attn.block_mask<1x8x512x512, block = 128x128> -> tensor<1x8x4xi32>, tensor<1x8x4x4xi32>, tensor<1x8x4xi32>, tensor<1x8x4x4xi32>
  return %a, %b, %c, %d : tensor<1x8x4xi32>, tensor<1x8x4x4xi32>, tensor<1x8x4xi32>, tensor<1x8x4x4xi32>
}

// -----

// CHECK-LABEL: func.func @mask_algebra
// CHECK: sparse_attn.mask_union %{{.*}}, %{{.*}} : !sparse_attn.block_mask<1x1x?x?, block = 128x128>, !sparse_attn.block_mask<2x8x?x?, block = 128x128> -> !sparse_attn.block_mask<2x8x?x?, block = 128x128>
// CHECK: sparse_attn.mask_intersect %{{.*}}, %{{.*}} : !sparse_attn.block_mask<2x8x?x?, block = 128x128>, !sparse_attn.block_mask<1x1x?x?, block = 128x128> -> !sparse_attn.block_mask<2x8x?x?, block = 128x128>
func.func @mask_algebra(%a: !sparse_attn.block_mask<1x1x?x?, block = 128x128>, %b: !sparse_attn.block_mask<2x8x?x?, block = 128x128>)
    -> !sparse_attn.block_mask<2x8x?x?, block = 128x128> {
  %u = sparse_attn.mask_union %a, %b : !sparse_attn.block_mask<1x1x?x?, block = 128x128>, !sparse_attn.block_mask<2x8x?x?, block = 128x128> -> !sparse_attn.block_mask<2x8x?x?, block = 128x128>
  %i = sparse_attn.mask_intersect %u, %a : !sparse_attn.block_mask<2x8x?x?, block = 128x128>, !sparse_attn.block_mask<1x1x?x?, block = 128x128> -> !sparse_attn.block_mask<2x8x?x?, block = 128x128>
  return %i : !sparse_attn.block_mask<2x8x?x?, block = 128x128>
}

// -----

// CHECK-LABEL: func.func @estimators
// CHECK: sparse_attn.xattention_mask causal %{{.*}}, %{{.*}} : tensor<2x8x?x64xbf16>, tensor<2x2x?x64xbf16> -> !sparse_attn.block_mask<2x8x?x?, block = 128x128>
// CHECK: sparse_attn.xattention_mask <stride = 16> %{{.*}}, %{{.*}} thresholds(%{{.*}} : tensor<8xf32>) query_lengths(%{{.*}} : tensor<2xi32>) key_lengths(%{{.*}} : tensor<2xi32>) scale(5.000000e-01) : tensor<2x8x?x64xbf16>, tensor<2x2x?x64xbf16> -> !sparse_attn.block_mask<2x8x?x?, block = 64x128>
// CHECK: sparse_attn.xattention_mask <stride = 4, threshold = 0.95> causal
// CHECK: sparse_attn.flexprefill_mask <gamma = 0.95, max_budget = 4096> %{{.*}}, %{{.*}} : tensor<2x8x?x64xbf16>, tensor<2x2x?x64xbf16> -> !sparse_attn.block_mask<2x8x?x?, block = 128x128>, tensor<2x8xi32>
// CHECK: sparse_attn.flexprefill_mask <tau = 0.2, min_budget = 0> %{{.*}}, %{{.*}} key_lengths(%{{.*}} : tensor<2xi32>) : tensor<2x8x?x64xbf16>, tensor<2x2x?x64xbf16> -> !sparse_attn.block_mask<2x8x?x?, block = 64x64>
// CHECK: sparse_attn.vertical_slash_mask <last_queries = 32, local = 10> %{{.*}}, %{{.*}} budgets(%{{.*}} : tensor<8x2xi32>) : tensor<2x8x?x64xbf16>, tensor<2x2x?x64xbf16> -> !sparse_attn.block_mask<2x8x?x?, block = 64x64>
// CHECK: sparse_attn.vertical_slash_mask %{{.*}}, %{{.*}} : tensor<2x8x?x64xbf16>, tensor<2x2x?x64xbf16> -> !sparse_attn.block_mask<2x8x?x?, block = 64x64>
func.func @estimators(%q: tensor<2x8x?x64xbf16>, %k: tensor<2x2x?x64xbf16>, %t: tensor<8xf32>, %len: tensor<2xi32>, %bud: tensor<8x2xi32>) {
  %a = sparse_attn.xattention_mask causal %q, %k : tensor<2x8x?x64xbf16>, tensor<2x2x?x64xbf16> -> !sparse_attn.block_mask<2x8x?x?, block = 128x128>
  %b = sparse_attn.xattention_mask <stride = 16> %q, %k thresholds(%t : tensor<8xf32>) query_lengths(%len : tensor<2xi32>) key_lengths(%len : tensor<2xi32>) scale(0.5) : tensor<2x8x?x64xbf16>, tensor<2x2x?x64xbf16> -> !sparse_attn.block_mask<2x8x?x?, block = 64x128>
  %c = sparse_attn.xattention_mask <threshold = 0.95, stride = 4> causal %q, %k : tensor<2x8x?x64xbf16>, tensor<2x2x?x64xbf16> -> !sparse_attn.block_mask<2x8x?x?, block = 128x128>
  %d, %p = sparse_attn.flexprefill_mask <gamma = 0.95, max_budget = 4096> %q, %k : tensor<2x8x?x64xbf16>, tensor<2x2x?x64xbf16> -> !sparse_attn.block_mask<2x8x?x?, block = 128x128>, tensor<2x8xi32>
  %e = sparse_attn.flexprefill_mask <tau = 0.2, min_budget = 0> %q, %k key_lengths(%len : tensor<2xi32>) : tensor<2x8x?x64xbf16>, tensor<2x2x?x64xbf16> -> !sparse_attn.block_mask<2x8x?x?, block = 64x64>
  %f = sparse_attn.vertical_slash_mask <last_queries = 32, local = 10> %q, %k budgets(%bud : tensor<8x2xi32>) : tensor<2x8x?x64xbf16>, tensor<2x2x?x64xbf16> -> !sparse_attn.block_mask<2x8x?x?, block = 64x64>
  %g = sparse_attn.vertical_slash_mask <vertical_size = 1000, slash_size = 6096> %q, %k : tensor<2x8x?x64xbf16>, tensor<2x2x?x64xbf16> -> !sparse_attn.block_mask<2x8x?x?, block = 64x64>
  return
}

// -----

// CHECK-LABEL: func.func @select_blocks
// CHECK: sparse_attn.select_blocks xattention<stride = 16> causal %{{.*}}, %{{.*}} block(128, 128) : tensor<2x8x?x64xbf16>, tensor<2x2x?x64xbf16> -> tensor<2x8x?xi32>, tensor<2x8x?x?xi32>
// CHECK: sparse_attn.select_blocks xattention %{{.*}}, %{{.*}} thresholds(%{{.*}} : tensor<8xf32>) query_lengths(%{{.*}} : tensor<2xi32>) key_lengths(%{{.*}} : tensor<2xi32>) scale(5.000000e-01) block(64, 128) : tensor<2x8x?x64xbf16>, tensor<2x2x?x64xbf16> -> tensor<2x8x?xi32>, tensor<2x8x?x?xi32>
// CHECK: sparse_attn.select_blocks flexprefill<gamma = 0.95> causal %{{.*}}, %{{.*}} block(64, 64) : tensor<2x8x?x64xbf16>, tensor<2x2x?x64xbf16> -> tensor<2x8x?xi32>, tensor<2x8x?x?xi32>, tensor<2x8xi32>
func.func @select_blocks(%q: tensor<2x8x?x64xbf16>, %k: tensor<2x2x?x64xbf16>, %t: tensor<8xf32>, %len: tensor<2xi32>) {
  %n, %i = sparse_attn.select_blocks xattention<stride = 16> causal %q, %k block(128, 128) : tensor<2x8x?x64xbf16>, tensor<2x2x?x64xbf16> -> tensor<2x8x?xi32>, tensor<2x8x?x?xi32>
  %n2, %i2 = sparse_attn.select_blocks xattention %q, %k thresholds(%t : tensor<8xf32>) query_lengths(%len : tensor<2xi32>) key_lengths(%len : tensor<2xi32>) scale(0.5) block(64, 128) : tensor<2x8x?x64xbf16>, tensor<2x2x?x64xbf16> -> tensor<2x8x?xi32>, tensor<2x8x?x?xi32>
  %n3, %i3, %p = sparse_attn.select_blocks flexprefill<gamma = 0.95> causal %q, %k block(64, 64) : tensor<2x8x?x64xbf16>, tensor<2x2x?x64xbf16> -> tensor<2x8x?xi32>, tensor<2x8x?x?xi32>, tensor<2x8xi32>
  return
}

// -----

// CHECK-LABEL: func.func @route_heads
// CHECK: sparse_attn.mask_route_heads %{{.*}} streaming(%{{.*}} : !sparse_attn.block_mask<1x1x?x?, block = 64x64>) masks(%{{.*}}, %{{.*}} : !sparse_attn.block_mask<1x32x?x?, block = 64x64>, !sparse_attn.block_mask<1x1x?x?, block = 64x64>) (%{{.*}}, %{{.*}}) : tensor<32xi32> -> !sparse_attn.block_mask<1x32x?x?, block = 64x64>
// CHECK: sparse_attn.mask_route_heads %{{.*}} () : tensor<4xi32> -> !sparse_attn.block_mask<2x4x100x100, block = 16x16>
func.func @route_heads(%kinds: tensor<32xi32>, %four: tensor<4xi32>, %s: !sparse_attn.block_mask<1x1x?x?, block = 64x64>,
                       %bs: !sparse_attn.block_mask<1x32x?x?, block = 64x64>, %vs: !sparse_attn.block_mask<1x1x?x?, block = 64x64>, %n: index) {
  %m = sparse_attn.mask_route_heads %kinds streaming(%s : !sparse_attn.block_mask<1x1x?x?, block = 64x64>)
      masks(%bs, %vs : !sparse_attn.block_mask<1x32x?x?, block = 64x64>, !sparse_attn.block_mask<1x1x?x?, block = 64x64>)
      (%n, %n) : tensor<32xi32> -> !sparse_attn.block_mask<1x32x?x?, block = 64x64>
  %d = sparse_attn.mask_route_heads %four () : tensor<4xi32> -> !sparse_attn.block_mask<2x4x100x100, block = 16x16>
  return
}

// -----

// CHECK-LABEL: func.func @prefill
// CHECK: sparse_attn.prefill xattention<threshold = 0.95> causal %{{.*}}, %{{.*}}, %{{.*}} : tensor<1x32x?x128xbf16>, tensor<1x8x?x128xbf16>, tensor<1x8x?x128xbf16> -> tensor<1x32x?x128xbf16>
// CHECK: sparse_attn.prefill xattention causal %{{.*}}, %{{.*}}, %{{.*}} thresholds(%{{.*}} : tensor<32xf32>) query_lengths(%{{.*}} : tensor<1xi32>) key_lengths(%{{.*}} : tensor<1xi32>) scale(1.250000e-01) block(64) : tensor<1x32x?x128xbf16>, tensor<1x8x?x128xbf16>, tensor<1x8x?x128xbf16> -> tensor<1x32x?x128xbf16>, tensor<1x32x?xf32>
// CHECK: sparse_attn.prefill flexprefill<gamma = 0.95> causal %{{.*}}, %{{.*}}, %{{.*}} block(64)
// CHECK: sparse_attn.prefill minference causal %{{.*}}, %{{.*}}, %{{.*}} mask(%{{.*}} : !sparse_attn.block_mask<1x32x?x?, block = 64x64>) budgets(%{{.*}} : tensor<32x2xi32>)
// CHECK: sparse_attn.prefill full causal %{{.*}}, %{{.*}}, %{{.*}} :
func.func @prefill(%q: tensor<1x32x?x128xbf16>, %k: tensor<1x8x?x128xbf16>, %v: tensor<1x8x?x128xbf16>, %t: tensor<32xf32>,
                   %len: tensor<1xi32>, %b: tensor<32x2xi32>, %m: !sparse_attn.block_mask<1x32x?x?, block = 64x64>) {
  %x = sparse_attn.prefill xattention<threshold = 0.95> causal %q, %k, %v : tensor<1x32x?x128xbf16>, tensor<1x8x?x128xbf16>, tensor<1x8x?x128xbf16> -> tensor<1x32x?x128xbf16>
  %y, %lse = sparse_attn.prefill xattention causal %q, %k, %v thresholds(%t : tensor<32xf32>) query_lengths(%len : tensor<1xi32>) key_lengths(%len : tensor<1xi32>) scale(0.125) block(64)
      : tensor<1x32x?x128xbf16>, tensor<1x8x?x128xbf16>, tensor<1x8x?x128xbf16> -> tensor<1x32x?x128xbf16>, tensor<1x32x?xf32>
  %f = sparse_attn.prefill flexprefill<gamma = 0.95> causal %q, %k, %v block(64) : tensor<1x32x?x128xbf16>, tensor<1x8x?x128xbf16>, tensor<1x8x?x128xbf16> -> tensor<1x32x?x128xbf16>
  %n = sparse_attn.prefill minference causal %q, %k, %v mask(%m : !sparse_attn.block_mask<1x32x?x?, block = 64x64>) budgets(%b : tensor<32x2xi32>)
      : tensor<1x32x?x128xbf16>, tensor<1x8x?x128xbf16>, tensor<1x8x?x128xbf16> -> tensor<1x32x?x128xbf16>
  %d = sparse_attn.prefill full causal %q, %k, %v : tensor<1x32x?x128xbf16>, tensor<1x8x?x128xbf16>, tensor<1x8x?x128xbf16> -> tensor<1x32x?x128xbf16>
  return
}

// -----

// Method configurations print the parameters that differ from the defaults.
// CHECK-LABEL: func.func private @method_configurations
// CHECK-SAME: configs = [#sparse_attn.xattention, #sparse_attn.xattention, #sparse_attn.xattention<stride = 16, threshold = 0.8>, #sparse_attn.flexprefill, #sparse_attn.flexprefill<gamma = 0.95, tau = 0.0, min_budget = 0, max_budget = 1>, #sparse_attn.minference, #sparse_attn.minference<vertical_size = 0, slash_size = 0, last_queries = 1, sink = 0, local = 0>, #sparse_attn.full]
func.func private @method_configurations() attributes {configs = [#sparse_attn.xattention, #sparse_attn.xattention<threshold = 0.9, stride = 8>, #sparse_attn.xattention<threshold = 0.8, stride = 16>, #sparse_attn.flexprefill<>, #sparse_attn.flexprefill<max_budget = 1, min_budget = 0, tau = 0.0, gamma = 0.95>, #sparse_attn.minference, #sparse_attn.minference<local = 0, sink = 0, last_queries = 1, slash_size = 0, vertical_size = 0>, #sparse_attn.full]}

// -----

// The generic form of every attribute reads back.
// CHECK-LABEL: func.func @generic_syntax
// CHECK: sparse_attn.streaming_mask() sink(4) window(16)
// CHECK: sparse_attn.attention entmax<alpha = 1.5, iterations = 3> causal %{{.*}}, %{{.*}}, %{{.*}} mask(%{{.*}} : !sparse_attn.block_mask<1x1x64x64, block = 64x64>) scale(5.000000e-01)
func.func @generic_syntax(%q: tensor<1x1x64x16xf32>) -> tensor<1x1x64x16xf32> {
  %m = "sparse_attn.streaming_mask"() <{sink = 4 : i64, window = 16 : i64}> : () -> !sparse_attn.block_mask<1x1x64x64, block = 64x64>
  %o = "sparse_attn.attention"(%q, %q, %q, %m) <{causal, normalizer = #sparse_attn.entmax<alpha = 1.5, iterations = 3>, operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 0, 0, 0>, scale = 5.000000e-01 : f32}> : (tensor<1x1x64x16xf32>, tensor<1x1x64x16xf32>, tensor<1x1x64x16xf32>, !sparse_attn.block_mask<1x1x64x64, block = 64x64>) -> tensor<1x1x64x16xf32>
  return %o : tensor<1x1x64x16xf32>
}

// -----

// CHECK-LABEL: func.func private @attribute_forms
// CHECK-SAME: normalizers = [#sparse_attn.softmax, #sparse_attn.entmax<alpha = 1.5>, #sparse_attn.entmax<alpha = 1.0000001>, #sparse_attn.elastic_softmax]
func.func private @attribute_forms() attributes {normalizers = [#sparse_attn.softmax, #sparse_attn.entmax<alpha = 1.5>, #sparse_attn.entmax<alpha = 1.0000001>, #sparse_attn.elastic_softmax]}

// -----

// Tile-level ops (what sparse-attn-tile emits inside the grid).

// CHECK-LABEL: func.func @select_vertical_slash
// CHECK: sparse_attn.select_vertical_slash <vertical_size = 64, slash_size = 128> %{{.*}}, %{{.*}} : tensor<2x8x?x64xbf16>, tensor<2x2x?x64xbf16> -> tensor<2x8xi32>, tensor<2x8x?xi32>, tensor<2x8xi32>, tensor<2x8x?xi32>
// CHECK: sparse_attn.select_vertical_slash %{{.*}}, %{{.*}} budgets(%{{.*}} : tensor<8x2xi32>) query_lengths(%{{.*}} : tensor<2xi32>) key_lengths(%{{.*}} : tensor<2xi32>) scale(5.000000e-01) : tensor<2x8x?x64xbf16>, tensor<2x2x?x64xbf16> -> tensor<2x8xi32>, tensor<2x8x?xi32>, tensor<2x8xi32>, tensor<2x8x?xi32>
func.func @select_vertical_slash(%q: tensor<2x8x?x64xbf16>, %k: tensor<2x2x?x64xbf16>, %budgets: tensor<8x2xi32>, %len: tensor<2xi32>) {
  %nc, %c, %no, %o = sparse_attn.select_vertical_slash <vertical_size = 64, slash_size = 128> %q, %k : tensor<2x8x?x64xbf16>, tensor<2x2x?x64xbf16> -> tensor<2x8xi32>, tensor<2x8x?xi32>, tensor<2x8xi32>, tensor<2x8x?xi32>
  %nc2, %c2, %no2, %o2 = sparse_attn.select_vertical_slash %q, %k budgets(%budgets : tensor<8x2xi32>) query_lengths(%len : tensor<2xi32>) key_lengths(%len : tensor<2xi32>) scale(0.5) : tensor<2x8x?x64xbf16>, tensor<2x2x?x64xbf16> -> tensor<2x8xi32>, tensor<2x8x?xi32>, tensor<2x8xi32>, tensor<2x8x?xi32>
  return
}

// -----

// CHECK-LABEL: func.func @gather_tile
// CHECK: sparse_attn.gather_tile %{{.*}}[%{{.*}}, %{{.*}}] rows(%{{.*}}[%{{.*}}], %{{.*}}) : tensor<?x?x?x64xbf16>, tensor<?xi32> -> tensor<64x64xbf16>
func.func @gather_tile(%k: tensor<?x?x?x64xbf16>, %rows: tensor<?xi32>, %i: index) -> tensor<64x64xbf16> {
  %t = sparse_attn.gather_tile %k[%i, %i] rows(%rows[%i], %i) : tensor<?x?x?x64xbf16>, tensor<?xi32> -> tensor<64x64xbf16>
  return %t : tensor<64x64xbf16>
}

// -----

// CHECK-LABEL: func.func @tile_loads
// CHECK: sparse_attn.load_tile %{{.*}}[%{{.*}}, %{{.*}}, %{{.*}}] : tensor<?x?x?x64xbf16> -> tensor<64x64xbf16>
// CHECK: sparse_attn.load_score_chunk %{{.*}}[%{{.*}}, %{{.*}}] scale(5.000000e-01) : tensor<?x?xf16> -> tensor<8x128xf32>
func.func @tile_loads(%k: tensor<?x?x?x64xbf16>, %x: tensor<?x?xf16>, %i: index) -> (tensor<64x64xbf16>, tensor<8x128xf32>) {
  %t = sparse_attn.load_tile %k[%i, %i, %i] : tensor<?x?x?x64xbf16> -> tensor<64x64xbf16>
  %c = sparse_attn.load_score_chunk %x[%i, %i] scale(0.5) : tensor<?x?xf16> -> tensor<8x128xf32>
  return %t, %c : tensor<64x64xbf16>, tensor<8x128xf32>
}

// -----

// CHECK-LABEL: func.func @score_tiles
// CHECK: sparse_attn.score_tile %{{.*}}, %{{.*}} at [%{{.*}}, %{{.*}}] scale(1.250000e-01) : tensor<64x32xbf16>, tensor<128x32xbf16> -> tensor<64x128xf32>
// CHECK: sparse_attn.score_tile %{{.*}}, %{{.*}} at [%{{.*}}, %{{.*}}] scale(1.250000e-01) bias(%{{.*}}[%{{.*}}, %{{.*}}] : tensor<8x64xf32>) bias_scale(1.44269502) visible {
// CHECK: ^bb0(%[[I:.*]]: index, %[[J:.*]]: index):
// CHECK:   %[[V:.*]] = sparse_attn.mask_visible %{{.*}}[%{{.*}}, %{{.*}}, %[[I]], %[[J]]] : !sparse_attn.block_mask<1x1x?x?, block = 128x128>
// CHECK:   sparse_attn.yield %[[V]] : i1
// CHECK: } : tensor<64x32xbf16>, tensor<128x32xbf16> -> tensor<64x128xf32>
func.func @score_tiles(%q: tensor<64x32xbf16>, %k: tensor<128x32xbf16>, %b: tensor<8x64xf32>,
                       %m: !sparse_attn.block_mask<1x1x?x?, block = 128x128>, %x: index)
    -> (tensor<64x128xf32>, tensor<64x128xf32>) {
  %full = sparse_attn.score_tile %q, %k at [%x, %x] scale(0.125) : tensor<64x32xbf16>, tensor<128x32xbf16> -> tensor<64x128xf32>
  %part = sparse_attn.score_tile %q, %k at [%x, %x] scale(0.125) bias(%b[%x, %x] : tensor<8x64xf32>) bias_scale(1.44269502) visible {
  ^bb0(%i: index, %j: index):
    %v = sparse_attn.mask_visible %m[%x, %x, %i, %j] : !sparse_attn.block_mask<1x1x?x?, block = 128x128>
    sparse_attn.yield %v : i1
  } : tensor<64x32xbf16>, tensor<128x32xbf16> -> tensor<64x128xf32>
  return %full, %part : tensor<64x128xf32>, tensor<64x128xf32>
}

// -----

// CHECK-LABEL: func.func @index_rows
// CHECK: sparse_attn.index_row_contains %{{.*}}, %{{.*}}[%{{.*}}, %{{.*}}, %{{.*}}] block(%{{.*}}) : tensor<1x8x4xi32>, tensor<1x8x4x4xi32>
// CHECK: sparse_attn.index_row_contains %{{.*}}, %{{.*}}[%{{.*}}, %{{.*}}, %{{.*}}] block(%{{.*}}) limit(%{{.*}}) : tensor<?x?x?xi32>, tensor<?x?x?x?xi32>
func.func @index_rows(%n: tensor<1x8x4xi32>, %i: tensor<1x8x4x4xi32>, %dn: tensor<?x?x?xi32>, %di: tensor<?x?x?x?xi32>,
                      %x: index, %blk: i32) -> (i1, i1) {
  %a = sparse_attn.index_row_contains %n, %i[%x, %x, %x] block(%blk) : tensor<1x8x4xi32>, tensor<1x8x4x4xi32>
  %b = sparse_attn.index_row_contains %dn, %di[%x, %x, %x] block(%blk) limit(%x) : tensor<?x?x?xi32>, tensor<?x?x?x?xi32>
  return %a, %b : i1, i1
}

// -----

// CHECK-LABEL: func.func @softmax_steps
// CHECK: sparse_attn.online_softmax %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} : tensor<64x128xf32>, tensor<128x32xbf16>, tensor<64xf32>, tensor<64x32xf32>
// CHECK: sparse_attn.online_logsumexp %{{.*}}, %{{.*}}, %{{.*}} : tensor<64x128xf32>, tensor<64xf32>
// CHECK: sparse_attn.row_max %{{.*}}, %{{.*}}, %{{.*}} : tensor<64x128xf32>, tensor<64xf32>
// CHECK: sparse_attn.elastic_accumulate %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} shift(%{{.*}}, %{{.*}}) : tensor<64x128xf32>, tensor<128x32xbf16>, tensor<64xf32>, tensor<64x32xf32>
// CHECK: sparse_attn.elastic_tile_live %{{.*}}, %{{.*}}, %{{.*}} shift(%{{.*}}, %{{.*}}) : tensor<64xf32>
// CHECK: sparse_attn.softmax_finalize %{{.*}}, %{{.*}}, %{{.*}} rows(%{{.*}}) : tensor<64xf32>, tensor<64x32xf32> -> tensor<64x32xbf16>
// CHECK: sparse_attn.softmax_finalize %{{.*}}, %{{.*}}, %{{.*}} rows(%{{.*}}) unnormalized : tensor<64xf32>, tensor<64x32xf32> -> tensor<64x32xf32>
func.func @softmax_steps(%s: tensor<64x128xf32>, %v: tensor<128x32xbf16>, %m: tensor<64xf32>, %l: tensor<64xf32>,
                         %acc: tensor<64x32xf32>, %tau: f32, %x: index)
    -> (tensor<64xf32>, tensor<64xf32>, tensor<64x32xf32>, tensor<64xf32>, tensor<64xf32>, tensor<64xf32>, tensor<64xf32>,
        tensor<64x32xf32>, i1, tensor<64x32xbf16>, tensor<64xf32>, tensor<64x32xf32>, tensor<64xf32>) {
  %m1, %l1, %acc1 = sparse_attn.online_softmax %s, %v, %m, %l, %acc : tensor<64x128xf32>, tensor<128x32xbf16>, tensor<64xf32>, tensor<64x32xf32>
  %m2, %l2 = sparse_attn.online_logsumexp %s, %m, %l : tensor<64x128xf32>, tensor<64xf32>
  %m3, %n3 = sparse_attn.row_max %s, %m, %l : tensor<64x128xf32>, tensor<64xf32>
  %acc4 = sparse_attn.elastic_accumulate %s, %v, %m, %l, %acc shift(%tau, %x) : tensor<64x128xf32>, tensor<128x32xbf16>, tensor<64xf32>, tensor<64x32xf32>
  %live = sparse_attn.elastic_tile_live %m, %m, %l shift(%tau, %x) : tensor<64xf32>
  %o, %lse = sparse_attn.softmax_finalize %m, %l, %acc rows(%x) : tensor<64xf32>, tensor<64x32xf32> -> tensor<64x32xbf16>
  %o2, %lse2 = sparse_attn.softmax_finalize %m, %l, %acc rows(%x) unnormalized : tensor<64xf32>, tensor<64x32xf32> -> tensor<64x32xf32>
  return %m1, %l1, %acc1, %m2, %l2, %m3, %n3, %acc4, %live, %o, %lse, %o2, %lse2
      : tensor<64xf32>, tensor<64xf32>, tensor<64x32xf32>, tensor<64xf32>, tensor<64xf32>, tensor<64xf32>, tensor<64xf32>,
        tensor<64x32xf32>, i1, tensor<64x32xbf16>, tensor<64xf32>, tensor<64x32xf32>, tensor<64xf32>
}

// -----

// CHECK-LABEL: func.func @entmax_steps
// CHECK: sparse_attn.entmax_histogram %{{.*}}, %{{.*}}, %{{.*}} : tensor<64x128xf32>, tensor<64xf32>, tensor<64x8xi32>
// CHECK: sparse_attn.entmax_threshold_init <alpha = 1.5> %{{.*}}, %{{.*}} histogram(%{{.*}} : tensor<64x8xi32>) : tensor<64xf32>
// CHECK: sparse_attn.entmax_threshold_init <alpha = 1.25> %{{.*}}, %{{.*}} : tensor<64xf32>
// CHECK: sparse_attn.entmax_moments <alpha = 1.5> %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} : tensor<64x128xf32>, tensor<64xf32>
// CHECK: sparse_attn.entries_between %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} : tensor<64x128xf32>, tensor<64xf32>, tensor<64x17xi32>
// CHECK: sparse_attn.entmax_threshold_step <alpha = 1.5> %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} gap(%{{.*}} : tensor<64x17xi32>) : tensor<64xf32>
// CHECK: sparse_attn.any_above %{{.*}}, %{{.*}} : tensor<64x128xf32>, tensor<64xf32>
// CHECK: sparse_attn.entmax_accumulate <alpha = 2.0> %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} : tensor<64x128xf32>, tensor<128x32xf16>, tensor<64xf32>, tensor<64x32xf32>
// CHECK: sparse_attn.entmax_finalize %{{.*}}, %{{.*}}, %{{.*}} rows(%{{.*}}) : tensor<64xf32>, tensor<64x32xf32> -> tensor<64x32xf16>
// CHECK: sparse_attn.entmax_weights <alpha = 1.5> %{{.*}}, %{{.*}}, %{{.*}} : tensor<64x128xf32>, tensor<64xf32> -> tensor<64x128xbf16>
func.func @entmax_steps(%x: tensor<64x128xf32>, %v: tensor<128x32xf16>, %r: tensor<64xf32>, %h: tensor<64x8xi32>,
                        %g: tensor<64x17xi32>, %acc: tensor<64x32xf32>, %n: index) {
  %h1 = sparse_attn.entmax_histogram %x, %r, %h : tensor<64x128xf32>, tensor<64xf32>, tensor<64x8xi32>
  %t0, %lo0, %hi0 = sparse_attn.entmax_threshold_init <alpha = 1.5> %r, %r histogram(%h1 : tensor<64x8xi32>) : tensor<64xf32>
  %t1, %lo1, %hi1 = sparse_attn.entmax_threshold_init <alpha = 1.25> %r, %r : tensor<64xf32>
  %s0, %s1, %s2 = sparse_attn.entmax_moments <alpha = 1.5> %x, %t0, %r, %r, %r : tensor<64x128xf32>, tensor<64xf32>
  %g1 = sparse_attn.entries_between %x, %t0, %hi0, %g : tensor<64x128xf32>, tensor<64xf32>, tensor<64x17xi32>
  %t2, %lo2, %hi2, %done = sparse_attn.entmax_threshold_step <alpha = 1.5> %t0, %lo0, %hi0, %s0, %s1, %s2 gap(%g1 : tensor<64x17xi32>) : tensor<64xf32>
  %hit = sparse_attn.any_above %x, %lo2 : tensor<64x128xf32>, tensor<64xf32>
  %acc1, %l1 = sparse_attn.entmax_accumulate <alpha = 2.0> %x, %v, %t2, %acc, %r : tensor<64x128xf32>, tensor<128x32xf16>, tensor<64xf32>, tensor<64x32xf32>
  %o, %tau = sparse_attn.entmax_finalize %t2, %l1, %acc1 rows(%n) : tensor<64xf32>, tensor<64x32xf32> -> tensor<64x32xf16>
  %p = sparse_attn.entmax_weights <alpha = 1.5> %x, %t2, %r : tensor<64x128xf32>, tensor<64xf32> -> tensor<64x128xbf16>
  return
}
