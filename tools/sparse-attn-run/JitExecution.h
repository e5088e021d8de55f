//===- JitExecution.h - compile and run a function on the host --*- C++ -*-===//

#ifndef SPARSE_ATTN_TOOLS_SPARSE_ATTN_RUN_JITEXECUTION_H
#define SPARSE_ATTN_TOOLS_SPARSE_ATTN_RUN_JITEXECUTION_H

#include "HostBuffer.h"

#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/Error.h"

namespace mlir::sparse_attn::run {

/// Lowers a clone of `module` with the registered pass pipeline
/// `pipelineName`, JIT-compiles it and calls `entryName` through its C
/// interface on copies of `arguments` (one per function argument, scalars
/// as rank-0 buffers; the copies keep the inputs intact if the code writes
/// into its arguments). Returns the results as buffers; the result memory the
/// code allocated is freed. Every argument and result type of the entry must
/// have a buffer type (getBufferType).
llvm::Expected<llvm::SmallVector<HostBuffer>>
compileAndRun(ModuleOp module, llvm::StringRef entryName,
              llvm::StringRef pipelineName,
              llvm::ArrayRef<HostBuffer> arguments);

} // namespace mlir::sparse_attn::run

#endif // SPARSE_ATTN_TOOLS_SPARSE_ATTN_RUN_JITEXECUTION_H
