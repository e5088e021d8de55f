// Generated inputs follow each argument's role in the function: sequence
// lengths in [0, N], elastic-softmax tau in [-1.5, -0.5], bias N(0, 1) / 2,
// FlexAttention-like block lists (per query block a permutation of the key
// blocks; the partial count n1 and full count n2 with n1 + n2 <= KB, the full
// row being the permutation rotated by n1). The arguments are written before
// the function runs, so this test does not depend on the pipeline lowering
// the attention.

// RUN: rm -rf %t.inputs
// RUN: %python %S/Inputs/exit-code.py sparse-attn-run %s --entry=roles --shape=0=2x4x8x4 \
// RUN:   --write-outputs=%t.inputs > %t.log 2>&1
// RUN: FileCheck %s --input-file=%t.log
// CHECK:      arg #0: tensor<2x4x8x4xf32> random normal
// CHECK-NEXT: arg #1: tensor<2x2x6x4xf32> random normal
// CHECK-NEXT: arg #2: tensor<2x2x6x4xf32> random normal
// CHECK-NEXT: arg #3: tensor<2xi32> random lengths [0, 8]
// CHECK-NEXT: arg #4: tensor<2xi32> random lengths [0, 6]
// CHECK-NEXT: arg #5: tensor<4x3xf32> random normal * 0.5
// CHECK-NEXT: arg #6: tensor<4xf32> random uniform [-1.5, -0.5]
// CHECK-NEXT: arg #7: tensor<2x4x2xi32> random block counts
// CHECK-NEXT: arg #8: tensor<2x4x2x3xi32> random block indices
// CHECK-NEXT: arg #9: tensor<2x4x2xi32> random block counts
// CHECK-NEXT: arg #10: tensor<2x4x2x3xi32> random block indices

// The integer and uniform draws are exact across platforms.
// RUN: %python %S/Inputs/npy.py dump %t.inputs/arg3.npy | FileCheck %s --check-prefix=QUERY-LENGTHS
// QUERY-LENGTHS:      <i4 (2)
// QUERY-LENGTHS-NEXT: 1 8
// RUN: %python %S/Inputs/npy.py dump %t.inputs/arg4.npy | FileCheck %s --check-prefix=KEY-LENGTHS
// KEY-LENGTHS:      <i4 (2)
// KEY-LENGTHS-NEXT: 4 2
// RUN: %python %S/Inputs/npy.py dump %t.inputs/arg6.npy | FileCheck %s --check-prefix=TAU
// TAU:      <f4 (4)
// TAU-NEXT: -0.8688967823982239 -1.1529903411865234 -1.0642071962356567 -1.1074142456054688

// Rows (b, h, I) in order. n1 (partial counts) and n2 (full counts):
// RUN: %python %S/Inputs/npy.py dump %t.inputs/arg7.npy | FileCheck %s --check-prefix=PARTIAL-COUNTS
// PARTIAL-COUNTS:      <i4 (2x4x2)
// PARTIAL-COUNTS-NEXT: 3 3
// PARTIAL-COUNTS-NEXT: 0 3
// PARTIAL-COUNTS-NEXT: 1 3
// PARTIAL-COUNTS-NEXT: 2 0
// PARTIAL-COUNTS-NEXT: 1 3
// PARTIAL-COUNTS-NEXT: 0 2
// PARTIAL-COUNTS-NEXT: 2 2
// PARTIAL-COUNTS-NEXT: 3 3
// RUN: %python %S/Inputs/npy.py dump %t.inputs/arg9.npy | FileCheck %s --check-prefix=FULL-COUNTS
// FULL-COUNTS:      <i4 (2x4x2)
// FULL-COUNTS-NEXT: 0 0
// FULL-COUNTS-NEXT: 2 0
// FULL-COUNTS-NEXT: 0 0
// FULL-COUNTS-NEXT: 1 1
// FULL-COUNTS-NEXT: 2 0
// FULL-COUNTS-NEXT: 1 0
// FULL-COUNTS-NEXT: 0 1
// FULL-COUNTS-NEXT: 0 0
// The partial row is the permutation, the full row the permutation rotated
// by n1: e.g. row (0, 3, 0) has n1 = 2, n2 = 1, permutation 0 1 2, full 2.
// RUN: %python %S/Inputs/npy.py dump %t.inputs/arg8.npy | FileCheck %s --check-prefix=PARTIAL
// PARTIAL:      <i4 (2x4x2x3)
// PARTIAL-NEXT: 1 0 2
// PARTIAL-NEXT: 0 1 2
// PARTIAL-NEXT: 2 0 1
// PARTIAL-NEXT: 0 1 2
// PARTIAL-NEXT: 1 2 0
// PARTIAL-NEXT: 1 0 2
// PARTIAL-NEXT: 0 1 2
// PARTIAL-NEXT: 2 1 0
// RUN: %python %S/Inputs/npy.py dump %t.inputs/arg10.npy | FileCheck %s --check-prefix=FULL
// FULL:      <i4 (2x4x2x3)
// FULL-NEXT: 1 0 2
// FULL-NEXT: 0 1 2
// FULL-NEXT: 2 0 1
// FULL-NEXT: 0 1 2
// FULL-NEXT: 2 0 1
// FULL-NEXT: 1 0 2
// FULL-NEXT: 2 0 1
// FULL-NEXT: 2 1 0
func.func @roles(%q: tensor<2x4x?x4xf32>, %k: tensor<2x2x6x4xf32>,
                 %v: tensor<2x2x6x4xf32>, %query_lengths: tensor<2xi32>,
                 %key_lengths: tensor<2xi32>, %bias: tensor<4x3xf32>,
                 %tau: tensor<4xf32>, %num: tensor<2x4x2xi32>,
                 %idx: tensor<2x4x2x3xi32>, %full_num: tensor<2x4x2xi32>,
                 %full_idx: tensor<2x4x2x3xi32>) -> tensor<2x4x?x4xf32> {
  %mask = sparse_attn.mask_from_indices %num, %idx full(%full_num, %full_idx) ()
      : tensor<2x4x2xi32>, tensor<2x4x2x3xi32>, tensor<2x4x2xi32>,
        tensor<2x4x2x3xi32> -> !sparse_attn.block_mask<2x4x8x6, block = 4x2>
  %o = sparse_attn.attention elastic_softmax causal %q, %k, %v
      mask(%mask : !sparse_attn.block_mask<2x4x8x6, block = 4x2>)
      query_lengths(%query_lengths : tensor<2xi32>)
      key_lengths(%key_lengths : tensor<2xi32>)
      bias(%bias : tensor<4x3xf32>) tau(%tau : tensor<4xf32>)
      : tensor<2x4x?x4xf32>, tensor<2x2x6x4xf32>, tensor<2x2x6x4xf32>
      -> tensor<2x4x?x4xf32>
  return %o : tensor<2x4x?x4xf32>
}

