//===- Arguments.h - the entry function's argument values -------*- C++ -*-===//
//
// Produces a value for every argument of the entry function: read from a
// .npy file, given on the command line (scalars), or generated from a seed
// according to the argument's role in the function (what it feeds).
//
//===----------------------------------------------------------------------===//

#ifndef SPARSE_ATTN_TOOLS_SPARSE_ATTN_RUN_ARGUMENTS_H
#define SPARSE_ATTN_TOOLS_SPARSE_ATTN_RUN_ARGUMENTS_H

#include "HostBuffer.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/Support/Error.h"

#include <string>

namespace mlir::sparse_attn::run {

/// What the command line says about the arguments, by argument number.
struct ArgumentOptions {
  llvm::DenseMap<unsigned, std::string> npyPaths;
  llvm::DenseMap<unsigned, llvm::SmallVector<int64_t, 4>> shapes;
  llvm::DenseMap<unsigned, std::string> scalars;
  uint64_t seed = 0;
};

struct PreparedArguments {
  /// One per function argument; scalars as rank-0 buffers.
  llvm::SmallVector<HostBuffer> values;
  /// How each value was produced, e.g. "random normal" or "npy PATH".
  llvm::SmallVector<std::string> origins;
};

/// Produces the values of all arguments of `entry`. Fails with a message on
/// unsupported argument types, options that do not fit the argument (a shape
/// for a scalar, a .npy file of the wrong shape or element kind), missing
/// scalars and dynamic extents that nothing determines.
llvm::Expected<PreparedArguments>
prepareArguments(func::FuncOp entry, const ArgumentOptions &options);

} // namespace mlir::sparse_attn::run

#endif // SPARSE_ATTN_TOOLS_SPARSE_ATTN_RUN_ARGUMENTS_H
