// --check: per-result errors against the float64 evaluator, tolerances,
// NaN/Inf handling, mask densities and the final verdict (exit 1 on FAIL).

// RUN: %python %S/Inputs/npy.py write %t.x.npy '<f4' 4 1.5,-2,inf,-inf
// RUN: sparse-attn-run %s --entry=identity --check --input=0=%t.x.npy \
// RUN:   | FileCheck %s --check-prefix=PASS
// PASS:      entry @identity (pipeline cpu)
// PASS-NEXT: arg #0: tensor<4xf32> npy {{.*}}.x.npy
// PASS-NEXT: arg #1: tensor<3xbf16> random normal
// PASS-NEXT: result #0: tensor<4xf32> min -inf max inf mean nan l2 inf
// PASS-NEXT: result #1: tensor<3xbf16>
// PASS-NEXT: result #2: index min 4 max 4 sum 4 nonzero 1
// PASS-NEXT: result #3: tensor<2x2xi32> min -1 max 6 sum 8 nonzero 4
// PASS-NEXT: check result #0: max relative error 0 (tolerance 1e-05) ok
// PASS-NEXT: check result #1: max relative error 0 (tolerance 0.01) ok
// PASS-NEXT: check result #2: 0 mismatches ok
// PASS-NEXT: check result #3: 0 mismatches ok
// PASS-NEXT: check: PASS

// RUN: sparse-attn-run %s --entry=identity --check --input=0=%t.x.npy --tolerance=0 \
// RUN:   | FileCheck %s --check-prefix=TOLERANCE
// TOLERANCE: check result #0: max relative error 0 (tolerance 0) ok
// TOLERANCE: check result #1: max relative error 0 (tolerance 0) ok

// NaN never passes.
// RUN: %python %S/Inputs/npy.py write %t.nan.npy '<f4' 2 1,nan
// RUN: %python %S/Inputs/exit-code.py sparse-attn-run %s --entry=identity --check \
// RUN:   --input=0=%t.nan.npy | FileCheck %s --check-prefix=NAN
// NAN:      result #0: tensor<2xf32> min nan max nan mean nan l2 nan
// NAN:      check result #0: max relative error 0 (tolerance 1e-05) FAIL (1 NaN/Inf mismatches)
// NAN-NEXT: check result #1: max relative error 0 (tolerance 0.01) ok
// NAN:      check: FAIL
// NAN-NEXT: exit code: 1
func.func @identity(%x: tensor<?xf32>, %y: tensor<3xbf16>)
    -> (tensor<?xf32>, tensor<3xbf16>, index, tensor<2x2xi32>) {
  %c0 = arith.constant 0 : index
  %n = tensor.dim %x, %c0 : tensor<?xf32>
  %ints = arith.constant dense<[[1, 2], [-1, 6]]> : tensor<2x2xi32>
  return %x, %y, %n, %ints : tensor<?xf32>, tensor<3xbf16>, index, tensor<2x2xi32>
}

// Every mask value in program order with its block density per (b, h).
// Causal 128x160 with 64x64 blocks: the top-right block is empty (5/6).
// mask_from_indices, head 0: query block 0 lists key block 2, block 1
// nothing (1/6); head 1: block 0 lists all three, block 1 has a count of 5
// (clamped to 3) with entries 0, -1 and 7 of which only 0 is in range (4/6).
// RUN: %python %S/Inputs/npy.py write %t.num.npy '<i4' 1x2x2 1,0,3,5
// RUN: %python %S/Inputs/npy.py write %t.idx.npy '<i4' 1x2x2x3 2,0,0,0,0,0,0,1,2,0,-1,7
// RUN: sparse-attn-run %s --entry=masks --check --input=0=%t.num.npy \
// RUN:   --input=1=%t.idx.npy --scalar=2=160 | FileCheck %s --check-prefix=MASKS
// MASKS:      check result #0: 0 mismatches ok
// MASKS-NEXT: mask %0 (sparse_attn.causal_mask) density per head: b0h0 0.833
// MASKS-NEXT: mask %1 (sparse_attn.streaming_mask) density per head: b0h0 0.833
// MASKS-NEXT: mask %2 (sparse_attn.dense_mask) density per head: b0h0 1.000
// MASKS-NEXT: mask %3 (sparse_attn.mask_from_indices) density per head: b0h0 0.167 b0h1 0.667
// MASKS-NEXT: mask %4 (sparse_attn.mask_union) density per head: b0h0 1.000 b0h1 1.000
// MASKS-NEXT: mask %5 (sparse_attn.mask_intersect) density per head: b0h0 0.000 b0h1 0.500
// MASKS-NEXT: check: PASS

