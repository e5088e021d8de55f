//===- Passes.td - sparse_attn conversion passes -----------*- tablegen -*-===//

#ifndef SPARSE_ATTN_CONVERSION_PASSES_TD
#define SPARSE_ATTN_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

def ConvertSparseAttnToLinalgPass
    : Pass<"convert-sparse-attn-to-linalg", "ModuleOp"> {
  let summary = "Lower sparse_attn ops to their naive reference form";
  let description = [{
    Rewrites every `sparse_attn` op into linalg, tensor, arith, math and scf
    ops on tensors in the most direct form of its definition
    (docs/design/semantics.md). The result is the oracle that the tiled
    lowerings are checked against; it is not meant to be fast.

    - `sparse_attn.attention` materialises the visibility
      `tensor<B x H x Nq x Nk x i1>` (valid lengths, bottom-right aligned
      causality, the mask with batch/head extents of 1 broadcast) and the f32
      scores `scale * q . k (+ bias)` over the full `[B, H, Nq, Nk]` matrix,
      normalises every row over its visible entries, and contracts the
      weights with the values. Key/value heads are read at `h / g` with
      `tensor.extract` (no copies; `g` may be dynamic). bf16/f16 are computed
      in f32 and the output rounded. Rows without a visible key give zeros
      and the statistic `-inf` (log-sum-exp) or `+inf` (entmax threshold).
    - Entmax (attention and the row-wise `sparse_attn.entmax`, one shared
      lowering) finds the threshold relative to the row maximum by bisection
      on `[-1, 0]` in an `scf.while` that runs until no row's bracket can
      shrink in f32, then divides the weights by their sum to remove the
      residual of the search. alpha = 2 and 1.5 use no `math.powf`. The
      `iterations` parameter is ignored: the reference is always solved to
      full precision.
    - Block masks become their token-level visibility
      `tensor<Bm x Hm x Nq x Nk x i1>` (the type converter also rewrites
      function signatures, calls, returns, branches and scf ops carrying
      them). `mask_to_indices` classifies every block by scanning its clipped
      region and lists full and partial blocks in ascending order.
    - The prefill estimators materialise every intermediate of their
      algorithm in f32 (antidiagonal scores, estimation rows of the last
      queries, block masses and profiles) and select exactly: each entry's
      rank counts the candidates before it in the ranked order, the values
      are gathered in that order and summed cumulatively in it, so that a
      threshold selects a prefix of the order; the masks are token-level
      (PrefillToLinalg.cpp). `mask_route_heads` selects per head among its
      operands; `prefill` becomes its estimator and attention
      (`PrefillOp::expand`), which then lower as above.

    Example:

    ```mlir
    %o = sparse_attn.attention softmax %q, %k, %v
        : tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>
        -> tensor<1x2x8x16xf32>
    ```

    becomes a `linalg.generic` computing the dot products (reduction over
    `D`), one scaling the scores, row max and row sum reductions, one
    computing the normalised weights, and a contraction with the values
    (reduction over `Nk`).
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::math::MathDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::tensor::TensorDialect",
  ];
}

def SparseAttnToGPUPass : Pass<"sparse-attn-to-gpu", "ModuleOp"> {
  let summary = "Map tiled sparse_attn grids onto CTAs and warps of a GPU "
                "kernel (tensor cores through nvgpu/nvvm)";
  let description = [{
    Turns every function whose body is one tiled grid (`scf.forall` tagged
    `sparse_attn.grid`, as built by `sparse-attn-tile` and rewritten by
    `sparse-attn-skip-blocks` / `sparse-attn-fuse`) into a `gpu.func`
    kernel of a `gpu.module` (docs/design/gpu-lowering.md):

    - one CTA per grid point of `warps` warps, each owning the same number
      of consecutive 16-row m-tiles of the query tile;
      the query-tile index is `gridDim.x - 1 - blockIdx.x` (heaviest causal
      tiles first), the head `blockIdx.y`, the batch `blockIdx.z`;
    - each tensor argument and result becomes a bare pointer
      (`memref<1xT>`), the extents the kernel reads and its dynamic strides
      (the last dimension of q/k/v/out contiguous), viewed inside as a
      strided memref; scalars stay scalars;
    - each tile value lives in registers in the mma.sync m16n8k16 fragment
      layout (f32 tiles as accumulator fragments, row vectors as the two
      rows a thread holds, the query tile as A-operand fragments loaded
      once with ldmatrix), except key and value tiles, which are staged in
      swizzled shared memory by `cp.async` one tile ahead of their use
      (the next tile streams in while the current one is consumed);
    - every tile op has one lowering onto these fragments: `score_tile` is
      Q K^T on tensor cores followed by the `visible` region evaluated on
      fragment coordinates, `online_softmax` the row statistics with quad
      shuffles, exp2, and P V with P re-packed from the accumulators into
      A operands in registers; finalisers store the rows to global memory.
      The query tile's A fragments stay in registers when they fit (one
      m-tile per warp, or a narrow head), else in shared memory, reloaded
      at each product. skip-blocks' choice between a full and a partial
      score tile computes the product once and masks only the partial one.
      The entmax solver's ops evaluate the formulas that the CPU form
      evaluates (EntmaxSolver.h) per row element; its histogram lives in
      shared memory (atomic adds), its block-mask list too, and the
      solver's convergence and each tile's mask bit are CTA-wide ORs.
      Elastic softmax records each key tile's row maxima in shared memory
      and skips the output pass's dead tiles with a CTA-wide OR; the bias
      is loaded inside its diagonal band only.
    - the row-wise entmax's grid (`load_score_chunk`, `entmax_weights`)
      maps a row tile onto a CTA and chunks of its rows onto the rows of
      the fragment layout, each thread holding whole 16-byte runs of the
      source (vector loads and stores where rows are contiguous and
      aligned, element accesses elsewhere); its output slab is written in
      place.
    - f32 tiles run both products on tf32 tensor cores (m16n8k8, f32
      accumulators in the same layout): each thread rounds the staged
      chunks it copied to tf32 in shared memory (cvt.rna) before the
      barrier that publishes them, P is rounded in registers, and V is read
      with 32-bit shared loads under a permutation of each k-step's keys
      that keeps P's A fragments equal to its score accumulators.

    A function whose body is one `sparse_attn.select_blocks` with the
    xattention method, returning both index tensors, becomes an estimator
    kernel instead: 256 threads per (query block, head, batch) score the
    block's strided rows against the key blocks it may see (two passes:
    softmax statistics, then block masses in shared memory), rank the
    competing blocks, walk them to the threshold and write the index row
    (docs/design/gpu-lowering.md, "Prefill estimators").

    The kernel keeps what a launcher needs as attributes: per argument
    `sparse_attn.tensor`/`sparse_attn.scalar` names and access, and
    `sparse_attn.launch` (grid expressions over argument sizes, block,
    dynamic shared memory), which `sparse-attn-compile-gpu` writes into a
    kernel bundle's manifest.
  }];
  let options = [
    Option<"scaleArgument", "scale-argument", "bool", /*default=*/"false",
           "Multiply every score tile's scale by an f32 kernel argument "
           "`scale` (compile the attention with scale 1)">,
    Option<"iterationsArgument", "iterations-argument", "bool",
           /*default=*/"false",
           "Kernels with an entmax threshold solver also stop it after an "
           "i32 kernel argument `niter` of passes (besides convergence and "
           "the compiled cap)">,
    Option<"warps", "warps", "int64_t", /*default=*/"4",
           "Warps of a CTA; they split the query tile's rows in 16-row "
           "m-tiles (32 rows each with 128-row tiles, as FlashAttention-2)">,
    Option<"minBlocksPerMultiprocessor", "min-blocks-per-sm", "int64_t",
           /*default=*/"1",
           "CTAs that must fit on one multiprocessor (nvvm.minctasm)">,
    Option<"exactF32", "exact-f32", "bool", /*default=*/"false",
           "f32 tiles: each product as three tf32 products of a hi/lo split "
           "of its operands (3xTF32: near-f32 accuracy for three times the "
           "tensor-core work) instead of one on operands rounded to tf32">,
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::gpu::GPUDialect",
    "::mlir::LLVM::LLVMDialect",
    "::mlir::math::MathDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::NVVM::NVVMDialect",
    "::mlir::nvgpu::NVGPUDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::vector::VectorDialect",
  ];
}

