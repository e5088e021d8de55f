//===- KernelInterface.h - a kernel's arguments from a function -*- C++ -*-===//
//
// The kernel ABI of docs/design/gpu-lowering.md ("Kernel ABI"), shared by
// every kernel sparse-attn-to-gpu builds: per tensor (the function's
// arguments, then its results) a bare pointer, the extents the kernel reads
// and the dynamic strides, then the scalars; each argument tagged for the
// bundle tool (KernelAttributes.h).
//
//===----------------------------------------------------------------------===//

#ifndef SPARSE_ATTN_LIB_CONVERSION_SPARSEATTNTOGPU_KERNELINTERFACE_H
#define SPARSE_ATTN_LIB_CONVERSION_SPARSEATTNTOGPU_KERNELINTERFACE_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/Builders.h"

#include <set>
#include <string>
#include <utility>

namespace mlir::sparse_attn {

/// The dynamic shared memory of every kernel (a public zero-sized
/// workgroup global of the kernel module) and the alignment of its base and
/// of every region in it.
inline constexpr llvm::StringLiteral kSharedMemorySymbol =
    "sparse_attn_shared_memory";
inline constexpr int64_t kSharedAlignment = 1024;

/// The names of a function's tensors for its kernel: the `sparse_attn.name`
/// of each argument, then of each result ("arg<i>", "result<i>" without).
SmallVector<std::string> kernelTensorNames(func::FuncOp func);

/// A kernel built from a function, with its entry block's values.
struct KernelInterface {
  gpu::GPUFuncOp kernel;
  /// Per tensor (arguments, then results): its strided view over the bare
  /// pointer, built at the start of the entry block.
  SmallVector<Value> views;
  /// The scalar arguments, in the order they were asked for.
  SmallVector<Value> scalars;
};

/// Builds at the end of `module` a kernel named like `func` whose
/// arguments are the function's tensors under `tensorNames` (arguments,
/// then results: read, then written), with the extents `usedSizes`
/// ((tensor, dimension) pairs) and every dynamic stride, then the `scalars`
/// (name and type). Fails with a diagnostic for a non-tensor argument or
/// result.
FailureOr<KernelInterface> buildKernelInterface(
    OpBuilder &b, func::FuncOp func, gpu::GPUModuleOp module,
    ArrayRef<std::string> tensorNames,
    const std::set<std::pair<unsigned, int64_t>> &usedSizes,
    ArrayRef<std::pair<StringRef, Type>> scalars);

/// The view type of a tensor argument or result inside a kernel: dynamic
/// strides, the innermost one 1 for floating-point 4-D tensors (tiles are
/// copied from and stored to them in 16-byte chunks).
MemRefType kernelViewType(RankedTensorType type);

} // namespace mlir::sparse_attn

#endif // SPARSE_ATTN_LIB_CONVERSION_SPARSEATTNTOGPU_KERNELINTERFACE_H
