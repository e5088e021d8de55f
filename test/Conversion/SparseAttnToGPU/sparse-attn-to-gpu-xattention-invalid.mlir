// RUN: sparse-attn-opt %s -split-input-file --sparse-attn-to-gpu -verify-diagnostics

// FlexPrefill's selection has no kernel yet: reported, not dropped.
func.func @flexprefill(%q: tensor<1x2x?x64xbf16>, %k: tensor<1x2x?x64xbf16>)
    -> (tensor<1x2x?xi32>, tensor<1x2x?x?xi32>) {
  // expected-error@+1 {{selects FlexPrefill blocks, which have no GPU lowering yet}}
  %n, %i = sparse_attn.select_blocks flexprefill causal %q, %k block(128, 128)
      : tensor<1x2x?x64xbf16>, tensor<1x2x?x64xbf16> -> tensor<1x2x?xi32>, tensor<1x2x?x?xi32>
  return %n, %i : tensor<1x2x?xi32>, tensor<1x2x?x?xi32>
}

// -----

func.func @lengths(%q: tensor<1x2x?x64xbf16>, %k: tensor<1x2x?x64xbf16>,
                   %l: tensor<1xi32>) -> (tensor<1x2x?xi32>, tensor<1x2x?x?xi32>) {
  // expected-error@+1 {{with query or key lengths has no GPU lowering yet}}
  %n, %i = sparse_attn.select_blocks xattention causal %q, %k key_lengths(%l : tensor<1xi32>) block(128, 128)
      : tensor<1x2x?x64xbf16>, tensor<1x2x?x64xbf16> -> tensor<1x2x?xi32>, tensor<1x2x?x?xi32>
  return %n, %i : tensor<1x2x?xi32>, tensor<1x2x?x?xi32>
}

// -----

// The kernel writes exactly the function's results.
func.func @not_returned(%q: tensor<1x2x?x64xbf16>, %k: tensor<1x2x?x64xbf16>)
    -> tensor<1x2x?xi32> {
  // expected-error@+1 {{must be its function's only op, read the function's arguments and be returned by it to become a kernel}}
  %n, %i = sparse_attn.select_blocks xattention %q, %k block(128, 128)
      : tensor<1x2x?x64xbf16>, tensor<1x2x?x64xbf16> -> tensor<1x2x?xi32>, tensor<1x2x?x?xi32>
  return %n : tensor<1x2x?xi32>
}

// -----

func.func @swapped(%k: tensor<1x2x?x64xbf16>, %q: tensor<1x2x?x64xbf16>)
    -> (tensor<1x2x?xi32>, tensor<1x2x?x?xi32>) {
  // expected-error@+1 {{must read the function's arguments in its operands' order (query, key, thresholds)}}
  %n, %i = sparse_attn.select_blocks xattention %q, %k block(128, 128)
      : tensor<1x2x?x64xbf16>, tensor<1x2x?x64xbf16> -> tensor<1x2x?xi32>, tensor<1x2x?x?xi32>
  return %n, %i : tensor<1x2x?xi32>, tensor<1x2x?x?xi32>
}

// -----

func.func @f32(%q: tensor<1x2x?x64xf32>, %k: tensor<1x2x?x64xf32>)
    -> (tensor<1x2x?xi32>, tensor<1x2x?x?xi32>) {
  // expected-error@+1 {{reads 'f32' tensors; the GPU lowering takes bf16 and f16}}
  %n, %i = sparse_attn.select_blocks xattention %q, %k block(128, 128)
      : tensor<1x2x?x64xf32>, tensor<1x2x?x64xf32> -> tensor<1x2x?xi32>, tensor<1x2x?x?xi32>
  return %n, %i : tensor<1x2x?xi32>, tensor<1x2x?x?xi32>
}

// -----

// Stride 4 on 128 x 128 blocks: 32 x 32 scores per block pair, more than
// the CTA's threads.
func.func @too_many_scores(%q: tensor<1x2x?x64xbf16>, %k: tensor<1x2x?x64xbf16>)
    -> (tensor<1x2x?xi32>, tensor<1x2x?x?xi32>) {
  // expected-error@+1 {{scores 32 x 32 strided groups per block pair; the GPU lowering needs a power of two of at most 256, at least 8 query groups and a stride divisible by the threads per score}}
  %n, %i = sparse_attn.select_blocks xattention<stride = 4> %q, %k block(128, 128)
      : tensor<1x2x?x64xbf16>, tensor<1x2x?x64xbf16> -> tensor<1x2x?xi32>, tensor<1x2x?x?xi32>
  return %n, %i : tensor<1x2x?xi32>, tensor<1x2x?x?xi32>
}

// -----

// Stride 16 on 64-row query blocks: 4 query groups, whose statistics would
// have to merge across warps.
func.func @too_few_query_groups(%q: tensor<1x2x?x64xbf16>, %k: tensor<1x2x?x64xbf16>)
    -> (tensor<1x2x?xi32>, tensor<1x2x?x?xi32>) {
  // expected-error@+1 {{scores 4 x 8 strided groups per block pair}}
  %n, %i = sparse_attn.select_blocks xattention<stride = 16> %q, %k block(64, 128)
      : tensor<1x2x?x64xbf16>, tensor<1x2x?x64xbf16> -> tensor<1x2x?xi32>, tensor<1x2x?x?xi32>
  return %n, %i : tensor<1x2x?xi32>, tensor<1x2x?x?xi32>
}
