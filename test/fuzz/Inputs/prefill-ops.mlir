// Seeds of the mutation fuzzer (test/fuzz/mutation-fuzz.py): the prefill
// ops (estimators, head routing, prefill) with every optional operand,
// attribute and configuration parameter, static and dynamic shapes. Each
// chunk verifies; the fuzzer mutates them.

func.func @xattention(%q: tensor<2x4x37x8xf32>, %k: tensor<2x2x45x8xf32>, %v: tensor<2x2x45x8xf32>,
    %t: tensor<4xf32>, %ql: tensor<2xi32>, %kl: tensor<2xi32>) -> tensor<2x4x37x8xf32> {
  %m = sparse_attn.xattention_mask <stride = 4> causal %q, %k thresholds(%t : tensor<4xf32>)
      query_lengths(%ql : tensor<2xi32>) key_lengths(%kl : tensor<2xi32>) scale(0.25)
      : tensor<2x4x37x8xf32>, tensor<2x2x45x8xf32> -> !sparse_attn.block_mask<2x4x37x45, block = 8x16>
  %o = sparse_attn.attention softmax causal %q, %k, %v
      mask(%m : !sparse_attn.block_mask<2x4x37x45, block = 8x16>)
      : tensor<2x4x37x8xf32>, tensor<2x2x45x8xf32>, tensor<2x2x45x8xf32> -> tensor<2x4x37x8xf32>
  return %o : tensor<2x4x37x8xf32>
}

// -----

func.func @flexprefill(%q: tensor<1x2x50x8xbf16>, %len: tensor<1xi32>)
    -> (tensor<1x2x7xi32>, tensor<1x2xi32>) {
  %m, %p = sparse_attn.flexprefill_mask <gamma = 0.8, tau = 0.2, min_budget = 8, max_budget = 32> %q, %q
      key_lengths(%len : tensor<1xi32>)
      : tensor<1x2x50x8xbf16>, tensor<1x2x50x8xbf16> -> !sparse_attn.block_mask<1x2x50x50, block = 8x8>, tensor<1x2xi32>
  %n, %i, %fn, %fi = sparse_attn.mask_to_indices %m : !sparse_attn.block_mask<1x2x50x50, block = 8x8>
      -> tensor<1x2x7xi32>, tensor<1x2x7x7xi32>, tensor<1x2x7xi32>, tensor<1x2x7x7xi32>
  return %n, %p : tensor<1x2x7xi32>, tensor<1x2xi32>
}

// -----

func.func @vertical_slash(%q: tensor<1x2x?x8xf16>, %k: tensor<1x1x?x8xf16>, %b: tensor<2x2xi32>)
    -> tensor<1x2x?x8xf16> {
  %m = sparse_attn.vertical_slash_mask <last_queries = 4, sink = 1, local = 2> %q, %k budgets(%b : tensor<2x2xi32>)
      : tensor<1x2x?x8xf16>, tensor<1x1x?x8xf16> -> !sparse_attn.block_mask<1x2x?x?, block = 4x4>
  %o = sparse_attn.attention softmax causal %q, %k, %k mask(%m : !sparse_attn.block_mask<1x2x?x?, block = 4x4>)
      : tensor<1x2x?x8xf16>, tensor<1x1x?x8xf16>, tensor<1x1x?x8xf16> -> tensor<1x2x?x8xf16>
  return %o : tensor<1x2x?x8xf16>
}

// -----

func.func @route_heads(%q: tensor<1x4x20x8xf32>, %kinds: tensor<4xi32>) -> tensor<1x4x20x8xf32> {
  %s = sparse_attn.streaming_mask() sink(2) window(4) : !sparse_attn.block_mask<1x1x20x20, block = 4x4>
  %x = sparse_attn.xattention_mask <stride = 2, threshold = 0.5> causal %q, %q
      : tensor<1x4x20x8xf32>, tensor<1x4x20x8xf32> -> !sparse_attn.block_mask<1x4x20x20, block = 4x4>
  %m = sparse_attn.mask_route_heads %kinds streaming(%s : !sparse_attn.block_mask<1x1x20x20, block = 4x4>)
      masks(%x, %s : !sparse_attn.block_mask<1x4x20x20, block = 4x4>, !sparse_attn.block_mask<1x1x20x20, block = 4x4>)
      () : tensor<4xi32> -> !sparse_attn.block_mask<1x4x20x20, block = 4x4>
  %o = sparse_attn.attention softmax causal %q, %q, %q mask(%m : !sparse_attn.block_mask<1x4x20x20, block = 4x4>)
      : tensor<1x4x20x8xf32>, tensor<1x4x20x8xf32>, tensor<1x4x20x8xf32> -> tensor<1x4x20x8xf32>
  return %o : tensor<1x4x20x8xf32>
}

