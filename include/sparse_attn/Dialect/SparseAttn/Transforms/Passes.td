//===- Passes.td - sparse_attn transformation passes -------*- tablegen -*-===//

#ifndef SPARSE_ATTN_TRANSFORMS_PASSES_TD
#define SPARSE_ATTN_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def SparseAttnExpandPrefillPass
    : Pass<"sparse-attn-expand-prefill", "ModuleOp"> {
  let summary = "Rewrite every sparse_attn.prefill into its mask estimator "
                "and sparse_attn.attention";
  let description = [{
    Each `sparse_attn.prefill` becomes the estimator its pattern names
    (`xattention` -> `sparse_attn.xattention_mask` with the prefill's
    `causal` and `thresholds`, `flexprefill` -> `sparse_attn.flexprefill_mask`,
    `minference` -> `sparse_attn.vertical_slash_mask` with `budgets`; square
    blocks of the prefill's block size), intersected with the prefill's
    `mask` operand when there is one (`sparse_attn.mask_intersect`), and a
    softmax `sparse_attn.attention` with the prefill's `causal`, lengths,
    `scale` and results. The `full` pattern becomes the attention alone.
    The lowerings then see only estimators and attention; the expansion is
    `PrefillOp::expand`, which the reference lowering uses too.

    Before:

    ```mlir
    %o = sparse_attn.prefill xattention<threshold = 0.95> causal %q, %k, %v
        : tensor<1x8x4096x64xbf16>, tensor<1x2x4096x64xbf16>,
          tensor<1x2x4096x64xbf16> -> tensor<1x8x4096x64xbf16>
    ```

    After:

    ```mlir
    %m = sparse_attn.xattention_mask <threshold = 0.95> causal %q, %k
        : tensor<1x8x4096x64xbf16>, tensor<1x2x4096x64xbf16>
        -> !sparse_attn.block_mask<1x8x4096x4096, block = 128x128>
    %o = sparse_attn.attention softmax causal %q, %k, %v
        mask(%m : !sparse_attn.block_mask<1x8x4096x4096, block = 128x128>)
        : tensor<1x8x4096x64xbf16>, tensor<1x2x4096x64xbf16>,
          tensor<1x2x4096x64xbf16> -> tensor<1x8x4096x64xbf16>
    ```
  }];
  let statistics = [
    Statistic<"numExpanded", "expanded-prefills",
              "Prefill ops rewritten into an estimator and attention">,
  ];
}

#endif // SPARSE_ATTN_TRANSFORMS_PASSES_TD
