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

/// Registers the named pipelines with the global pass-pipeline registry.
void registerPipelines();

} // namespace mlir::sparse_attn

#endif // SPARSE_ATTN_PIPELINES_PIPELINES_H
