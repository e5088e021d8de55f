// RUN: sparse-attn-opt %s --sparse-attn-tile="query-tile=64 key-tile=64" \
// RUN:   --canonicalize --sparse-attn-to-gpu="warps=3" -verify-diagnostics

// The query tile's rows must split evenly into 16-row m-tiles per warp.
func.func @uneven(%q: tensor<1x2x128x64xbf16>) -> tensor<1x2x128x64xbf16> {
  // expected-error@+1 {{has query tiles of 64 rows, which 3 warps cannot share in m-tiles of 16 rows}}
  %o = sparse_attn.attention softmax %q, %q, %q
      : tensor<1x2x128x64xbf16>, tensor<1x2x128x64xbf16>, tensor<1x2x128x64xbf16>
      -> tensor<1x2x128x64xbf16>
  return %o : tensor<1x2x128x64xbf16>
}