// Generated block lists.
// RUN: sparse-attn-run %s --entry=masks --check --scalar=2=160 \
// RUN:   | FileCheck %s --check-prefix=GENERATED
// GENERATED:      arg #0: tensor<1x2x2xi32> random block counts
// GENERATED-NEXT: arg #1: tensor<1x2x2x3xi32> random block indices
// GENERATED-NEXT: arg #2: index scalar 160
// GENERATED:      mask %3 (sparse_attn.mask_from_indices) density per head: b0h0 {{[01]\.[0-9][0-9][0-9]}} b0h1 {{[01]\.[0-9][0-9][0-9]}}{{$}}
// GENERATED:      check: PASS
func.func @masks(%num: tensor<1x2x2xi32>, %idx: tensor<1x2x2x3xi32>, %n: index)
    -> tensor<1x2x2xi32> {
  %causal = sparse_attn.causal_mask(%n)
      : !sparse_attn.block_mask<1x1x128x?, block = 64x64>
  %streaming = sparse_attn.streaming_mask() sink(16) window(64)
      : !sparse_attn.block_mask<1x1x128x160, block = 64x64>
  %dense = sparse_attn.dense_mask(%n)
      : !sparse_attn.block_mask<1x1x128x?, block = 64x64>
  %flex = sparse_attn.mask_from_indices %num, %idx ()
      : tensor<1x2x2xi32>, tensor<1x2x2x3xi32>
      -> !sparse_attn.block_mask<1x2x128x160, block = 64x64>
  %union = sparse_attn.mask_union %flex, %causal
      : !sparse_attn.block_mask<1x2x128x160, block = 64x64>,
        !sparse_attn.block_mask<1x1x128x?, block = 64x64>
      -> !sparse_attn.block_mask<1x2x128x160, block = 64x64>
  %intersection = sparse_attn.mask_intersect %flex, %causal
      : !sparse_attn.block_mask<1x2x128x160, block = 64x64>,
        !sparse_attn.block_mask<1x1x128x?, block = 64x64>
      -> !sparse_attn.block_mask<1x2x128x160, block = 64x64>
  return %num : tensor<1x2x2xi32>
}

