// RUN: sparse-attn-opt %s -split-input-file -verify-diagnostics

// expected-error @+1 {{block mask needs 4 extents (batch, heads, query length, key length), got 3}}
func.func private @mask_rank(!sparse_attn.block_mask<1x128x128, block = 128x128>)

// -----

// expected-error @+1 {{block mask extents must be positive or dynamic}}
func.func private @mask_zero_extent(!sparse_attn.block_mask<1x0x128x128, block = 128x128>)

// -----

// expected-error @+1 {{block sizes must be positive powers of two, got 100x128}}
func.func private @mask_block_not_power_of_two(!sparse_attn.block_mask<1x1x128x128, block = 100x128>)

// -----

// expected-error @+1 {{block sizes must be positive powers of two, got 0x128}}
func.func private @mask_block_zero(!sparse_attn.block_mask<1x1x128x128, block = 0x128>)

// -----

// expected-error @+1 {{expected two block sizes (query x key)}}
func.func private @mask_one_block_size(!sparse_attn.block_mask<1x1x128x128, block = 128>)

// -----

// expected-error @+1 {{entmax alpha must be a finite number greater than 1 (alpha = 1 is softmax), got 1.0}}
func.func private @entmax_alpha_one() attributes {n = #sparse_attn.entmax<alpha = 1.0>}

// -----

// expected-error @+1 {{entmax alpha must be a finite number greater than 1 (alpha = 1 is softmax), got 0.5}}
func.func private @entmax_alpha_below_one() attributes {n = #sparse_attn.entmax<alpha = 0.5>}

// -----

// expected-error @+1 {{entmax solver iterations must be positive, got 0}}
func.func private @entmax_zero_iterations() attributes {n = #sparse_attn.entmax<alpha = 1.5, iterations = 0>}

// -----

func.func @unknown_normalizer(%q: tensor<1x1x8x16xf32>) -> tensor<1x1x8x16xf32> {
  // expected-error @+1 {{expected a normalizer (softmax, entmax<alpha = ...> or elastic_softmax), got 'relu'}}
  %o = sparse_attn.attention relu %q, %q, %q : tensor<1x1x8x16xf32>, tensor<1x1x8x16xf32>, tensor<1x1x8x16xf32> -> tensor<1x1x8x16xf32>
  return %o : tensor<1x1x8x16xf32>
}

// -----

func.func @query_rank(%q: tensor<1x8x16xf32>, %k: tensor<1x1x8x16xf32>) -> tensor<1x1x8x16xf32> {
  // expected-error @+1 {{operand #0 must be 4D tensor of bfloat16 type or 16-bit float or 32-bit float values, but got 'tensor<1x8x16xf32>'}}
  %o = sparse_attn.attention softmax %q, %k, %k : tensor<1x8x16xf32>, tensor<1x1x8x16xf32>, tensor<1x1x8x16xf32> -> tensor<1x1x8x16xf32>
  return %o : tensor<1x1x8x16xf32>
}

// -----

func.func @integer_query(%q: tensor<1x1x8x16xi32>) -> tensor<1x1x8x16xi32> {
  // expected-error @+1 {{operand #0 must be 4D tensor of bfloat16 type or 16-bit float or 32-bit float values, but got 'tensor<1x1x8x16xi32>'}}
  %o = sparse_attn.attention softmax %q, %q, %q : tensor<1x1x8x16xi32>, tensor<1x1x8x16xi32>, tensor<1x1x8x16xi32> -> tensor<1x1x8x16xi32>
  return %o : tensor<1x1x8x16xi32>
}

// -----

func.func @element_type_mismatch(%q: tensor<1x1x8x16xf32>, %k: tensor<1x1x8x16xbf16>) -> tensor<1x1x8x16xf32> {
  // expected-error @+1 {{key and value must have the element type of the query ('f32')}}
  %o = sparse_attn.attention softmax %q, %k, %k : tensor<1x1x8x16xf32>, tensor<1x1x8x16xbf16>, tensor<1x1x8x16xbf16> -> tensor<1x1x8x16xf32>
  return %o : tensor<1x1x8x16xf32>
}

// -----

func.func @dynamic_head_dim(%q: tensor<1x1x8x?xf32>) -> tensor<1x1x8x?xf32> {
  // expected-error @+1 {{head dimensions must be static and positive}}
  %o = sparse_attn.attention softmax %q, %q, %q : tensor<1x1x8x?xf32>, tensor<1x1x8x?xf32>, tensor<1x1x8x?xf32> -> tensor<1x1x8x?xf32>
  return %o : tensor<1x1x8x?xf32>
}

// -----

func.func @head_dim_mismatch(%q: tensor<1x1x8x16xf32>, %k: tensor<1x1x8x32xf32>) -> tensor<1x1x8x32xf32> {
  // expected-error @+1 {{query head dimension (16) does not match the key head dimension (32)}}
  %o = sparse_attn.attention softmax %q, %k, %k : tensor<1x1x8x16xf32>, tensor<1x1x8x32xf32>, tensor<1x1x8x32xf32> -> tensor<1x1x8x32xf32>
  return %o : tensor<1x1x8x32xf32>
}

// -----

func.func @batch_mismatch(%q: tensor<2x1x8x16xf32>, %k: tensor<3x1x8x16xf32>) -> tensor<2x1x8x16xf32> {
  // expected-error @+1 {{batch sizes of query, key and value differ (2x3x3)}}
  %o = sparse_attn.attention softmax %q, %k, %k : tensor<2x1x8x16xf32>, tensor<3x1x8x16xf32>, tensor<3x1x8x16xf32> -> tensor<2x1x8x16xf32>
  return %o : tensor<2x1x8x16xf32>
}

// -----

func.func @key_value_length_mismatch(%q: tensor<1x1x8x16xf32>, %k: tensor<1x1x8x16xf32>, %v: tensor<1x1x9x16xf32>) -> tensor<1x1x8x16xf32> {
  // expected-error @+1 {{key (1x1x8x16) and value (1x1x9x16) must have the same heads and sequence length}}
  %o = sparse_attn.attention softmax %q, %k, %v : tensor<1x1x8x16xf32>, tensor<1x1x8x16xf32>, tensor<1x1x9x16xf32> -> tensor<1x1x8x16xf32>
  return %o : tensor<1x1x8x16xf32>
}

// -----

func.func @heads_not_divisible(%q: tensor<1x8x8x16xf32>, %k: tensor<1x3x8x16xf32>) -> tensor<1x8x8x16xf32> {
  // expected-error @+1 {{query heads (8) must be a multiple of key/value heads (3)}}
  %o = sparse_attn.attention softmax %q, %k, %k : tensor<1x8x8x16xf32>, tensor<1x3x8x16xf32>, tensor<1x3x8x16xf32> -> tensor<1x8x8x16xf32>
  return %o : tensor<1x8x8x16xf32>
}

// -----

func.func @output_shape(%q: tensor<1x2x8x16xf32>, %k: tensor<1x1x8x16xf32>, %v: tensor<1x1x8x32xf32>) -> tensor<1x2x8x16xf32> {
  // expected-error @+1 {{output type 'tensor<1x2x8x16xf32>' does not match the expected shape 1x2x8x32 and element type 'f32'}}
  %o = sparse_attn.attention softmax %q, %k, %v : tensor<1x2x8x16xf32>, tensor<1x1x8x16xf32>, tensor<1x1x8x32xf32> -> tensor<1x2x8x16xf32>
  return %o : tensor<1x2x8x16xf32>
}

// -----

func.func @output_element_type(%q: tensor<1x1x8x16xbf16>) -> tensor<1x1x8x16xf32> {
  // expected-error @+1 {{output type 'tensor<1x1x8x16xf32>' does not match the expected shape 1x1x8x16 and element type 'bf16'}}
  %o = sparse_attn.attention softmax %q, %q, %q : tensor<1x1x8x16xbf16>, tensor<1x1x8x16xbf16>, tensor<1x1x8x16xbf16> -> tensor<1x1x8x16xf32>
  return %o : tensor<1x1x8x16xf32>
}

// -----

func.func @statistics_shape(%q: tensor<1x2x8x16xf32>) -> tensor<1x2x9xf32> {
  // expected-error @+1 {{statistics type 'tensor<1x2x9xf32>' does not match the expected shape 1x2x8}}
  %o, %s = sparse_attn.attention softmax %q, %q, %q : tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32> -> tensor<1x2x8x16xf32>, tensor<1x2x9xf32>
  return %s : tensor<1x2x9xf32>
}

// -----

func.func @statistics_element_type(%q: tensor<1x2x8x16xf32>) -> tensor<1x2x8xf16> {
  // expected-error @+1 {{result #1 must be 3D tensor of 32-bit float values, but got 'tensor<1x2x8xf16>'}}
  %o, %s = sparse_attn.attention softmax %q, %q, %q : tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32> -> tensor<1x2x8x16xf32>, tensor<1x2x8xf16>
  return %s : tensor<1x2x8xf16>
}

// -----

func.func @mask_geometry(%q: tensor<1x2x8x16xf32>, %m: !sparse_attn.block_mask<1x1x8x9, block = 64x64>) -> tensor<1x2x8x16xf32> {
  // expected-error @+1 {{mask shape 1x1x8x9 does not match the attention shape 1x2x8x8 (batch and head extents may be 1)}}
  %o = sparse_attn.attention softmax %q, %q, %q mask(%m : !sparse_attn.block_mask<1x1x8x9, block = 64x64>) : tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32> -> tensor<1x2x8x16xf32>
  return %o : tensor<1x2x8x16xf32>
}

// -----

func.func @mask_heads(%q: tensor<1x2x8x16xf32>, %m: !sparse_attn.block_mask<1x4x8x8, block = 64x64>) -> tensor<1x2x8x16xf32> {
  // expected-error @+1 {{mask shape 1x4x8x8 does not match the attention shape 1x2x8x8 (batch and head extents may be 1)}}
  %o = sparse_attn.attention softmax %q, %q, %q mask(%m : !sparse_attn.block_mask<1x4x8x8, block = 64x64>) : tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32> -> tensor<1x2x8x16xf32>
  return %o : tensor<1x2x8x16xf32>
}

// -----

func.func @lengths_size(%q: tensor<2x1x8x16xf32>, %l: tensor<3xi32>) -> tensor<2x1x8x16xf32> {
  // expected-error @+1 {{sequence lengths must have one entry per batch (2), got 3}}
  %o = sparse_attn.attention softmax %q, %q, %q key_lengths(%l : tensor<3xi32>) : tensor<2x1x8x16xf32>, tensor<2x1x8x16xf32>, tensor<2x1x8x16xf32> -> tensor<2x1x8x16xf32>
  return %o : tensor<2x1x8x16xf32>
}

// -----

func.func @lengths_rank(%q: tensor<2x1x8x16xf32>, %l: tensor<2x1xi32>) -> tensor<2x1x8x16xf32> {
  // expected-error @+1 {{operand #3 must be 1D tensor of 32-bit signless integer values, but got 'tensor<2x1xi32>'}}
  %o = sparse_attn.attention softmax %q, %q, %q query_lengths(%l : tensor<2x1xi32>) : tensor<2x1x8x16xf32>, tensor<2x1x8x16xf32>, tensor<2x1x8x16xf32> -> tensor<2x1x8x16xf32>
  return %o : tensor<2x1x8x16xf32>
}

// -----

func.func @lengths_element_type(%q: tensor<2x1x8x16xf32>, %l: tensor<2xi64>) -> tensor<2x1x8x16xf32> {
  // expected-error @+1 {{operand #3 must be 1D tensor of 32-bit signless integer values, but got 'tensor<2xi64>'}}
  %o = sparse_attn.attention softmax %q, %q, %q key_lengths(%l : tensor<2xi64>) : tensor<2x1x8x16xf32>, tensor<2x1x8x16xf32>, tensor<2x1x8x16xf32> -> tensor<2x1x8x16xf32>
  return %o : tensor<2x1x8x16xf32>
}

// -----

func.func @bias_heads(%q: tensor<1x2x8x16xf32>, %b: tensor<3x4xf32>) -> tensor<1x2x8x16xf32> {
  // expected-error @+1 {{bias must have one row per query head (2), got 3}}
  %o = sparse_attn.attention softmax %q, %q, %q bias(%b : tensor<3x4xf32>) : tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32> -> tensor<1x2x8x16xf32>
  return %o : tensor<1x2x8x16xf32>
}

// -----

func.func @bias_empty_window(%q: tensor<1x2x8x16xf32>, %b: tensor<2x0xf32>) -> tensor<1x2x8x16xf32> {
  // expected-error @+1 {{bias window must have at least one position}}
  %o = sparse_attn.attention softmax %q, %q, %q bias(%b : tensor<2x0xf32>) : tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32> -> tensor<1x2x8x16xf32>
  return %o : tensor<1x2x8x16xf32>
}

// -----

func.func @tau_without_elastic(%q: tensor<1x2x8x16xf32>, %t: tensor<2xf32>) -> tensor<1x2x8x16xf32> {
  // expected-error @+1 {{tau is only meaningful with elastic_softmax}}
  %o = sparse_attn.attention softmax causal %q, %q, %q tau(%t : tensor<2xf32>) : tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32> -> tensor<1x2x8x16xf32>
  return %o : tensor<1x2x8x16xf32>
}

// -----

func.func @tau_size(%q: tensor<1x2x8x16xf32>, %t: tensor<4xf32>) -> tensor<1x2x8x16xf32> {
  // expected-error @+1 {{tau must have one entry per query head (2), got 4}}
  %o = sparse_attn.attention elastic_softmax causal %q, %q, %q tau(%t : tensor<4xf32>) : tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32> -> tensor<1x2x8x16xf32>
  return %o : tensor<1x2x8x16xf32>
}

// -----

func.func @elastic_without_tau(%q: tensor<1x2x8x16xf32>) -> tensor<1x2x8x16xf32> {
  // expected-error @+1 {{elastic_softmax needs the tau operand}}
  %o = sparse_attn.attention elastic_softmax causal %q, %q, %q : tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32> -> tensor<1x2x8x16xf32>
  return %o : tensor<1x2x8x16xf32>
}

// -----

func.func @elastic_not_causal(%q: tensor<1x2x8x16xf32>, %t: tensor<2xf32>) -> tensor<1x2x8x16xf32> {
  // expected-error @+1 {{elastic_softmax is defined for causal attention only}}
  %o = sparse_attn.attention elastic_softmax %q, %q, %q tau(%t : tensor<2xf32>) : tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32> -> tensor<1x2x8x16xf32>
  return %o : tensor<1x2x8x16xf32>
}

// -----

func.func @scale_not_positive(%q: tensor<1x2x8x16xf32>) -> tensor<1x2x8x16xf32> {
  // expected-error @+1 {{scale must be finite and positive, got -0.5}}
  %o = sparse_attn.attention softmax %q, %q, %q scale(-0.5) : tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32> -> tensor<1x2x8x16xf32>
  return %o : tensor<1x2x8x16xf32>
}

// -----

func.func @entmax_rank0(%x: tensor<f32>) -> tensor<f32> {
  // expected-error @+1 {{input must have rank >= 1 (rows along the last dimension)}}
  %p = sparse_attn.entmax %x <alpha = 1.5> : tensor<f32>
  return %p : tensor<f32>
}

// -----

func.func @entmax_result_type(%x: tensor<4x8xf32>) -> tensor<4x8xbf16> {
  // expected-error @+1 {{all of {input, output} have same type}}
  %p = "sparse_attn.entmax"(%x) <{config = #sparse_attn.entmax<alpha = 1.5>}> : (tensor<4x8xf32>) -> tensor<4x8xbf16>
  return %p : tensor<4x8xbf16>
}

// -----

func.func @dense_mask_sizes(%n: index) {
  // expected-error @+1 {{expected 2 size operand(s) for the dynamic extents of '!sparse_attn.block_mask<1x1x?x?, block = 128x128>', got 1}}
  %m = sparse_attn.dense_mask(%n) : !sparse_attn.block_mask<1x1x?x?, block = 128x128>
  return
}

// -----

func.func @causal_mask_sizes(%n: index) {
  // expected-error @+1 {{expected 0 size operand(s) for the dynamic extents of '!sparse_attn.block_mask<1x1x256x256, block = 128x128>', got 1}}
  %m = sparse_attn.causal_mask(%n) : !sparse_attn.block_mask<1x1x256x256, block = 128x128>
  return
}

// -----

func.func @streaming_mask_sizes() {
  // expected-error @+1 {{expected 1 size operand(s) for the dynamic extents of '!sparse_attn.block_mask<?x1x256x256, block = 128x128>', got 0}}
  %m = sparse_attn.streaming_mask() sink(4) window(64) : !sparse_attn.block_mask<?x1x256x256, block = 128x128>
  return
}

// -----

func.func @streaming_negative_sink() {
  // expected-error @+1 {{sink must be non-negative, got -1}}
  %m = sparse_attn.streaming_mask() sink(-1) window(64) : !sparse_attn.block_mask<1x1x256x256, block = 128x128>
  return
}

// -----

func.func @streaming_empty_window() {
  // expected-error @+1 {{window must be positive, got 0}}
  %m = sparse_attn.streaming_mask() sink(4) window(0) : !sparse_attn.block_mask<1x1x256x256, block = 128x128>
  return
}

// -----

func.func @from_indices_ranks(%n: tensor<1x2xi32>, %i: tensor<1x2x2xi32>) {
  // expected-error @+1 {{expected kv_num_blocks of rank 3 [batch, heads, query blocks] and kv_indices of rank 4 [batch, heads, query blocks, key blocks]}}
  %m = sparse_attn.mask_from_indices %n, %i () : tensor<1x2xi32>, tensor<1x2x2xi32> -> !sparse_attn.block_mask<1x1x256x256, block = 128x128>
  return
}

// -----

func.func @from_indices_counts_shape(%n: tensor<1x1x3xi32>, %i: tensor<1x1x2x2xi32>) {
  // expected-error @+1 {{kv_num_blocks 1x1x3 does not match the leading extents of kv_indices 1x1x2x2}}
  %m = sparse_attn.mask_from_indices %n, %i () : tensor<1x1x3xi32>, tensor<1x1x2x2xi32> -> !sparse_attn.block_mask<1x1x256x256, block = 128x128>
  return
}

// -----

func.func @from_indices_full_shape(%n: tensor<1x1x2xi32>, %i: tensor<1x1x2x2xi32>, %fn: tensor<1x2x2xi32>, %fi: tensor<1x2x2x2xi32>) {
  // expected-error @+1 {{full-block tensors must have the shapes of the partial-block tensors}}
  %m = sparse_attn.mask_from_indices %n, %i full(%fn, %fi) () : tensor<1x1x2xi32>, tensor<1x1x2x2xi32>, tensor<1x2x2xi32>, tensor<1x2x2x2xi32> -> !sparse_attn.block_mask<1x1x256x256, block = 128x128>
  return
}

// -----

func.func @from_indices_geometry(%n: tensor<1x1x2xi32>, %i: tensor<1x1x2x2xi32>) {
  // expected-error @+1 {{kv_indices 1x1x2x2 does not fit the mask '!sparse_attn.block_mask<1x1x256x512, block = 128x128>' (expected 1x1x2x4)}}
  %m = sparse_attn.mask_from_indices %n, %i () : tensor<1x1x2xi32>, tensor<1x1x2x2xi32> -> !sparse_attn.block_mask<1x1x256x512, block = 128x128>
  return
}

// -----

func.func @from_indices_sizes(%n: tensor<1x1x?xi32>, %i: tensor<1x1x?x?xi32>, %len: index) {
  // expected-error @+1 {{expected 2 size operand(s) for the dynamic sequence lengths of '!sparse_attn.block_mask<1x1x?x?, block = 128x128>', got 1}}
  %m = sparse_attn.mask_from_indices %n, %i (%len) : tensor<1x1x?xi32>, tensor<1x1x?x?xi32> -> !sparse_attn.block_mask<1x1x?x?, block = 128x128>
  return
}

// -----

func.func @from_indices_element_type(%n: tensor<1x1x2xi64>, %i: tensor<1x1x2x2xi32>) {
  // expected-error @+1 {{operand #0 must be tensor of 32-bit signless integer values, but got 'tensor<1x1x2xi64>'}}
  %m = sparse_attn.mask_from_indices %n, %i () : tensor<1x1x2xi64>, tensor<1x1x2x2xi32> -> !sparse_attn.block_mask<1x1x256x256, block = 128x128>
  return
}

// -----

func.func @to_indices_shape(%m: !sparse_attn.block_mask<1x1x256x256, block = 128x128>) {
  // expected-error @+1 {{result #1 must have shape 1x1x2x2, got 'tensor<1x1x2x3xi32>'}}
  %n, %i, %fn, %fi = sparse_attn.mask_to_indices %m : !sparse_attn.block_mask<1x1x256x256, block = 128x128> -> tensor<1x1x2xi32>, tensor<1x1x2x3xi32>, tensor<1x1x2xi32>, tensor<1x1x2x2xi32>
  return
}

// -----

func.func @to_indices_rank(%m: !sparse_attn.block_mask<1x1x256x256, block = 128x128>) {
  // expected-error @+1 {{result #2 must have shape 1x1x2, got 'tensor<2xi32>'}}
  %n, %i, %fn, %fi = sparse_attn.mask_to_indices %m : !sparse_attn.block_mask<1x1x256x256, block = 128x128> -> tensor<1x1x2xi32>, tensor<1x1x2x2xi32>, tensor<2xi32>, tensor<1x1x2x2xi32>
  return
}

// -----

// expected-error @+1 {{xattention stride must be positive, got 0}}
func.func private @xattention_stride() attributes {c = #sparse_attn.xattention<stride = 0>}

// -----

// expected-error @+1 {{xattention threshold must lie in (0, 1], got 1.5}}
func.func private @xattention_threshold() attributes {c = #sparse_attn.xattention<threshold = 1.5>}

// -----

// expected-error @+1 {{unknown xattention parameter 'gamma' (expected stride, threshold)}}
func.func private @xattention_unknown() attributes {c = #sparse_attn.xattention<gamma = 0.5>}

// -----

// expected-error @+1 {{xattention parameter 'stride' given twice}}
func.func private @xattention_twice() attributes {c = #sparse_attn.xattention<stride = 8, stride = 16>}

// -----

// expected-error @+1 {{flexprefill gamma must lie in (0, 1], got 0.0}}
func.func private @flexprefill_gamma() attributes {c = #sparse_attn.flexprefill<gamma = 0.0>}

// -----

// expected-error @+1 {{flexprefill tau must be finite and non-negative, got -0.1}}
func.func private @flexprefill_tau() attributes {c = #sparse_attn.flexprefill<tau = -0.1>}

// -----

// expected-error @+1 {{flexprefill min_budget must be non-negative, got -1}}
func.func private @flexprefill_min_budget() attributes {c = #sparse_attn.flexprefill<min_budget = -1>}

// -----

// expected-error @+1 {{flexprefill max_budget must be at least 1 and at least min_budget (1024), got 512}}
func.func private @flexprefill_max_budget() attributes {c = #sparse_attn.flexprefill<max_budget = 512>}

// -----

// expected-error @+1 {{flexprefill max_budget must be at least 1 and at least min_budget (0), got 0}}
func.func private @flexprefill_max_budget_zero() attributes {c = #sparse_attn.flexprefill<min_budget = 0, max_budget = 0>}

// -----

// expected-error @+1 {{minference vertical_size must be non-negative, got -1}}
func.func private @minference_vertical_size() attributes {c = #sparse_attn.minference<vertical_size = -1>}

// -----

// expected-error @+1 {{minference slash_size must be non-negative, got -2}}
func.func private @minference_slash_size() attributes {c = #sparse_attn.minference<slash_size = -2>}

// -----

// expected-error @+1 {{minference sink must be non-negative, got -3}}
func.func private @minference_sink() attributes {c = #sparse_attn.minference<sink = -3>}

// -----

// expected-error @+1 {{minference local must be non-negative, got -4}}
func.func private @minference_local() attributes {c = #sparse_attn.minference<local = -4>}

// -----

// expected-error @+1 {{minference last_queries must be positive, got 0}}
func.func private @minference_last_queries() attributes {c = #sparse_attn.minference<last_queries = 0>}

// -----

func.func @estimator_element_types(%q: tensor<1x8x64x16xf32>, %k: tensor<1x8x64x16xbf16>) {
  // expected-error @+1 {{key must have the element type of the query ('f32')}}
  %m = sparse_attn.xattention_mask causal %q, %k : tensor<1x8x64x16xf32>, tensor<1x8x64x16xbf16> -> !sparse_attn.block_mask<1x8x64x64, block = 16x16>
  return
}

// -----

func.func @estimator_dynamic_head_dim(%q: tensor<1x8x64x?xf32>) {
  // expected-error @+1 {{head dimensions must be static and positive}}
  %m, %p = sparse_attn.flexprefill_mask %q, %q : tensor<1x8x64x?xf32>, tensor<1x8x64x?xf32> -> !sparse_attn.block_mask<1x8x64x64, block = 16x16>, tensor<1x8xi32>
  return
}

// -----

func.func @estimator_head_dims(%q: tensor<1x8x64x16xf32>, %k: tensor<1x8x64x8xf32>) {
  // expected-error @+1 {{query head dimension (16) does not match the key head dimension (8)}}
  %m = sparse_attn.vertical_slash_mask %q, %k : tensor<1x8x64x16xf32>, tensor<1x8x64x8xf32> -> !sparse_attn.block_mask<1x8x64x64, block = 16x16>
  return
}

// -----

func.func @estimator_batch(%q: tensor<2x8x64x16xf32>, %k: tensor<1x8x64x16xf32>) {
  // expected-error @+1 {{batch sizes of query and key differ (2x1)}}
  %m = sparse_attn.xattention_mask %q, %k : tensor<2x8x64x16xf32>, tensor<1x8x64x16xf32> -> !sparse_attn.block_mask<2x8x64x64, block = 16x16>
  return
}

// -----

func.func @estimator_heads(%q: tensor<1x3x64x16xf32>, %k: tensor<1x2x64x16xf32>) {
  // expected-error @+1 {{query heads (3) must be a multiple of key/value heads (2)}}
  %m = sparse_attn.xattention_mask %q, %k : tensor<1x3x64x16xf32>, tensor<1x2x64x16xf32> -> !sparse_attn.block_mask<1x3x64x64, block = 16x16>
  return
}

// -----

func.func @estimator_lengths(%q: tensor<2x8x64x16xf32>, %len: tensor<3xi32>) {
  // expected-error @+1 {{sequence lengths must have one entry per batch (2), got 3}}
  %m = sparse_attn.vertical_slash_mask %q, %q key_lengths(%len : tensor<3xi32>) : tensor<2x8x64x16xf32>, tensor<2x8x64x16xf32> -> !sparse_attn.block_mask<2x8x64x64, block = 16x16>
  return
}

// -----

func.func @estimator_scale(%q: tensor<1x8x64x16xf32>) {
  // expected-error @+1 {{scale must be finite and positive, got -1.0}}
  %m = sparse_attn.xattention_mask %q, %q scale(-1.0) : tensor<1x8x64x16xf32>, tensor<1x8x64x16xf32> -> !sparse_attn.block_mask<1x8x64x64, block = 16x16>
  return
}

// -----

func.func @estimator_mask_shape(%q: tensor<1x8x64x16xf32>, %k: tensor<1x8x80x16xf32>) {
  // expected-error @+1 {{mask shape 1x1x64x80 does not match [batch, query heads, query length, key length] = 1x8x64x80}}
  %m = sparse_attn.xattention_mask %q, %k : tensor<1x8x64x16xf32>, tensor<1x8x80x16xf32> -> !sparse_attn.block_mask<1x1x64x80, block = 16x16>
  return
}

// -----

func.func @xattention_stride_blocks(%q: tensor<1x8x64x16xf32>) {
  // expected-error @+1 {{xattention stride (16) must divide the block sizes (8x16)}}
  %m = sparse_attn.xattention_mask <stride = 16> %q, %q : tensor<1x8x64x16xf32>, tensor<1x8x64x16xf32> -> !sparse_attn.block_mask<1x8x64x64, block = 8x16>
  return
}

// -----

func.func @xattention_thresholds(%q: tensor<1x8x64x16xf32>, %t: tensor<4xf32>) {
  // expected-error @+1 {{thresholds must have one entry per query head (8), got 4}}
  %m = sparse_attn.xattention_mask %q, %q thresholds(%t : tensor<4xf32>) : tensor<1x8x64x16xf32>, tensor<1x8x64x16xf32> -> !sparse_attn.block_mask<1x8x64x64, block = 16x16>
  return
}

// -----

func.func @xattention_threshold_twice(%q: tensor<1x8x64x16xf32>, %t: tensor<8xf32>) {
  // expected-error @+1 {{per-head thresholds replace the configuration's threshold: leave it at its default}}
  %m = sparse_attn.xattention_mask <threshold = 0.8> %q, %q thresholds(%t : tensor<8xf32>) : tensor<1x8x64x16xf32>, tensor<1x8x64x16xf32> -> !sparse_attn.block_mask<1x8x64x64, block = 16x16>
  return
}

// -----

func.func @flexprefill_square(%q: tensor<1x8x64x16xf32>) {
  // expected-error @+1 {{flexprefill needs square blocks, got 16x32}}
  %m = sparse_attn.flexprefill_mask %q, %q : tensor<1x8x64x16xf32>, tensor<1x8x64x16xf32> -> !sparse_attn.block_mask<1x8x64x64, block = 16x32>
  return
}

// -----

func.func @flexprefill_patterns(%q: tensor<1x8x64x16xf32>) {
  // expected-error @+1 {{patterns must have shape 1x8 (batch, query heads), got 1x4}}
  %m, %p = sparse_attn.flexprefill_mask %q, %q : tensor<1x8x64x16xf32>, tensor<1x8x64x16xf32> -> !sparse_attn.block_mask<1x8x64x64, block = 16x16>, tensor<1x4xi32>
  return
}

// -----

func.func @select_blocks_method(%q: tensor<1x8x64x16xf32>) {
  // expected-error @+1 {{attribute 'method' failed to satisfy constraint: block-selecting method (xattention or flexprefill)}}
  %n, %i = sparse_attn.select_blocks minference causal %q, %q block(16, 16) : tensor<1x8x64x16xf32>, tensor<1x8x64x16xf32> -> tensor<1x8x4xi32>, tensor<1x8x4x4xi32>
  return
}

// -----

func.func @select_blocks_block_sizes(%q: tensor<1x8x64x16xf32>) {
  // expected-error @+1 {{block sizes must be positive powers of two, got 16x24}}
  %n, %i = sparse_attn.select_blocks xattention<stride = 4> %q, %q block(16, 24) : tensor<1x8x64x16xf32>, tensor<1x8x64x16xf32> -> tensor<1x8x4xi32>, tensor<1x8x4x3xi32>
  return
}

// -----

func.func @select_blocks_block_zero(%q: tensor<1x8x64x16xf32>) {
  // expected-error @+1 {{block sizes must be positive powers of two, got 0x16}}
  %n, %i = sparse_attn.select_blocks xattention<stride = 4> %q, %q block(0, 16) : tensor<1x8x64x16xf32>, tensor<1x8x64x16xf32> -> tensor<1x8x4xi32>, tensor<1x8x4x4xi32>
  return
}

// -----

func.func @select_blocks_flexprefill_square(%q: tensor<1x8x64x16xf32>) {
  // expected-error @+1 {{flexprefill needs square blocks, got 16x32}}
  %n, %i = sparse_attn.select_blocks flexprefill causal %q, %q block(16, 32) : tensor<1x8x64x16xf32>, tensor<1x8x64x16xf32> -> tensor<1x8x4xi32>, tensor<1x8x4x2xi32>
  return
}

// -----

func.func @select_blocks_flexprefill_causal(%q: tensor<1x8x64x16xf32>) {
  // expected-error @+1 {{the flexprefill method is causal: it needs `causal`}}
  %n, %i = sparse_attn.select_blocks flexprefill %q, %q block(16, 16) : tensor<1x8x64x16xf32>, tensor<1x8x64x16xf32> -> tensor<1x8x4xi32>, tensor<1x8x4x4xi32>
  return
}

// -----

func.func @select_blocks_flexprefill_thresholds(%q: tensor<1x8x64x16xf32>, %t: tensor<8xf32>) {
  // expected-error @+1 {{thresholds are only meaningful with the xattention method}}
  %n, %i = sparse_attn.select_blocks flexprefill causal %q, %q thresholds(%t : tensor<8xf32>) block(16, 16) : tensor<1x8x64x16xf32>, tensor<1x8x64x16xf32> -> tensor<1x8x4xi32>, tensor<1x8x4x4xi32>
  return
}

// -----

func.func @select_blocks_stride(%q: tensor<1x8x64x16xf32>) {
  // expected-error @+1 {{xattention stride (16) must divide the block sizes (8x16)}}
  %n, %i = sparse_attn.select_blocks xattention<stride = 16> %q, %q block(8, 16) : tensor<1x8x64x16xf32>, tensor<1x8x64x16xf32> -> tensor<1x8x8xi32>, tensor<1x8x8x4xi32>
  return
}

// -----

func.func @select_blocks_thresholds(%q: tensor<1x8x64x16xf32>, %t: tensor<4xf32>) {
  // expected-error @+1 {{thresholds must have one entry per query head (8), got 4}}
  %n, %i = sparse_attn.select_blocks xattention<stride = 4> %q, %q thresholds(%t : tensor<4xf32>) block(16, 16) : tensor<1x8x64x16xf32>, tensor<1x8x64x16xf32> -> tensor<1x8x4xi32>, tensor<1x8x4x4xi32>
  return
}

// -----

func.func @select_blocks_xattention_patterns(%q: tensor<1x8x64x16xf32>) {
  // expected-error @+1 {{patterns are only produced by the flexprefill method}}
  %n, %i, %p = sparse_attn.select_blocks xattention<stride = 4> %q, %q block(16, 16) : tensor<1x8x64x16xf32>, tensor<1x8x64x16xf32> -> tensor<1x8x4xi32>, tensor<1x8x4x4xi32>, tensor<1x8xi32>
  return
}

// -----

func.func @select_blocks_counts(%q: tensor<1x8x64x16xf32>) {
  // expected-error @+1 {{kv_num_blocks must have shape 1x8x4, got 1x8x3}}
  %n, %i = sparse_attn.select_blocks xattention<stride = 4> %q, %q block(16, 16) : tensor<1x8x64x16xf32>, tensor<1x8x64x16xf32> -> tensor<1x8x3xi32>, tensor<1x8x4x4xi32>
  return
}

// -----

func.func @select_blocks_indices(%q: tensor<1x8x64x16xf32>) {
  // expected-error @+1 {{kv_indices must have shape 1x8x4x4, got 1x8x4x5}}
  %n, %i = sparse_attn.select_blocks xattention<stride = 4> %q, %q block(16, 16) : tensor<1x8x64x16xf32>, tensor<1x8x64x16xf32> -> tensor<1x8x4xi32>, tensor<1x8x4x5xi32>
  return
}

// -----

func.func @select_blocks_patterns(%q: tensor<1x8x64x16xf32>) {
  // expected-error @+1 {{patterns must have shape 1x8, got 2x8}}
  %n, %i, %p = sparse_attn.select_blocks flexprefill causal %q, %q block(16, 16) : tensor<1x8x64x16xf32>, tensor<1x8x64x16xf32> -> tensor<1x8x4xi32>, tensor<1x8x4x4xi32>, tensor<2x8xi32>
  return
}

// -----

func.func @vertical_slash_budgets(%q: tensor<1x8x64x16xf32>, %b: tensor<8x3xi32>) {
  // expected-error @+1 {{budgets must have shape 8x2 (vertical and slash size per query head), got 8x3}}
  %m = sparse_attn.vertical_slash_mask %q, %q budgets(%b : tensor<8x3xi32>) : tensor<1x8x64x16xf32>, tensor<1x8x64x16xf32> -> !sparse_attn.block_mask<1x8x64x64, block = 16x16>
  return
}

// -----

func.func @vertical_slash_budgets_twice(%q: tensor<1x8x64x16xf32>, %b: tensor<8x2xi32>) {
  // expected-error @+1 {{per-head budgets replace the configuration's vertical_size and slash_size: leave them at their defaults}}
  %m = sparse_attn.vertical_slash_mask <slash_size = 100> %q, %q budgets(%b : tensor<8x2xi32>) : tensor<1x8x64x16xf32>, tensor<1x8x64x16xf32> -> !sparse_attn.block_mask<1x8x64x64, block = 16x16>
  return
}

// -----

func.func @route_kinds(%kinds: tensor<4xi32>) {
  // expected-error @+1 {{kinds must have one entry per head of the result (8), got 4}}
  %m = sparse_attn.mask_route_heads %kinds () : tensor<4xi32> -> !sparse_attn.block_mask<1x8x64x64, block = 16x16>
  return
}

// -----

func.func @route_block_sizes(%kinds: tensor<8xi32>, %s: !sparse_attn.block_mask<1x1x64x64, block = 32x16>) {
  // expected-error @+1 {{operand masks must have the result's block sizes (16x16), got 32x16}}
  %m = sparse_attn.mask_route_heads %kinds streaming(%s : !sparse_attn.block_mask<1x1x64x64, block = 32x16>) () : tensor<8xi32> -> !sparse_attn.block_mask<1x8x64x64, block = 16x16>
  return
}

// -----

func.func @route_operand_shape(%kinds: tensor<8xi32>, %a: !sparse_attn.block_mask<2x1x64x64, block = 16x16>) {
  // expected-error @+1 {{operand mask shape 2x1x64x64 does not fit the result shape 1x8x64x64 (batch and head extents may be 1)}}
  %m = sparse_attn.mask_route_heads %kinds masks(%a : !sparse_attn.block_mask<2x1x64x64, block = 16x16>) () : tensor<8xi32> -> !sparse_attn.block_mask<1x8x64x64, block = 16x16>
  return
}

// -----

func.func @route_dynamic_sizes(%kinds: tensor<8xi32>, %n: index) {
  // expected-error @+1 {{expected 2 size operand(s) for the dynamic extents of '!sparse_attn.block_mask<1x8x?x?, block = 16x16>', got 1}}
  %m = sparse_attn.mask_route_heads %kinds (%n) : tensor<8xi32> -> !sparse_attn.block_mask<1x8x?x?, block = 16x16>
  return
}

// -----

func.func @prefill_unknown_pattern(%q: tensor<1x8x64x16xf32>) -> tensor<1x8x64x16xf32> {
  // expected-error @+1 {{expected a prefill pattern (xattention, flexprefill, minference or full), got 'dense'}}
  %o = sparse_attn.prefill dense %q, %q, %q : tensor<1x8x64x16xf32>, tensor<1x8x64x16xf32>, tensor<1x8x64x16xf32> -> tensor<1x8x64x16xf32>
  return %o : tensor<1x8x64x16xf32>
}

// -----

func.func @prefill_key_element_type(%q: tensor<1x8x64x16xf32>, %k: tensor<1x8x64x16xf16>) -> tensor<1x8x64x16xf32> {
  // expected-error @+1 {{key must have the element type of the query ('f32')}}
  %o = sparse_attn.prefill full %q, %k, %q : tensor<1x8x64x16xf32>, tensor<1x8x64x16xf16>, tensor<1x8x64x16xf32> -> tensor<1x8x64x16xf32>
  return %o : tensor<1x8x64x16xf32>
}

// -----

func.func @prefill_value_element_type(%q: tensor<1x8x64x16xf32>, %v: tensor<1x8x64x16xf16>) -> tensor<1x8x64x16xf32> {
  // expected-error @+1 {{value must have the element type of the query ('f32')}}
  %o = sparse_attn.prefill full %q, %q, %v : tensor<1x8x64x16xf32>, tensor<1x8x64x16xf32>, tensor<1x8x64x16xf16> -> tensor<1x8x64x16xf32>
  return %o : tensor<1x8x64x16xf32>
}

// -----

func.func @prefill_value_head_dim(%q: tensor<1x8x64x16xf32>, %v: tensor<1x8x64x?xf32>) -> tensor<1x8x64x?xf32> {
  // expected-error @+1 {{head dimensions must be static and positive}}
  %o = sparse_attn.prefill full %q, %q, %v : tensor<1x8x64x16xf32>, tensor<1x8x64x16xf32>, tensor<1x8x64x?xf32> -> tensor<1x8x64x?xf32>
  return %o : tensor<1x8x64x?xf32>
}

// -----

func.func @prefill_value_shape(%q: tensor<1x8x64x16xf32>, %v: tensor<1x8x32x16xf32>) -> tensor<1x8x64x16xf32> {
  // expected-error @+1 {{value (1x8x32x16) must have the batch, heads and length of the key (1x8x64x16)}}
  %o = sparse_attn.prefill full %q, %q, %v : tensor<1x8x64x16xf32>, tensor<1x8x64x16xf32>, tensor<1x8x32x16xf32> -> tensor<1x8x64x16xf32>
  return %o : tensor<1x8x64x16xf32>
}

// -----

func.func @prefill_output(%q: tensor<1x8x64x16xf32>) -> tensor<1x8x32x16xf32> {
  // expected-error @+1 {{output type 'tensor<1x8x32x16xf32>' does not match the expected shape 1x8x64x16 and element type 'f32'}}
  %o = sparse_attn.prefill full %q, %q, %q : tensor<1x8x64x16xf32>, tensor<1x8x64x16xf32>, tensor<1x8x64x16xf32> -> tensor<1x8x32x16xf32>
  return %o : tensor<1x8x32x16xf32>
}

// -----

func.func @prefill_statistics(%q: tensor<1x8x64x16xf32>) -> tensor<1x8x64x16xf32> {
  // expected-error @+1 {{statistics type 'tensor<1x8x32xf32>' does not match the expected shape 1x8x64}}
  %o, %s = sparse_attn.prefill full %q, %q, %q : tensor<1x8x64x16xf32>, tensor<1x8x64x16xf32>, tensor<1x8x64x16xf32> -> tensor<1x8x64x16xf32>, tensor<1x8x32xf32>
  return %o : tensor<1x8x64x16xf32>
}

// -----

func.func @prefill_lengths(%q: tensor<1x8x64x16xf32>, %len: tensor<2xi32>) -> tensor<1x8x64x16xf32> {
  // expected-error @+1 {{sequence lengths must have one entry per batch (1), got 2}}
  %o = sparse_attn.prefill full %q, %q, %q query_lengths(%len : tensor<2xi32>) : tensor<1x8x64x16xf32>, tensor<1x8x64x16xf32>, tensor<1x8x64x16xf32> -> tensor<1x8x64x16xf32>
  return %o : tensor<1x8x64x16xf32>
}

// -----

func.func @prefill_thresholds_pattern(%q: tensor<1x8x64x16xf32>, %t: tensor<8xf32>) -> tensor<1x8x64x16xf32> {
  // expected-error @+1 {{thresholds are only meaningful with the xattention pattern}}
  %o = sparse_attn.prefill minference causal %q, %q, %q thresholds(%t : tensor<8xf32>) : tensor<1x8x64x16xf32>, tensor<1x8x64x16xf32>, tensor<1x8x64x16xf32> -> tensor<1x8x64x16xf32>
  return %o : tensor<1x8x64x16xf32>
}

// -----

func.func @prefill_budgets_pattern(%q: tensor<1x8x64x16xf32>, %b: tensor<8x2xi32>) -> tensor<1x8x64x16xf32> {
  // expected-error @+1 {{budgets are only meaningful with the minference pattern}}
  %o = sparse_attn.prefill xattention causal %q, %q, %q budgets(%b : tensor<8x2xi32>) : tensor<1x8x64x16xf32>, tensor<1x8x64x16xf32>, tensor<1x8x64x16xf32> -> tensor<1x8x64x16xf32>
  return %o : tensor<1x8x64x16xf32>
}

// -----

func.func @prefill_flexprefill_causal(%q: tensor<1x8x64x16xf32>) -> tensor<1x8x64x16xf32> {
  // expected-error @+1 {{the flexprefill pattern is causal: it needs `causal`}}
  %o = sparse_attn.prefill flexprefill %q, %q, %q : tensor<1x8x64x16xf32>, tensor<1x8x64x16xf32>, tensor<1x8x64x16xf32> -> tensor<1x8x64x16xf32>
  return %o : tensor<1x8x64x16xf32>
}

// -----

func.func @prefill_minference_causal(%q: tensor<1x8x64x16xf32>) -> tensor<1x8x64x16xf32> {
  // expected-error @+1 {{the minference pattern is causal: it needs `causal`}}
  %o = sparse_attn.prefill minference %q, %q, %q : tensor<1x8x64x16xf32>, tensor<1x8x64x16xf32>, tensor<1x8x64x16xf32> -> tensor<1x8x64x16xf32>
  return %o : tensor<1x8x64x16xf32>
}

// -----

func.func @prefill_full_block(%q: tensor<1x8x64x16xf32>) -> tensor<1x8x64x16xf32> {
  // expected-error @+1 {{the full pattern estimates no mask: it takes no block size}}
  %o = sparse_attn.prefill full %q, %q, %q block(64) : tensor<1x8x64x16xf32>, tensor<1x8x64x16xf32>, tensor<1x8x64x16xf32> -> tensor<1x8x64x16xf32>
  return %o : tensor<1x8x64x16xf32>
}

// -----

func.func @prefill_block_power_of_two(%q: tensor<1x8x64x16xf32>) -> tensor<1x8x64x16xf32> {
  // expected-error @+1 {{block size must be a positive power of two, got 100}}
  %o = sparse_attn.prefill xattention %q, %q, %q block(100) : tensor<1x8x64x16xf32>, tensor<1x8x64x16xf32>, tensor<1x8x64x16xf32> -> tensor<1x8x64x16xf32>
  return %o : tensor<1x8x64x16xf32>
}

// -----

func.func @prefill_stride_block(%q: tensor<1x8x64x16xf32>) -> tensor<1x8x64x16xf32> {
  // expected-error @+1 {{xattention stride (16) must divide the block sizes (8x8)}}
  %o = sparse_attn.prefill xattention<stride = 16> %q, %q, %q block(8) : tensor<1x8x64x16xf32>, tensor<1x8x64x16xf32>, tensor<1x8x64x16xf32> -> tensor<1x8x64x16xf32>
  return %o : tensor<1x8x64x16xf32>
}

// -----

func.func @prefill_mask_shape(%q: tensor<1x8x64x16xf32>, %m: !sparse_attn.block_mask<1x4x64x64, block = 128x128>) -> tensor<1x8x64x16xf32> {
  // expected-error @+1 {{mask shape 1x4x64x64 does not match the attention shape 1x8x64x64 (batch and head extents may be 1)}}
  %o = sparse_attn.prefill full %q, %q, %q mask(%m : !sparse_attn.block_mask<1x4x64x64, block = 128x128>) : tensor<1x8x64x16xf32>, tensor<1x8x64x16xf32>, tensor<1x8x64x16xf32> -> tensor<1x8x64x16xf32>
  return %o : tensor<1x8x64x16xf32>
}

// -----

func.func @prefill_mask_blocks(%q: tensor<1x8x64x16xf32>, %m: !sparse_attn.block_mask<1x1x64x64, block = 32x32>) -> tensor<1x8x64x16xf32> {
  // expected-error @+1 {{mask blocks (32x32) must be the estimator's blocks (128x128)}}
  %o = sparse_attn.prefill xattention %q, %q, %q mask(%m : !sparse_attn.block_mask<1x1x64x64, block = 32x32>) : tensor<1x8x64x16xf32>, tensor<1x8x64x16xf32>, tensor<1x8x64x16xf32> -> tensor<1x8x64x16xf32>
  return %o : tensor<1x8x64x16xf32>
}

// -----

func.func @union_block_sizes(%a: !sparse_attn.block_mask<1x1x256x256, block = 128x128>, %b: !sparse_attn.block_mask<1x1x256x256, block = 64x64>) {
  // expected-error @+1 {{operands and result must have the same block sizes}}
  %u = sparse_attn.mask_union %a, %b : !sparse_attn.block_mask<1x1x256x256, block = 128x128>, !sparse_attn.block_mask<1x1x256x256, block = 64x64> -> !sparse_attn.block_mask<1x1x256x256, block = 128x128>
  return
}

// -----

func.func @union_lengths(%a: !sparse_attn.block_mask<1x1x256x256, block = 128x128>, %b: !sparse_attn.block_mask<1x1x256x512, block = 128x128>) {
  // expected-error @+1 {{operands must have the same sequence lengths, got 1x1x256x256 and 1x1x256x512}}
  %u = sparse_attn.mask_union %a, %b : !sparse_attn.block_mask<1x1x256x256, block = 128x128>, !sparse_attn.block_mask<1x1x256x512, block = 128x128> -> !sparse_attn.block_mask<1x1x256x256, block = 128x128>
  return
}

// -----

func.func @intersect_broadcast(%a: !sparse_attn.block_mask<2x1x256x256, block = 128x128>, %b: !sparse_attn.block_mask<3x1x256x256, block = 128x128>) {
  // expected-error @+1 {{batch and head extents must match or be 1, got 2x1x256x256 and 3x1x256x256}}
  %u = sparse_attn.mask_intersect %a, %b : !sparse_attn.block_mask<2x1x256x256, block = 128x128>, !sparse_attn.block_mask<3x1x256x256, block = 128x128> -> !sparse_attn.block_mask<2x1x256x256, block = 128x128>
  return
}

// -----

func.func @intersect_result(%a: !sparse_attn.block_mask<1x1x256x256, block = 128x128>, %b: !sparse_attn.block_mask<1x8x256x256, block = 128x128>) {
  // expected-error @+1 {{result shape 1x1x256x256 does not match 1x8x256x256}}
  %u = sparse_attn.mask_intersect %a, %b : !sparse_attn.block_mask<1x1x256x256, block = 128x128>, !sparse_attn.block_mask<1x8x256x256, block = 128x128> -> !sparse_attn.block_mask<1x1x256x256, block = 128x128>
  return
}

// -----
// Tile-level ops.

func.func @load_tile_element_type(%k: tensor<?x?x?x64xbf16>, %i: index) {
  // expected-error @+1 {{tile element type must be the source element type ('bf16')}}
  %t = sparse_attn.load_tile %k[%i, %i, %i] : tensor<?x?x?x64xbf16> -> tensor<64x64xf32>
  return
}

// -----

func.func @load_tile_dynamic_head_dim(%k: tensor<?x?x?x?xf32>, %i: index) {
  // expected-error @+1 {{source head dimension must be static}}
  %t = sparse_attn.load_tile %k[%i, %i, %i] : tensor<?x?x?x?xf32> -> tensor<64x64xf32>
  return
}

// -----

func.func @load_tile_row_length(%k: tensor<?x?x?x64xf32>, %i: index) {
  // expected-error @+1 {{tile rows must have the source head dimension (64), got 32}}
  %t = sparse_attn.load_tile %k[%i, %i, %i] : tensor<?x?x?x64xf32> -> tensor<64x32xf32>
  return
}

// -----

func.func @load_score_chunk_scale(%x: tensor<?x?xf32>, %i: index) {
  // expected-error @+1 {{scale must be finite and positive, got -1.0}}
  %c = sparse_attn.load_score_chunk %x[%i, %i] scale(-1.0) : tensor<?x?xf32> -> tensor<8x128xf32>
  return
}

// -----

func.func @score_tile_element_types(%q: tensor<64x32xbf16>, %k: tensor<64x32xf16>, %i: index) {
  // expected-error @+1 {{query and key tiles must have the same element type}}
  %s = sparse_attn.score_tile %q, %k at [%i, %i] scale(1.0) : tensor<64x32xbf16>, tensor<64x32xf16> -> tensor<64x64xf32>
  return
}

// -----

func.func @score_tile_head_dims(%q: tensor<64x32xf32>, %k: tensor<64x16xf32>, %i: index) {
  // expected-error @+1 {{query and key tiles must have the same head dimension, got 32 and 16}}
  %s = sparse_attn.score_tile %q, %k at [%i, %i] scale(1.0) : tensor<64x32xf32>, tensor<64x16xf32> -> tensor<64x64xf32>
  return
}

// -----

func.func @score_tile_result_shape(%q: tensor<64x32xf32>, %k: tensor<128x32xf32>, %i: index) {
  // expected-error @+1 {{result must be a 64x128 tile (query rows x key rows), got 64x64}}
  %s = sparse_attn.score_tile %q, %k at [%i, %i] scale(1.0) : tensor<64x32xf32>, tensor<128x32xf32> -> tensor<64x64xf32>
  return
}

// -----

func.func @score_tile_scale(%q: tensor<64x32xf32>, %i: index) {
  // expected-error @+1 {{scale must be finite and positive, got 0.0}}
  %s = sparse_attn.score_tile %q, %q at [%i, %i] scale(0.0) : tensor<64x32xf32>, tensor<64x32xf32> -> tensor<64x64xf32>
  return
}

// -----

func.func @score_tile_bias_operands(%q: tensor<64x32xf32>, %b: tensor<8x64xf32>, %i: index) {
  // expected-error @+1 {{bias, bias head and bias diagonal come together}}
  %s = "sparse_attn.score_tile"(%q, %q, %i, %i, %b, %i) <{operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 1, 0>, scale = 1.0 : f32, bias_scale = 1.0 : f32}> ({
  }) : (tensor<64x32xf32>, tensor<64x32xf32>, index, index, tensor<8x64xf32>, index) -> tensor<64x64xf32>
  return
}

// -----

func.func @score_tile_bias_scale(%q: tensor<64x32xf32>, %i: index) {
  // expected-error @+1 {{bias_scale is given exactly when a bias is}}
  %s = "sparse_attn.score_tile"(%q, %q, %i, %i) <{operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 0, 0>, scale = 1.0 : f32, bias_scale = 1.0 : f32}> ({
  }) : (tensor<64x32xf32>, tensor<64x32xf32>, index, index) -> tensor<64x64xf32>
  return
}

// -----

func.func @score_tile_bias_scale_value(%q: tensor<64x32xf32>, %b: tensor<8x64xf32>, %i: index) {
  // expected-error @+1 {{bias_scale must be finite and positive, got -2.0}}
  %s = sparse_attn.score_tile %q, %q at [%i, %i] scale(1.0) bias(%b[%i, %i] : tensor<8x64xf32>) bias_scale(-2.0) : tensor<64x32xf32>, tensor<64x32xf32> -> tensor<64x64xf32>
  return
}

// -----

func.func @score_tile_region_arguments(%q: tensor<64x32xf32>, %i: index) {
  // expected-error @+1 {{visible region must take two index arguments (query and key position)}}
  %s = sparse_attn.score_tile %q, %q at [%i, %i] scale(1.0) visible {
  ^bb0(%a: index, %b: i32):
    %t = arith.constant true
    sparse_attn.yield %t : i1
  } : tensor<64x32xf32>, tensor<64x32xf32> -> tensor<64x64xf32>
  return
}

// -----

func.func @score_tile_no_yield(%q: tensor<64x32xf32>, %i: index) {
  // expected-error @+1 {{visible region must end with sparse_attn.yield}}
  %s = "sparse_attn.score_tile"(%q, %q, %i, %i) <{operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 0, 0>, scale = 1.0 : f32}> ({
  ^bb0(%a: index, %b: index):
    %t = arith.constant true
  }) : (tensor<64x32xf32>, tensor<64x32xf32>, index, index) -> tensor<64x64xf32>
  return
}

// -----

func.func @yield_outside_score_tile() {
  %t = arith.constant true
  // expected-error @+1 {{expects parent op 'sparse_attn.score_tile'}}
  sparse_attn.yield %t : i1
}

// -----

func.func @index_row_shapes(%n: tensor<1x8x4xi32>, %i: tensor<1x8x5x4xi32>, %x: index, %b: i32) {
  // expected-error @+1 {{counts 1x8x4 do not match the leading extents of indices 1x8x5x4}}
  %c = sparse_attn.index_row_contains %n, %i[%x, %x, %x] block(%b) : tensor<1x8x4xi32>, tensor<1x8x5x4xi32>
  return
}

// -----

func.func @online_softmax_rows(%s: tensor<64x128xf32>, %v: tensor<128x32xf32>, %m: tensor<32xf32>, %acc: tensor<64x32xf32>) {
  // expected-error @+1 {{running max must have one entry per tile row (64), got 32}}
  %m1, %l1, %a1 = sparse_attn.online_softmax %s, %v, %m, %m, %acc : tensor<64x128xf32>, tensor<128x32xf32>, tensor<32xf32>, tensor<64x32xf32>
  return
}

// -----

func.func @online_softmax_value_rows(%s: tensor<64x128xf32>, %v: tensor<64x32xf32>, %m: tensor<64xf32>, %acc: tensor<64x32xf32>) {
  // expected-error @+1 {{value tile must have one row per score column (128), got 64}}
  %m1, %l1, %a1 = sparse_attn.online_softmax %s, %v, %m, %m, %acc : tensor<64x128xf32>, tensor<64x32xf32>, tensor<64xf32>, tensor<64x32xf32>
  return
}

// -----

func.func @online_softmax_accumulator(%s: tensor<64x128xf32>, %v: tensor<128x32xf32>, %m: tensor<64xf32>, %acc: tensor<64x16xf32>) {
  // expected-error @+1 {{accumulator must be 64x32 (score rows x value columns), got 64x16}}
  %m1, %l1, %a1 = sparse_attn.online_softmax %s, %v, %m, %m, %acc : tensor<64x128xf32>, tensor<128x32xf32>, tensor<64xf32>, tensor<64x16xf32>
  return
}

// -----

func.func @online_logsumexp_rows(%s: tensor<64x128xf32>, %m: tensor<128xf32>) {
  // expected-error @+1 {{running max must have one entry per tile row (64), got 128}}
  %m1, %l1 = sparse_attn.online_logsumexp %s, %m, %m : tensor<64x128xf32>, tensor<128xf32>
  return
}

// -----

func.func @row_max_rows(%s: tensor<64x128xf32>, %m: tensor<128xf32>) {
  // expected-error @+1 {{running max must have one entry per tile row (64), got 128}}
  %m1, %n1 = sparse_attn.row_max %s, %m, %m : tensor<64x128xf32>, tensor<128xf32>
  return
}

// -----

func.func @elastic_accumulate_rows(%s: tensor<64x128xf32>, %v: tensor<128x32xf32>, %m: tensor<128xf32>, %acc: tensor<64x32xf32>, %t: f32, %x: index) {
  // expected-error @+1 {{row max must have one entry per tile row (64), got 128}}
  %a1 = sparse_attn.elastic_accumulate %s, %v, %m, %m, %acc shift(%t, %x) : tensor<64x128xf32>, tensor<128x32xf32>, tensor<128xf32>, tensor<64x32xf32>
  return
}

// -----

func.func @elastic_accumulate_value_rows(%s: tensor<64x128xf32>, %v: tensor<64x32xf32>, %m: tensor<64xf32>, %acc: tensor<64x32xf32>, %t: f32, %x: index) {
  // expected-error @+1 {{value tile must have one row per score column (128), got 64}}
  %a1 = sparse_attn.elastic_accumulate %s, %v, %m, %m, %acc shift(%t, %x) : tensor<64x128xf32>, tensor<64x32xf32>, tensor<64xf32>, tensor<64x32xf32>
  return
}

// -----

func.func @softmax_finalize_rows(%m: tensor<32xf32>, %acc: tensor<64x32xf32>, %x: index) {
  // expected-error @+1 {{row max must have one entry per tile row (64), got 32}}
  %o, %lse = sparse_attn.softmax_finalize %m, %m, %acc rows(%x) : tensor<32xf32>, tensor<64x32xf32> -> tensor<64x32xf32>
  return
}

// -----

func.func @softmax_finalize_output(%m: tensor<64xf32>, %acc: tensor<64x32xf32>, %x: index) {
  // expected-error @+1 {{output tile must have the accumulator's shape 64x32, got 64x16}}
  %o, %lse = sparse_attn.softmax_finalize %m, %m, %acc rows(%x) : tensor<64xf32>, tensor<64x32xf32> -> tensor<64x16xf32>
  return
}

// -----

func.func @histogram_origin(%s: tensor<64x128xf32>, %t: tensor<32xf32>, %h: tensor<64x8xi32>) {
  // expected-error @+1 {{row max must have one entry per tile row (64), got 32}}
  %h1 = sparse_attn.entmax_histogram %s, %t, %h : tensor<64x128xf32>, tensor<32xf32>, tensor<64x8xi32>
  return
}

// -----

func.func @histogram_shape(%s: tensor<64x128xf32>, %t: tensor<64xf32>, %h: tensor<64x8x2xi32>) {
  // expected-error @+1 {{histogram must be 64xBINS (rows x bin counts), got 64x8x2}}
  %h1 = sparse_attn.entmax_histogram %s, %t, %h : tensor<64x128xf32>, tensor<64xf32>, tensor<64x8x2xi32>
  return
}

// -----

func.func @moments_rows(%s: tensor<64x128xf32>, %t: tensor<32xf32>) {
  // expected-error @+1 {{threshold must have one entry per tile row (64), got 32}}
  %a, %b, %c = sparse_attn.entmax_moments <alpha = 1.5> %s, %t, %t, %t, %t : tensor<64x128xf32>, tensor<32xf32>
  return
}

// -----

func.func @threshold_init_histogram_alpha(%m: tensor<64xf32>, %h: tensor<64x8xi32>) {
  // expected-error @+1 {{the histogram start needs alpha 1.5 or 2, got 1.25}}
  %t, %lo, %hi = sparse_attn.entmax_threshold_init <alpha = 1.25> %m, %m histogram(%h : tensor<64x8xi32>) : tensor<64xf32>
  return
}

// -----

func.func @threshold_init_histogram_shape(%m: tensor<64xf32>, %h: tensor<32x8xi32>) {
  // expected-error @+1 {{histogram must be 64xBINS (rows x bin counts), got 32x8}}
  %t, %lo, %hi = sparse_attn.entmax_threshold_init <alpha = 2.0> %m, %m histogram(%h : tensor<32x8xi32>) : tensor<64xf32>
  return
}

// -----

func.func @entmax_accumulate_rows(%s: tensor<64x128xf32>, %v: tensor<128x32xf32>, %t: tensor<128xf32>, %acc: tensor<64x32xf32>) {
  // expected-error @+1 {{threshold must have one entry per tile row (64), got 128}}
  %a1, %l1 = sparse_attn.entmax_accumulate <alpha = 1.5> %s, %v, %t, %acc, %t : tensor<64x128xf32>, tensor<128x32xf32>, tensor<128xf32>, tensor<64x32xf32>
  return
}

// -----

func.func @entmax_accumulate_accumulator(%s: tensor<64x128xf32>, %v: tensor<128x32xf32>, %t: tensor<64xf32>, %acc: tensor<32x32xf32>) {
  // expected-error @+1 {{accumulator must be 64x32 (score rows x value columns), got 32x32}}
  %a1, %l1 = sparse_attn.entmax_accumulate <alpha = 1.5> %s, %v, %t, %acc, %t : tensor<64x128xf32>, tensor<128x32xf32>, tensor<64xf32>, tensor<32x32xf32>
  return
}

// -----

func.func @entmax_weights_rows(%s: tensor<8x128xf32>, %t: tensor<16xf32>) {
  // expected-error @+1 {{threshold must have one entry per tile row (8), got 16}}
  %p = sparse_attn.entmax_weights <alpha = 1.5> %s, %t, %t : tensor<8x128xf32>, tensor<16xf32> -> tensor<8x128xf32>
  return
}

// -----

func.func @entmax_weights_shape(%s: tensor<8x128xf32>, %t: tensor<8xf32>) {
  // expected-error @+1 {{result must have the shape of the scores 8x128, got 8x64}}
  %p = sparse_attn.entmax_weights <alpha = 1.5> %s, %t, %t : tensor<8x128xf32>, tensor<8xf32> -> tensor<8x64xbf16>
  return
}

// -----

func.func @any_above_rows(%s: tensor<64x128xf32>, %t: tensor<128xf32>) {
  // expected-error @+1 {{threshold must have one entry per tile row (64), got 128}}
  %b = sparse_attn.any_above %s, %t : tensor<64x128xf32>, tensor<128xf32>
  return
}

// -----

func.func @entries_between_rows(%s: tensor<64x128xf32>, %t: tensor<128xf32>, %g: tensor<64x17xi32>) {
  // expected-error @+1 {{lower bound must have one entry per tile row (64), got 128}}
  %g1 = sparse_attn.entries_between %s, %t, %t, %g : tensor<64x128xf32>, tensor<128xf32>, tensor<64x17xi32>
  return
}

// -----

func.func @entries_between_record(%s: tensor<64x128xf32>, %t: tensor<64xf32>, %g: tensor<64x1xi32>) {
  // expected-error @+1 {{gap record must be 64x(1+K) (rows x count and K >= 1 entries), got 64x1}}
  %g1 = sparse_attn.entries_between %s, %t, %t, %g : tensor<64x128xf32>, tensor<64xf32>, tensor<64x1xi32>
  return
}

// -----

func.func @threshold_step_gap_alpha(%t: tensor<64xf32>, %g: tensor<64x17xi32>) {
  // expected-error @+1 {{takes a gap record only for alpha 1.5 or 2, got 1.25}}
  %a, %b, %c, %d = sparse_attn.entmax_threshold_step <alpha = 1.25> %t, %t, %t, %t, %t, %t gap(%g : tensor<64x17xi32>) : tensor<64xf32>
  return
}

// -----

func.func @threshold_step_gap_rows(%t: tensor<64xf32>, %g: tensor<32x17xi32>) {
  // expected-error @+1 {{gap record must be 64x(1+K) (rows x count and K >= 1 entries), got 32x17}}
  %a, %b, %c, %d = sparse_attn.entmax_threshold_step <alpha = 1.5> %t, %t, %t, %t, %t, %t gap(%g : tensor<32x17xi32>) : tensor<64xf32>
  return
}

// -----

func.func @entmax_finalize_rows(%t: tensor<32xf32>, %acc: tensor<64x32xf32>, %x: index) {
  // expected-error @+1 {{threshold must have one entry per tile row (64), got 32}}
  %o, %s = sparse_attn.entmax_finalize %t, %t, %acc rows(%x) : tensor<32xf32>, tensor<64x32xf32> -> tensor<64x32xf32>
  return
}

// -----

func.func @entmax_finalize_output(%t: tensor<64xf32>, %acc: tensor<64x32xf32>, %x: index) {
  // expected-error @+1 {{output tile must have the accumulator's shape 64x32, got 32x32}}
  %o, %s = sparse_attn.entmax_finalize %t, %t, %acc rows(%x) : tensor<64xf32>, tensor<64x32xf32> -> tensor<32x32xf32>
  return
}

// -----

func.func @select_vertical_slash_lists(%q: tensor<1x8x64x16xf32>) {
  // expected-error @+1 {{offsets and their count must have shapes 1x8x64 and 1x8, got 1x8x32 and 1x8}}
  %nc, %c, %no, %o = sparse_attn.select_vertical_slash %q, %q : tensor<1x8x64x16xf32>, tensor<1x8x64x16xf32> -> tensor<1x8xi32>, tensor<1x8x64xi32>, tensor<1x8xi32>, tensor<1x8x32xi32>
  return
}

// -----

func.func @select_vertical_slash_budgets(%q: tensor<1x8x64x16xf32>, %budgets: tensor<4x2xi32>) {
  // expected-error @+1 {{budgets must have shape 8x2 (vertical and slash size per query head), got 4x2}}
  %nc, %c, %no, %o = sparse_attn.select_vertical_slash %q, %q budgets(%budgets : tensor<4x2xi32>) : tensor<1x8x64x16xf32>, tensor<1x8x64x16xf32> -> tensor<1x8xi32>, tensor<1x8x64xi32>, tensor<1x8xi32>, tensor<1x8x64xi32>
  return
}

// -----

func.func @gather_tile_width(%k: tensor<?x?x?x64xbf16>, %rows: tensor<?xi32>, %i: index) {
  // expected-error @+1 {{tile rows must have the source head dimension (64), got 32}}
  %t = sparse_attn.gather_tile %k[%i, %i] rows(%rows[%i], %i) : tensor<?x?x?x64xbf16>, tensor<?xi32> -> tensor<64x32xbf16>
  return
}