// Scalars are never generated, not even the index sizes of a mask.
// RUN: %python %S/Inputs/exit-code.py sparse-attn-run %s --entry=mask_size 2>&1 \
// RUN:   | FileCheck %s --check-prefix=MASK-SIZE
// MASK-SIZE: sparse-attn-run: error: argument #0 (index): needs a value: pass --scalar=0=VALUE
// MASK-SIZE-NEXT: exit code: 2
func.func @mask_size(%n: index) -> index {
  %mask = sparse_attn.causal_mask(%n, %n)
      : !sparse_attn.block_mask<1x1x?x?, block = 64x64>
  return %n : index
}

// The prefill ops' operands: per-head thresholds in [0.5, 0.95], per-head
// budgets and estimator lengths in [0, N] (N the key or query extent), and
// head kinds among those the routing op can take (-1 with a streaming
// operand, 0 dense, 1 .. the number of masks).
// RUN: rm -rf %t.prefill
// RUN: %python %S/Inputs/exit-code.py sparse-attn-run %s --entry=prefill_roles \
// RUN:   --write-outputs=%t.prefill > %t.prefill.log 2>&1
// RUN: FileCheck %s --input-file=%t.prefill.log --check-prefix=PREFILL
// PREFILL:      arg #0: tensor<1x4x8x4xf32> random normal
// PREFILL-NEXT: arg #1: tensor<4xf32> random uniform [0.5, 0.95]
// PREFILL-NEXT: arg #2: tensor<4x2xi32> random budgets [0, 8]
// PREFILL-NEXT: arg #3: tensor<1xi32> random lengths [0, 8]
// PREFILL-NEXT: arg #4: tensor<4xi32> random kinds [-1, 2]
// RUN: %python %S/Inputs/npy.py dump %t.prefill/arg1.npy | FileCheck %s --check-prefix=THRESHOLDS
// THRESHOLDS:      <f4 (4)
// THRESHOLDS-NEXT: 0.6151483654975891 0.5397457480430603 0.6307229399681091 0.7548274397850037
// RUN: %python %S/Inputs/npy.py dump %t.prefill/arg2.npy | FileCheck %s --check-prefix=BUDGETS
// BUDGETS:      <i4 (4x2)
// BUDGETS-NEXT: 3 2
// BUDGETS-NEXT: 3 0
// BUDGETS-NEXT: 7 8
// BUDGETS-NEXT: 2 1
// RUN: %python %S/Inputs/npy.py dump %t.prefill/arg4.npy | FileCheck %s --check-prefix=KINDS
// KINDS:      <i4 (4)
// KINDS-NEXT: 1 0 -1 2
func.func @prefill_roles(%q: tensor<1x4x8x4xf32>, %thresholds: tensor<4xf32>,
                         %budgets: tensor<4x2xi32>, %lengths: tensor<1xi32>,
                         %kinds: tensor<4xi32>) -> tensor<1x4x8x4xf32> {
  %streaming = sparse_attn.streaming_mask() sink(1) window(2)
      : !sparse_attn.block_mask<1x1x8x8, block = 4x4>
  %vertical_slash = sparse_attn.vertical_slash_mask %q, %q budgets(%budgets : tensor<4x2xi32>)
      key_lengths(%lengths : tensor<1xi32>)
      : tensor<1x4x8x4xf32>, tensor<1x4x8x4xf32> -> !sparse_attn.block_mask<1x4x8x8, block = 4x4>
  %routed = sparse_attn.mask_route_heads %kinds
      streaming(%streaming : !sparse_attn.block_mask<1x1x8x8, block = 4x4>)
      masks(%vertical_slash, %streaming : !sparse_attn.block_mask<1x4x8x8, block = 4x4>,
                                          !sparse_attn.block_mask<1x1x8x8, block = 4x4>)
      () : tensor<4xi32> -> !sparse_attn.block_mask<1x4x8x8, block = 4x4>
  %o = sparse_attn.prefill xattention<stride = 2> causal %q, %q, %q
      mask(%routed : !sparse_attn.block_mask<1x4x8x8, block = 4x4>)
      thresholds(%thresholds : tensor<4xf32>) block(4)
      : tensor<1x4x8x4xf32>, tensor<1x4x8x4xf32>, tensor<1x4x8x4xf32> -> tensor<1x4x8x4xf32>
  return %o : tensor<1x4x8x4xf32>
}
