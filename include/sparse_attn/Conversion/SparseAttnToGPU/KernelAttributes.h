//===- KernelAttributes.h - what a GPU kernel tells its launcher -*- C++ -*-===//
//
// `sparse-attn-to-gpu` records on every kernel it builds what a launcher
// needs and the PTX cannot say: the names and roles of the arguments and
// the launch shape. `sparse-attn-compile-gpu` turns them into a kernel
// bundle's manifest (docs/design/kernel-bundles.md).
//
//===----------------------------------------------------------------------===//

#ifndef SPARSE_ATTN_CONVERSION_SPARSEATTNTOGPU_KERNELATTRIBUTES_H
#define SPARSE_ATTN_CONVERSION_SPARSEATTNTOGPU_KERNELATTRIBUTES_H

#include "llvm/ADT/StringRef.h"

namespace mlir::sparse_attn {

/// On arguments and results of the functions to lower: the tensor's name in
/// the launcher's vocabulary ("q", "out", "kv_indices", ...). Unnamed ones
/// are "arg<i>" and "result<i>".
inline constexpr llvm::StringLiteral kTensorNameAttr = "sparse_attn.name";

/// On a kernel's pointer argument (a `memref<1xT>` passed as a bare
/// pointer): the tensor it is, "read" or "write", and the tensor's shape
/// (-1 for dynamic extents).
inline constexpr llvm::StringLiteral kKernelTensorAttr = "sparse_attn.tensor";
inline constexpr llvm::StringLiteral kKernelAccessAttr = "sparse_attn.access";
inline constexpr llvm::StringLiteral kKernelShapeAttr = "sparse_attn.shape";
/// On a kernel's index argument: the extent (`sparse_attn.size`) or stride
/// (`sparse_attn.stride`) of dimension `sparse_attn.dim` of a tensor.
inline constexpr llvm::StringLiteral kKernelSizeAttr = "sparse_attn.size";
inline constexpr llvm::StringLiteral kKernelStrideAttr = "sparse_attn.stride";
inline constexpr llvm::StringLiteral kKernelDimAttr = "sparse_attn.dim";
/// On a kernel's scalar argument: its name.
inline constexpr llvm::StringLiteral kKernelScalarAttr = "sparse_attn.scalar";

/// On a kernel: {grid = [3 size expressions], block = [3 integers],
/// shared_memory_bytes = integer}. Grid expressions are over
/// `<tensor>.size<d>` in the bundle manifest's syntax.
inline constexpr llvm::StringLiteral kKernelLaunchAttr = "sparse_attn.launch";
/// On a kernel: how it was built (tile sizes, warps), informational.
inline constexpr llvm::StringLiteral kKernelTuningAttr = "sparse_attn.tuning";

/// The scalar argument that scales every score tile with
/// `scale-argument`.
inline constexpr llvm::StringLiteral kScaleArgumentName = "scale";

/// The i32 scalar argument that caps the entmax solver's passes with
/// `iterations-argument`.
inline constexpr llvm::StringLiteral kIterationsArgumentName = "niter";

} // namespace mlir::sparse_attn

#endif // SPARSE_ATTN_CONVERSION_SPARSEATTNTOGPU_KERNELATTRIBUTES_H
