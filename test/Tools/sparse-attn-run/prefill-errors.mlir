// Runtime extents of the prefill ops that do not fit together are rejected
// by --check before the compiled code runs: the estimators' query and key,
// their per-head operands, and the prefill's mask.
// RUN: %python %S/Inputs/exit-code.py sparse-attn-run %s --entry=estimator --check \
// RUN:   --shape=0=1x2x8x4 --shape=1=2x1x8x4 --shape=2=2 2>&1 \
// RUN:   | FileCheck %s --check-prefix=ESTIMATOR
// ESTIMATOR: sparse-attn-run: error: --check: 'sparse_attn.xattention_mask': query 1x2x8x4 and key 2x1x8x4 do not fit together
// ESTIMATOR-NEXT: exit code: 2
// RUN: %python %S/Inputs/exit-code.py sparse-attn-run %s --entry=estimator --check \
// RUN:   --shape=0=1x2x8x4 --shape=1=1x1x8x4 --shape=2=3 2>&1 \
// RUN:   | FileCheck %s --check-prefix=PER-HEAD
// PER-HEAD: sparse-attn-run: error: --check: 'sparse_attn.xattention_mask': per-head operand 3 does not fit 2 query heads
// PER-HEAD-NEXT: exit code: 2
func.func @estimator(%q: tensor<?x2x8x4xf32>, %k: tensor<?x1x8x4xf32>, %t: tensor<?xf32>)
    -> tensor<?x2x8x4xf32> {
  %m = sparse_attn.xattention_mask <stride = 2> causal %q, %k thresholds(%t : tensor<?xf32>)
      : tensor<?x2x8x4xf32>, tensor<?x1x8x4xf32> -> !sparse_attn.block_mask<?x2x8x8, block = 4x4>
  %o = sparse_attn.attention softmax causal %q, %k, %k mask(%m : !sparse_attn.block_mask<?x2x8x8, block = 4x4>)
      : tensor<?x2x8x4xf32>, tensor<?x1x8x4xf32>, tensor<?x1x8x4xf32> -> tensor<?x2x8x4xf32>
  return %o : tensor<?x2x8x4xf32>
}

// RUN: %python %S/Inputs/exit-code.py sparse-attn-run %s --entry=prefill_mask --check \
// RUN:   --shape=0=1x2x8x4 --scalar=1=6 2>&1 | FileCheck %s --check-prefix=PREFILL-MASK
// PREFILL-MASK: sparse-attn-run: error: --check: 'sparse_attn.prefill': mask extents 1x1x6x8 do not fit the prefill 1x2x8x8
// PREFILL-MASK-NEXT: exit code: 2
func.func @prefill_mask(%q: tensor<1x2x?x4xf32>, %n: index) -> tensor<1x2x?x4xf32> {
  %m = sparse_attn.causal_mask(%n) : !sparse_attn.block_mask<1x1x?x8, block = 4x4>
  %o = sparse_attn.prefill xattention<stride = 2> causal %q, %q, %q
      mask(%m : !sparse_attn.block_mask<1x1x?x8, block = 4x4>) block(4)
      : tensor<1x2x?x4xf32>, tensor<1x2x?x4xf32>, tensor<1x2x?x4xf32> -> tensor<1x2x?x4xf32>
  return %o : tensor<1x2x?x4xf32>
}
