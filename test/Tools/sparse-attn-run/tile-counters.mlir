// The tiled pipelines report what the compiled code counted: key tiles
// visited against all key tiles (overall and per head), tiles that needed no
// elementwise mask, passes over K and solver iterations per query tile.
// RUN: sparse-attn-run %s --entry=causal_softmax | FileCheck %s --check-prefix=CAUSAL
// RUN: sparse-attn-run %s --entry=streaming_softmax --pipeline=cpu-tile128 | FileCheck %s --check-prefix=STREAMING
// RUN: sparse-attn-run %s --entry=entmax | FileCheck %s --check-prefix=ENTMAX
// RUN: sparse-attn-run %s --entry=vertical_slash | FileCheck %s --check-prefix=VSLASH
// RUN: sparse-attn-run %s --entry=causal_softmax --pipeline=reference | FileCheck %s --check-prefix=REFERENCE

// 8 query tiles x 8 key tiles of 64 per head: the causal triangle holds 36
// tiles, 28 of them below the diagonal.
// CAUSAL: tiles #0 (softmax attention): visited 72 of 128 key tiles (56.2%), 56 without elementwise mask; passes over K per query tile 1.00; solver iterations per query tile 0.00
// CAUSAL-NEXT: tiles #0 per head: h0 36/64 h1 36/64
func.func @causal_softmax(%q: tensor<1x2x512x16xf32>) -> tensor<1x2x512x16xf32> {
  %o = sparse_attn.attention softmax causal %q, %q, %q
      : tensor<1x2x512x16xf32>, tensor<1x2x512x16xf32>, tensor<1x2x512x16xf32> -> tensor<1x2x512x16xf32>
  return %o : tensor<1x2x512x16xf32>
}

// 128-tiles, sink 128 and window 128: query tile I sees key tiles 0, I-1
// and I (tile 0 only itself, tile 1 two): 1 + 2 + 3 * 6 = 21 of 64.
// STREAMING: tiles #0 (softmax attention): visited 21 of 64 key tiles (32.8%)
// STREAMING-NEXT: tiles #0 per head: h0 21/64
func.func @streaming_softmax(%q: tensor<1x1x1024x16xf32>) -> tensor<1x1x1024x16xf32> {
  %m = sparse_attn.streaming_mask() sink(128) window(128) : !sparse_attn.block_mask<1x1x1024x1024, block = 128x128>
  %o = sparse_attn.attention softmax %q, %q, %q mask(%m : !sparse_attn.block_mask<1x1x1024x1024, block = 128x128>)
      : tensor<1x1x1024x16xf32>, tensor<1x1x1024x16xf32>, tensor<1x1x1024x16xf32> -> tensor<1x1x1024x16xf32>
  return %o : tensor<1x1x1024x16xf32>
}

// Entmax runs its solver: at least one iteration per query tile and more
// than the single pass of softmax over K.
// ENTMAX: tiles #0 (entmax attention): visited {{[0-9]+}} of 16 key tiles
// ENTMAX-SAME: passes over K per query tile {{[3-9]|[1-9][0-9]}}.{{[0-9]+}}; solver iterations per query tile {{[1-9][0-9]*}}.{{[0-9]+}}
func.func @entmax(%q: tensor<1x1x256x16xf32>) -> tensor<1x1x256x16xf32> {
  %o = sparse_attn.attention entmax<alpha = 1.5> %q, %q, %q
      : tensor<1x1x256x16xf32>, tensor<1x1x256x16xf32>, tensor<1x1x256x16xf32> -> tensor<1x1x256x16xf32>
  return %o : tensor<1x1x256x16xf32>
}

// Vertical-slash executed as ranges plus gathered columns, with budgets
// equal to the forced sets (columns [0, 64), offsets [0, 64)) so that the
// selection does not depend on the data. Query tile I's diagonals reach keys
// [64 I - 63, 64 I + 63]: one range, walked in 1 (I = 0) or 2 key tiles
// from its start, all partial; the columns before it are gathered in one
// tile (I >= 1), full from I = 2 on (64 columns, all before the tile's
// first position). Per head 1 + 7 * 2 + 7 = 22 of 64 tiles, 6 full; one
// pass over K.
// VSLASH: tiles #0 (softmax attention): visited 44 of 128 key tiles (34.4%), 12 without elementwise mask; passes over K per query tile 1.00; solver iterations per query tile 0.00
// VSLASH-NEXT: tiles #0 per head: h0 22/64 h1 22/64
func.func @vertical_slash(%q: tensor<1x2x512x16xf32>) -> tensor<1x2x512x16xf32> {
  %m = sparse_attn.vertical_slash_mask <vertical_size = 64, slash_size = 64, sink = 64, local = 64> %q, %q
      : tensor<1x2x512x16xf32>, tensor<1x2x512x16xf32> -> !sparse_attn.block_mask<1x2x512x512, block = 64x64>
  %o = sparse_attn.attention softmax causal %q, %q, %q mask(%m : !sparse_attn.block_mask<1x2x512x512, block = 64x64>)
      : tensor<1x2x512x16xf32>, tensor<1x2x512x16xf32>, tensor<1x2x512x16xf32> -> tensor<1x2x512x16xf32>
  return %o : tensor<1x2x512x16xf32>
}

// The reference lowering is not tiled: nothing to count.
// REFERENCE-NOT: tiles #
