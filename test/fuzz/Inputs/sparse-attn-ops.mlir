// Seeds of the mutation fuzzer (test/fuzz/mutation-fuzz.py): every sparse_attn
// op with every optional operand and attribute, static and dynamic shapes.
// Each chunk verifies; the fuzzer mutates them.

func.func @softmax_everything(%q: tensor<2x8x37x16xf32>, %k: tensor<2x2x45x16xf32>,
    %v: tensor<2x2x45x8xf32>, %ql: tensor<2xi32>, %kl: tensor<2xi32>,
    %bias: tensor<8x5xf32>) -> (tensor<2x8x37x8xf32>, tensor<2x8x37xf32>) {
  %m = sparse_attn.causal_mask() : !sparse_attn.block_mask<1x1x37x45, block = 16x32>
  %o, %lse = sparse_attn.attention softmax causal %q, %k, %v
      mask(%m : !sparse_attn.block_mask<1x1x37x45, block = 16x32>)
      query_lengths(%ql : tensor<2xi32>) key_lengths(%kl : tensor<2xi32>)
      bias(%bias : tensor<8x5xf32>) scale(0.25)
      : tensor<2x8x37x16xf32>, tensor<2x2x45x16xf32>, tensor<2x2x45x8xf32>
      -> tensor<2x8x37x8xf32>, tensor<2x8x37xf32>
  return %o, %lse : tensor<2x8x37x8xf32>, tensor<2x8x37xf32>
}

// -----

func.func @entmax_dynamic(%q: tensor<?x4x?x64xbf16>, %k: tensor<?x1x?x64xbf16>,
    %v: tensor<?x1x?x64xbf16>, %kl: tensor<?xi32>) -> (tensor<?x4x?x64xbf16>, tensor<?x4x?xf32>) {
  %o, %tau = sparse_attn.attention entmax<alpha = 1.5, iterations = 3> %q, %k, %v
      key_lengths(%kl : tensor<?xi32>)
      : tensor<?x4x?x64xbf16>, tensor<?x1x?x64xbf16>, tensor<?x1x?x64xbf16>
      -> tensor<?x4x?x64xbf16>, tensor<?x4x?xf32>
  return %o, %tau : tensor<?x4x?x64xbf16>, tensor<?x4x?xf32>
}

// -----

func.func @sparsemax(%q: tensor<1x2x9x8xf16>, %k: tensor<1x2x17x8xf16>,
    %v: tensor<1x2x17x4xf16>) -> tensor<1x2x9x4xf16> {
  %o = sparse_attn.attention entmax<alpha = 2.0> causal %q, %k, %v
      : tensor<1x2x9x8xf16>, tensor<1x2x17x8xf16>, tensor<1x2x17x4xf16> -> tensor<1x2x9x4xf16>
  return %o : tensor<1x2x9x4xf16>
}

// -----

func.func @elastic(%q: tensor<1x8x33x32xbf16>, %k: tensor<1x8x33x32xbf16>,
    %v: tensor<1x8x33x32xbf16>, %bias: tensor<8x64xbf16>, %tau: tensor<8xbf16>)
    -> (tensor<1x8x33x32xbf16>, tensor<1x8x33xf32>) {
  %o, %lse = sparse_attn.attention elastic_softmax causal %q, %k, %v
      bias(%bias : tensor<8x64xbf16>) tau(%tau : tensor<8xbf16>)
      : tensor<1x8x33x32xbf16>, tensor<1x8x33x32xbf16>, tensor<1x8x33x32xbf16>
      -> tensor<1x8x33x32xbf16>, tensor<1x8x33xf32>
  return %o, %lse : tensor<1x8x33x32xbf16>, tensor<1x8x33xf32>
}

// -----

func.func @rowwise(%a: tensor<7xf16>, %b: tensor<3x?x5xf32>, %c: tensor<2x2x2x130xbf16>)
    -> (tensor<7xf16>, tensor<3x?x5xf32>, tensor<2x2x2x130xbf16>) {
  %pa = sparse_attn.entmax %a <alpha = 1.25> : tensor<7xf16>
  %pb = sparse_attn.entmax %b <alpha = 3.0, iterations = 20> : tensor<3x?x5xf32>
  %pc = sparse_attn.entmax %c <alpha = 2.0> : tensor<2x2x2x130xbf16>
  return %pa, %pb, %pc : tensor<7xf16>, tensor<3x?x5xf32>, tensor<2x2x2x130xbf16>
}

// -----

