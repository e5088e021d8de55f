// RUN: sparse-attn-opt %s -split-input-file --sparse-attn-to-gpu -verify-diagnostics

// Tiled IR written by hand (sparse-attn-tile never builds it): the shapes of
// it that the GPU lowering refuses.

// Histograms are updated in place in shared memory: one starting constant
// cannot start two of them.
func.func @shared_histogram_start(%q: tensor<1x1x128x64xbf16>) -> tensor<1x1x128x64xbf16> {
  %c0 = arith.constant 0 : index
  %scores = arith.constant dense<0.0> : tensor<128x64xf32>
  %max = arith.constant dense<0.0> : tensor<128xf32>
  // expected-error@+1 {{starts more than one entmax histogram; the GPU lowering updates each in place}}
  %empty = arith.constant dense<0.0> : tensor<128x8x3xf32>
  %init = tensor.empty() : tensor<1x1x128x64xbf16>
  %r = scf.forall (%i) in (1) shared_outs(%out = %init) -> (tensor<1x1x128x64xbf16>) {
    %t = sparse_attn.load_tile %q[%c0, %c0, %c0] : tensor<1x1x128x64xbf16> -> tensor<128x64xbf16>
    %a = sparse_attn.entmax_histogram %scores, %max, %empty
        : tensor<128x64xf32>, tensor<128xf32>, tensor<128x8x3xf32>
    %b = sparse_attn.entmax_histogram %scores, %max, %empty
        : tensor<128x64xf32>, tensor<128xf32>, tensor<128x8x3xf32>
    scf.forall.in_parallel {}
  } {sparse_attn.grid = "attention"}
  return %r : tensor<1x1x128x64xbf16>
}

// -----

// ... nor may a histogram be read after another op has updated it.
func.func @histogram_read_twice(%q: tensor<1x1x128x64xbf16>) -> tensor<1x1x128x64xbf16> {
  %c0 = arith.constant 0 : index
  %scores = arith.constant dense<0.0> : tensor<128x64xf32>
  %max = arith.constant dense<0.0> : tensor<128xf32>
  %empty = arith.constant dense<0.0> : tensor<128x8x3xf32>
  %init = tensor.empty() : tensor<1x1x128x64xbf16>
  %r = scf.forall (%i) in (1) shared_outs(%out = %init) -> (tensor<1x1x128x64xbf16>) {
    %t = sparse_attn.load_tile %q[%c0, %c0, %c0] : tensor<1x1x128x64xbf16> -> tensor<128x64xbf16>
    %h = sparse_attn.entmax_histogram %scores, %max, %empty
        : tensor<128x64xf32>, tensor<128xf32>, tensor<128x8x3xf32>
    // expected-error@+1 {{reads a histogram that another op also reads; the GPU lowering updates histograms in place}}
    %h2 = sparse_attn.entmax_histogram %scores, %max, %h
        : tensor<128x64xf32>, tensor<128xf32>, tensor<128x8x3xf32>
    %tau, %lo, %hi = sparse_attn.entmax_threshold_init <alpha = 1.5> %max, %max
        histogram(%h : tensor<128x8x3xf32>) : tensor<128xf32>
    scf.forall.in_parallel {}
  } {sparse_attn.grid = "attention"}
  return %r : tensor<1x1x128x64xbf16>
}
