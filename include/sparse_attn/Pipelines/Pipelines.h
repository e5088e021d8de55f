//===- Pipelines.h - sparse_attn pass pipelines -----------------*- C++ -*-===//

#ifndef SPARSE_ATTN_PIPELINES_PIPELINES_H
#define SPARSE_ATTN_PIPELINES_PIPELINES_H

#include "mlir/Pass/PassManager.h"

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

/// Registers the named pipelines with the global pass-pipeline registry.
void registerPipelines();

} // namespace mlir::sparse_attn

#endif // SPARSE_ATTN_PIPELINES_PIPELINES_H