func.func @producers(%b: index, %n: index) -> (tensor<?x3x?xi32>, tensor<?x3x?x?xi32>,
    tensor<?x3x?xi32>, tensor<?x3x?x?xi32>) {
  %d = sparse_attn.dense_mask(%b, %n, %n) : !sparse_attn.block_mask<?x1x?x?, block = 64x64>
  %c = sparse_attn.causal_mask(%n) : !sparse_attn.block_mask<1x3x?x100, block = 64x64>
  %s = sparse_attn.streaming_mask(%n, %n) sink(4) window(16)
      : !sparse_attn.block_mask<1x3x?x?, block = 64x64>
  %u = sparse_attn.mask_union %d, %s : !sparse_attn.block_mask<?x1x?x?, block = 64x64>,
      !sparse_attn.block_mask<1x3x?x?, block = 64x64> -> !sparse_attn.block_mask<?x3x?x?, block = 64x64>
  %i = sparse_attn.mask_intersect %u, %c : !sparse_attn.block_mask<?x3x?x?, block = 64x64>,
      !sparse_attn.block_mask<1x3x?x100, block = 64x64> -> !sparse_attn.block_mask<?x3x?x100, block = 64x64>
  %n0, %i0, %n1, %i1 = sparse_attn.mask_to_indices %u : !sparse_attn.block_mask<?x3x?x?, block = 64x64>
      -> tensor<?x3x?xi32>, tensor<?x3x?x?xi32>, tensor<?x3x?xi32>, tensor<?x3x?x?xi32>
  return %n0, %i0, %n1, %i1 : tensor<?x3x?xi32>, tensor<?x3x?x?xi32>, tensor<?x3x?xi32>, tensor<?x3x?x?xi32>
}

// -----

func.func @flex(%num: tensor<2x4x3xi32>, %idx: tensor<2x4x3x5xi32>, %fnum: tensor<2x4x3xi32>,
    %fidx: tensor<2x4x3x5xi32>, %q: tensor<2x4x40x16xf32>, %k: tensor<2x4x70x16xf32>,
    %v: tensor<2x4x70x16xf32>) -> (tensor<2x4x40x16xf32>, tensor<2x4x3xi32>, tensor<2x4x3x5xi32>,
    tensor<2x4x3xi32>, tensor<2x4x3x5xi32>) {
  %m = sparse_attn.mask_from_indices %num, %idx full(%fnum, %fidx) ()
      : tensor<2x4x3xi32>, tensor<2x4x3x5xi32>, tensor<2x4x3xi32>, tensor<2x4x3x5xi32>
      -> !sparse_attn.block_mask<2x4x40x70, block = 16x16>
  %o = sparse_attn.attention softmax %q, %k, %v mask(%m : !sparse_attn.block_mask<2x4x40x70, block = 16x16>)
      : tensor<2x4x40x16xf32>, tensor<2x4x70x16xf32>, tensor<2x4x70x16xf32> -> tensor<2x4x40x16xf32>
  %a, %b, %c, %d = sparse_attn.mask_to_indices %m : !sparse_attn.block_mask<2x4x40x70, block = 16x16>
      -> tensor<2x4x3xi32>, tensor<2x4x3x5xi32>, tensor<2x4x3xi32>, tensor<2x4x3x5xi32>
  return %o, %a, %b, %c, %d : tensor<2x4x40x16xf32>, tensor<2x4x3xi32>, tensor<2x4x3x5xi32>,
      tensor<2x4x3xi32>, tensor<2x4x3x5xi32>
}

// -----

func.func @flex_dynamic(%num: tensor<1x1x?xi32>, %idx: tensor<1x1x?x?xi32>, %nq: index,
    %nk: index) -> (tensor<1x1x?xi32>, tensor<1x1x?x?xi32>, tensor<1x1x?xi32>, tensor<1x1x?x?xi32>) {
  %m = sparse_attn.mask_from_indices %num, %idx (%nq, %nk)
      : tensor<1x1x?xi32>, tensor<1x1x?x?xi32> -> !sparse_attn.block_mask<1x1x?x?, block = 128x128>
  %a, %b, %c, %d = sparse_attn.mask_to_indices %m : !sparse_attn.block_mask<1x1x?x?, block = 128x128>
      -> tensor<1x1x?xi32>, tensor<1x1x?x?xi32>, tensor<1x1x?xi32>, tensor<1x1x?x?xi32>
  return %a, %b, %c, %d : tensor<1x1x?xi32>, tensor<1x1x?x?xi32>, tensor<1x1x?xi32>, tensor<1x1x?x?xi32>
}

// -----

func.func @constant_indices(%q: tensor<1x2x20x8xf32>, %k: tensor<1x2x20x8xf32>,
    %v: tensor<1x2x20x8xf32>) -> tensor<1x2x20x8xf32> {
  %num = arith.constant dense<[[[1, 2]]]> : tensor<1x1x2xi32>
  %idx = arith.constant dense<[[[[0, 1], [1, 0]]]]> : tensor<1x1x2x2xi32>
  %m = sparse_attn.mask_from_indices %num, %idx ()
      : tensor<1x1x2xi32>, tensor<1x1x2x2xi32> -> !sparse_attn.block_mask<1x1x20x20, block = 16x16>
  %c = sparse_attn.causal_mask() : !sparse_attn.block_mask<1x1x20x20, block = 16x16>
  %both = sparse_attn.mask_intersect %m, %c : !sparse_attn.block_mask<1x1x20x20, block = 16x16>,
      !sparse_attn.block_mask<1x1x20x20, block = 16x16> -> !sparse_attn.block_mask<1x1x20x20, block = 16x16>
  %o = sparse_attn.attention entmax<alpha = 1.75> %q, %k, %v
      mask(%both : !sparse_attn.block_mask<1x1x20x20, block = 16x16>) scale(1.0e-01)
      : tensor<1x2x20x8xf32>, tensor<1x2x20x8xf32>, tensor<1x2x20x8xf32> -> tensor<1x2x20x8xf32>
  return %o : tensor<1x2x20x8xf32>
}