// -----

func.func @prefill(%q: tensor<2x4x?x8xf32>, %k: tensor<2x2x?x8xf32>, %t: tensor<4xf32>,
    %b: tensor<4x2xi32>, %len: tensor<2xi32>, %n: index)
    -> (tensor<2x4x?x8xf32>, tensor<2x4x?xf32>, tensor<2x4x?x8xf32>, tensor<2x4x?x8xf32>, tensor<2x4x?x8xf32>) {
  %s = sparse_attn.streaming_mask(%n, %n) sink(1) window(8) : !sparse_attn.block_mask<1x1x?x?, block = 16x16>
  %x, %lse = sparse_attn.prefill xattention<stride = 2, threshold = 0.9> causal %q, %k, %k
      mask(%s : !sparse_attn.block_mask<1x1x?x?, block = 16x16>) query_lengths(%len : tensor<2xi32>)
      key_lengths(%len : tensor<2xi32>) scale(0.5) block(16)
      : tensor<2x4x?x8xf32>, tensor<2x2x?x8xf32>, tensor<2x2x?x8xf32> -> tensor<2x4x?x8xf32>, tensor<2x4x?xf32>
  %f = sparse_attn.prefill flexprefill<min_budget = 16> causal %q, %k, %k block(16)
      : tensor<2x4x?x8xf32>, tensor<2x2x?x8xf32>, tensor<2x2x?x8xf32> -> tensor<2x4x?x8xf32>
  %m = sparse_attn.prefill minference<last_queries = 8> causal %q, %k, %k budgets(%b : tensor<4x2xi32>)
      : tensor<2x4x?x8xf32>, tensor<2x2x?x8xf32>, tensor<2x2x?x8xf32> -> tensor<2x4x?x8xf32>
  %d = sparse_attn.prefill full %q, %k, %k mask(%s : !sparse_attn.block_mask<1x1x?x?, block = 16x16>)
      : tensor<2x4x?x8xf32>, tensor<2x2x?x8xf32>, tensor<2x2x?x8xf32> -> tensor<2x4x?x8xf32>
  return %x, %lse, %f, %m, %d : tensor<2x4x?x8xf32>, tensor<2x4x?xf32>, tensor<2x4x?x8xf32>, tensor<2x4x?x8xf32>, tensor<2x4x?x8xf32>
}

// -----

func.func private @configurations() attributes {c = [#sparse_attn.xattention<stride = 16, threshold = 0.95>,
    #sparse_attn.flexprefill<gamma = 0.95, tau = 0.0, min_budget = 0, max_budget = 1>,
    #sparse_attn.minference<vertical_size = 0, slash_size = 1, last_queries = 1, sink = 0, local = 0>,
    #sparse_attn.full]}

// -----

func.func @select_blocks(%q: tensor<2x4x37x8xf32>, %k: tensor<2x2x45x8xf32>, %t: tensor<4xf32>,
    %ql: tensor<2xi32>, %kl: tensor<2xi32>) -> (tensor<2x4x5xi32>, tensor<2x4x5x3xi32>, tensor<2x4xi32>) {
  %n, %i = sparse_attn.select_blocks xattention<stride = 4> causal %q, %k thresholds(%t : tensor<4xf32>)
      query_lengths(%ql : tensor<2xi32>) key_lengths(%kl : tensor<2xi32>) scale(0.25) block(8, 16)
      : tensor<2x4x37x8xf32>, tensor<2x2x45x8xf32> -> tensor<2x4x5xi32>, tensor<2x4x5x3xi32>
  %fn, %fi, %p = sparse_attn.select_blocks flexprefill<gamma = 0.8, min_budget = 16> causal %q, %k
      key_lengths(%kl : tensor<2xi32>) block(16, 16)
      : tensor<2x4x37x8xf32>, tensor<2x2x45x8xf32> -> tensor<2x4x3xi32>, tensor<2x4x3x3xi32>, tensor<2x4xi32>
  return %n, %i, %p : tensor<2x4x5xi32>, tensor<2x4x5x3xi32>, tensor<2x4xi32>
}
