//===- Npy.h - NumPy .npy reading and writing -------------------*- C++ -*-===//
//
// The subset of the .npy format (versions 1 to 3) that sparse-attn-run
// exchanges: little-endian <f2, <f4, <f8, <i4, <i8 in C order.
//
//===----------------------------------------------------------------------===//

#ifndef SPARSE_ATTN_TOOLS_SPARSE_ATTN_RUN_NPY_H
#define SPARSE_ATTN_TOOLS_SPARSE_ATTN_RUN_NPY_H

#include "HostBuffer.h"

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

namespace mlir::sparse_attn::run {

/// Reads a .npy file into a buffer of the file's own element type (F16, F32,
/// F64, I32 or I64).
llvm::Expected<HostBuffer> readNpy(llvm::StringRef path);

/// Writes `buffer` as a version 1.0 .npy file. bf16 is widened to <f4 (exact)
/// and index to <i8; the other kinds keep their width.
llvm::Error writeNpy(llvm::StringRef path, const HostBuffer &buffer);

} // namespace mlir::sparse_attn::run

#endif // SPARSE_ATTN_TOOLS_SPARSE_ATTN_RUN_NPY_H