// The prefill estimators, head routing and the prefill op: one density line
// per estimated or routed mask, and one for the mask a prefill estimates,
// named by the prefill's output. 4 x 4 blocks of 8 tokens over 32 queries
// and keys; a causal pattern keeps at most 10 of 16 blocks.
// RUN: sparse-attn-run %s --entry=prefill --check | FileCheck %s --check-prefix=PREFILL
// PREFILL:      check result #0: max relative error {{.*}} ok
// PREFILL-NEXT: check result #1: max relative error {{.*}} ok
// PREFILL-NEXT: check result #2: 0 mismatches ok
// PREFILL-NEXT: mask %0 (sparse_attn.xattention_mask) density per head: b0h0 0.{{[0-9]+}} b0h1 0.{{[0-9]+}}{{$}}
// PREFILL-NEXT: mask %result (sparse_attn.flexprefill_mask) density per head: b0h0 0.{{[0-9]+}} b0h1 0.{{[0-9]+}}{{$}}
// PREFILL-NEXT: mask %1 (sparse_attn.vertical_slash_mask) density per head: b0h0 0.{{[0-9]+}} b0h1 0.{{[0-9]+}}{{$}}
// PREFILL-NEXT: mask %2 (sparse_attn.mask_route_heads) density per head: b0h0 1.000 b0h1 0.{{[0-9]+}}{{$}}
// PREFILL-NEXT: mask %output_0 (sparse_attn.prefill) density per head: b0h0 0.{{[0-9]+}} b0h1 0.{{[0-9]+}}{{$}}
// PREFILL-NEXT: check: PASS
func.func @prefill(%q: tensor<1x2x32x8xf32>, %k: tensor<1x1x32x8xf32>, %v: tensor<1x1x32x8xf32>)
    -> (tensor<1x2x32x8xf32>, tensor<1x2x32x8xf32>, tensor<1x2xi32>) {
  %x = sparse_attn.xattention_mask <stride = 4, threshold = 0.5> causal %q, %k
      : tensor<1x2x32x8xf32>, tensor<1x1x32x8xf32> -> !sparse_attn.block_mask<1x2x32x32, block = 8x8>
  %f, %patterns = sparse_attn.flexprefill_mask <min_budget = 8> %q, %k
      : tensor<1x2x32x8xf32>, tensor<1x1x32x8xf32>
      -> !sparse_attn.block_mask<1x2x32x32, block = 8x8>, tensor<1x2xi32>
  %vs = sparse_attn.vertical_slash_mask <vertical_size = 4, slash_size = 4, sink = 1, local = 1> %q, %k
      : tensor<1x2x32x8xf32>, tensor<1x1x32x8xf32> -> !sparse_attn.block_mask<1x2x32x32, block = 8x8>
  %kinds = arith.constant dense<[0, 1]> : tensor<2xi32>
  %routed = sparse_attn.mask_route_heads %kinds masks(%vs : !sparse_attn.block_mask<1x2x32x32, block = 8x8>)
      () : tensor<2xi32> -> !sparse_attn.block_mask<1x2x32x32, block = 8x8>
  %o = sparse_attn.attention softmax causal %q, %k, %v
      mask(%routed : !sparse_attn.block_mask<1x2x32x32, block = 8x8>)
      : tensor<1x2x32x8xf32>, tensor<1x1x32x8xf32>, tensor<1x1x32x8xf32> -> tensor<1x2x32x8xf32>
  %p = sparse_attn.prefill xattention<stride = 4, threshold = 0.5> causal %q, %k, %v block(8)
      : tensor<1x2x32x8xf32>, tensor<1x1x32x8xf32>, tensor<1x1x32x8xf32> -> tensor<1x2x32x8xf32>
  return %o, %p, %patterns : tensor<1x2x32x8xf32>, tensor<1x2x32x8xf32>, tensor<1x2xi32>
}

// select_blocks: the index lists and pattern codes equal the evaluator's.
// RUN: sparse-attn-run %s --entry=select_blocks --check | FileCheck %s --check-prefix=SELECT
// SELECT:      check result #0: 0 mismatches ok
// SELECT-NEXT: check result #1: 0 mismatches ok
// SELECT-NEXT: check result #2: 0 mismatches ok
// SELECT-NEXT: check result #3: 0 mismatches ok
// SELECT-NEXT: check result #4: 0 mismatches ok
// SELECT-NEXT: check: PASS
func.func @select_blocks(%q: tensor<1x2x32x8xf32>, %k: tensor<1x1x32x8xf32>)
    -> (tensor<1x2x4xi32>, tensor<1x2x4x4xi32>, tensor<1x2x4xi32>, tensor<1x2x4x4xi32>, tensor<1x2xi32>) {
  %xn, %xi = sparse_attn.select_blocks xattention<stride = 4, threshold = 0.5> causal %q, %k block(8, 8)
      : tensor<1x2x32x8xf32>, tensor<1x1x32x8xf32> -> tensor<1x2x4xi32>, tensor<1x2x4x4xi32>
  %fn, %fi, %patterns = sparse_attn.select_blocks flexprefill<min_budget = 8> causal %q, %k block(8, 8)
      : tensor<1x2x32x8xf32>, tensor<1x1x32x8xf32> -> tensor<1x2x4xi32>, tensor<1x2x4x4xi32>, tensor<1x2xi32>
  return %xn, %xi, %fn, %fi, %patterns
      : tensor<1x2x4xi32>, tensor<1x2x4x4xi32>, tensor<1x2x4xi32>, tensor<1x2x4x4xi32>, tensor<1x2xi32>
}
