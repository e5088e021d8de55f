// RUN: sparse-attn-opt %s -split-input-file --sparse-attn-tile \
// RUN:   --sparse-attn-skip-blocks --sparse-attn-fuse --canonicalize \
// RUN:   --sparse-attn-to-gpu -verify-diagnostics

// One kernel per function: a second grid has no place.
// expected-error@+1 {{must hold exactly one tiled grid at its top level to become a kernel}}
func.func @two_grids(%q: tensor<1x2x128x64xbf16>)
    -> (tensor<1x2x128x64xbf16>, tensor<1x2x128x64xbf16>) {
  %o = sparse_attn.attention softmax %q, %q, %q
      : tensor<1x2x128x64xbf16>, tensor<1x2x128x64xbf16>, tensor<1x2x128x64xbf16>
      -> tensor<1x2x128x64xbf16>
  %p = sparse_attn.attention softmax causal %q, %q, %q
      : tensor<1x2x128x64xbf16>, tensor<1x2x128x64xbf16>, tensor<1x2x128x64xbf16>
      -> tensor<1x2x128x64xbf16>
  return %o, %p : tensor<1x2x128x64xbf16>, tensor<1x2x128x64xbf16>
}