def SparseAttnKernelsToNVVMPass
    : Pass<"sparse-attn-kernels-to-nvvm", "::mlir::gpu::GPUModuleOp"> {
  let summary = "Lower the kernels of a gpu.module to NVVM and LLVM with one "
                "index width";
  let description = [{
    One dialect conversion of everything sparse-attn-to-gpu emits inside a
    `gpu.module` (gpu, nvgpu, vector, memref, arith, index, cf) to the NVVM
    and LLVM dialects, with a single LLVM type converter. Upstream's
    `convert-nvgpu-to-nvvm` always uses 64-bit indices, so it cannot run
    next to `convert-gpu-to-nvvm{index-bitwidth=32}`; 32-bit index
    arithmetic halves the registers the kernels spend on addresses. Memref
    descriptors (hence the kernels' size, stride and offset parameters) use
    the same width. Run `expand-strided-metadata` and `convert-scf-to-cf`
    first.
  }];
  let options = [
    Option<"indexBitwidth", "index-bitwidth", "unsigned", /*default=*/"32",
           "Bits of the index type in the kernels (32 or 64)">,
    Option<"barePointers", "bare-pointers", "bool", /*default=*/"true",
           "Pass statically shaped memref arguments as one pointer each">,
  ];
  let dependentDialects = [
    "::mlir::LLVM::LLVMDialect",
    "::mlir::NVVM::NVVMDialect",
  ];
}

#endif // SPARSE_ATTN_CONVERSION_PASSES_TD
