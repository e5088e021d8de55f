//===- Pipelines.h - sparse_attn pass pipelines -----------------*- C++ -*-===//

#ifndef SPARSE_ATTN_PIPELINES_PIPELINES_H
#define SPARSE_ATTN_PIPELINES_PIPELINES_H

#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassOptions.h"

namespace mlir::sparse_attn {

/// `sparse-attn-reference`: every sparse_attn op in its naive reference form
/// (convert-sparse-attn-to-linalg), bufferized and lowered to the LLVM
/// dialect for the host. Functions marked `llvm.emit_c_interface` get the C
/// wrappers the ExecutionEngine calls.
void buildReferencePipeline(OpPassManager &pm);

/// The host part shared by the CPU pipelines: tensors on linalg/scf/arith/
/// math to the LLVM dialect (one-shot bufferization across function
/// boundaries with identity layouts, ownership-based deallocation).
void buildHostLoweringPipeline(OpPassManager &pm);

/// Options of `sparse-attn-to-cpu`.
struct CpuPipelineOptions : public PassPipelineOptions<CpuPipelineOptions> {
  Option<int64_t> queryTile{*this, "query-tile",
                            llvm::cl::desc("Rows of a query tile"),
                            llvm::cl::init(64)};
  Option<int64_t> keyTile{*this, "key-tile",
                          llvm::cl::desc("Keys of a key tile"),
                          llvm::cl::init(64)};
  Option<bool> instrument{
      *this, "instrument",
      llvm::cl::desc("Count tiles visited, passes over the keys and solver "
                     "iterations into @sparse_attn_counters "
                     "(sparse-attn-instrument)"),
      llvm::cl::init(false)};
};

/// `sparse-attn-to-cpu`: sparse-attn-expand-prefill,
/// sparse-attn-decompose-estimators, sparse-attn-tile,
/// sparse-attn-skip-blocks and
/// sparse-attn-fuse (sparse-attn-instrument on request), the tile ops
/// decomposed into linalg on tensors, the remaining mask ops in their
/// reference form, then the host lowering.
void buildCpuPipeline(OpPassManager &pm, const CpuPipelineOptions &options);

/// Options of `sparse-attn-gpu`.
struct GpuPipelineOptions : public PassPipelineOptions<GpuPipelineOptions> {
  Option<std::string> chip{*this, "chip",
                           llvm::cl::desc("Target GPU architecture"),
                           llvm::cl::init("sm_90a")};
  Option<std::string> features{*this, "features",
                               llvm::cl::desc("NVPTX target features (PTX "
                                              "version)"),
                               llvm::cl::init("+ptx80")};
  Option<int> optLevel{*this, "opt-level",
                       llvm::cl::desc("LLVM optimisation level of the "
                                      "device code"),
                       llvm::cl::init(3)};
  Option<std::string> format{
      *this, "format",
      llvm::cl::desc("What the kernels become: isa (PTX in a gpu.binary), "
                     "bin (cubin through ptxas), fatbin, or llvm (stop at "
                     "the LLVM/NVVM dialects)"),
      llvm::cl::init("isa")};
  Option<int64_t> queryTile{*this, "query-tile",
                            llvm::cl::desc("Rows of a query tile (16 per "
                                           "warp)"),
                            llvm::cl::init(128)};
  Option<int64_t> keyTile{*this, "key-tile",
                          llvm::cl::desc("Keys of a key tile"),
                          llvm::cl::init(64)};
  Option<unsigned> indexBitwidth{
      *this, "index-bitwidth",
      llvm::cl::desc("Bits of the index type in the kernels (32 or 64); the "
                     "kernels' size and stride parameters have this width"),
      llvm::cl::init(32)};
  Option<int64_t> warps{*this, "warps",
                        llvm::cl::desc("Warps of a CTA"),
                        llvm::cl::init(4)};
  Option<bool> scaleArgument{
      *this, "scale-argument",
      llvm::cl::desc("Take the score scale as a kernel argument"),
      llvm::cl::init(false)};
  Option<bool> iterationsArgument{
      *this, "iterations-argument",
      llvm::cl::desc("Cap the entmax solver's passes by a kernel argument "
                     "`niter`"),
      llvm::cl::init(false)};
  Option<int64_t> minBlocksPerMultiprocessor{
      *this, "min-blocks-per-sm",
      llvm::cl::desc("CTAs that must fit on one multiprocessor"),
      llvm::cl::init(1)};
  Option<bool> exactF32{
      *this, "exact-f32",
      llvm::cl::desc("f32 products as 3xTF32 (near-f32 accuracy) instead of "
                     "one tf32 product"),
      llvm::cl::init(false)};
};

/// `sparse-attn-gpu`: the tiled form (as for the CPU), mapped onto CTAs,
/// warps and tensor cores by sparse-attn-to-gpu, then the NVVM lowering of
/// the kernels and their serialisation to PTX (or cubin, fatbin).
void buildGpuPipeline(OpPassManager &pm, const GpuPipelineOptions &options);
/// Its first half, up to the kernels in the gpu/nvgpu/nvvm dialects (where
/// their launch attributes are read).
void buildGpuKernelPipeline(OpPassManager &pm,
                            const GpuPipelineOptions &options);
/// Its second half: NVVM lowering and serialisation.
void buildGpuSerializationPipeline(OpPassManager &pm,
                                   const GpuPipelineOptions &options);

/// Registers the named pipelines with the global pass-pipeline registry.
void registerPipelines();

} // namespace mlir::sparse_attn

#endif // SPARSE_ATTN_PIPELINES_PIPELINES_H
