//===- JitExecution.cpp - compile and run a function on the host ----------===//
//
// Calling convention of `_mlir_ciface_NAME` (func-to-llvm C wrappers): a
// memref argument is passed as a pointer to its descriptor
// {allocated, aligned, offset, sizes[rank], strides[rank]}; a scalar by
// value. Results that lower to an LLVM struct (any memref result, or several
// results packed into one struct) come back through a pointer passed as the
// first argument; a single scalar result is returned by value.
// ExecutionEngine::invokePacked takes one pointer per argument of the C
// wrapper, then one to the return value.
//
//===----------------------------------------------------------------------===//

#include "JitExecution.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/Support/MathExtras.h"
#include "llvm/Support/TargetSelect.h"

#include <cstdlib>
#include <cstring>

using namespace mlir;
using namespace mlir::sparse_attn;
using namespace mlir::sparse_attn::run;

/// Number of 64-bit words of a ranked memref descriptor.
static size_t getDescriptorWords(size_t rank) { return 3 + 2 * rank; }

/// A descriptor of a dense row-major buffer at `data`.
static SmallVector<int64_t> makeDescriptor(void *data,
                                           ArrayRef<int64_t> shape) {
  SmallVector<int64_t> descriptor = {reinterpret_cast<int64_t>(data),
                                     reinterpret_cast<int64_t>(data), 0};
  descriptor.append(shape.begin(), shape.end());
  SmallVector<int64_t> strides(shape.size(), 1);
  for (size_t d = shape.size(); d-- > 1;)
    strides[d - 1] = strides[d] * shape[d];
  descriptor.append(strides);
  return descriptor;
}

namespace {
/// Where one result lives inside the result storage.
struct ResultSlot {
  BufferType type;
  size_t offset;
};
} // namespace

/// Lays the results out as the LLVM struct func-to-llvm packs them into:
/// natural alignment, descriptors as arrays of 64-bit words.
static SmallVector<ResultSlot> layOutResults(ArrayRef<BufferType> types,
                                             size_t &totalSize) {
  SmallVector<ResultSlot> slots;
  totalSize = 0;
  for (const BufferType &type : types) {
    size_t size = type.isTensor ? 8 * getDescriptorWords(type.shape.size())
                                : getByteWidth(type.elementKind);
    size_t alignment = type.isTensor ? 8 : size;
    totalSize = llvm::alignTo(totalSize, alignment);
    slots.push_back({type, totalSize});
    totalSize += size;
  }
  return slots;
}

/// Copies the (possibly strided) memref described at `descriptorBytes` into
/// a dense buffer.
static HostBuffer readMemRef(const uint8_t *descriptorBytes, ElementKind kind,
                             size_t rank) {
  SmallVector<int64_t> words(getDescriptorWords(rank));
  std::memcpy(words.data(), descriptorBytes, words.size() * 8);
  const auto *aligned = reinterpret_cast<const uint8_t *>(words[1]);
  int64_t offset = words[2];
  ArrayRef<int64_t> sizes = ArrayRef<int64_t>(words).slice(3, rank);
  ArrayRef<int64_t> strides = ArrayRef<int64_t>(words).slice(3 + rank, rank);
  HostBuffer buffer(kind, sizes);
  unsigned width = getByteWidth(kind);
  auto *destination = static_cast<uint8_t *>(buffer.getData());
  for (int64_t linear = 0; linear < buffer.getNumElements(); ++linear) {
    int64_t element = offset;
    for (int64_t d = rank - 1, rest = linear; d >= 0; --d) {
      element += (rest % sizes[d]) * strides[d];
      rest /= sizes[d];
    }
    std::memcpy(destination + linear * width, aligned + element * width, width);
  }
  return buffer;
}

static llvm::Error lowerToLLVM(ModuleOp module, StringRef pipelineName) {
  PassManager pm(module.getContext());
  std::string message;
  llvm::raw_string_ostream errorStream(message);
  if (failed(parsePassPipeline(pipelineName, pm, errorStream)))
    return llvm::createStringError("cannot build pass pipeline '" +
                                   pipelineName.str() + "': " + message);
  if (failed(pm.run(module)))
    return llvm::createStringError("pass pipeline '" + pipelineName.str() +
                                   "' failed");
  return llvm::Error::success();
}

llvm::Expected<SmallVector<HostBuffer>>
run::compileAndRun(ModuleOp module, StringRef entryName, StringRef pipelineName,
                   ArrayRef<HostBuffer> arguments) {
  auto sourceEntry = module.lookupSymbol<func::FuncOp>(entryName);
  SmallVector<BufferType> resultTypes =
      llvm::map_to_vector(sourceEntry.getResultTypes(),
                          [](Type type) { return *getBufferType(type); });

  OwningOpRef<ModuleOp> lowered = module.clone();
  lowered->lookupSymbol<func::FuncOp>(entryName)->setAttr(
      LLVM::LLVMDialect::getEmitCWrapperAttrName(),
      UnitAttr::get(module.getContext()));
  if (llvm::Error error = lowerToLLVM(*lowered, pipelineName))
    return std::move(error);

  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  registerBuiltinDialectTranslation(*module.getContext());
  registerLLVMDialectTranslation(*module.getContext());
  ExecutionEngineOptions options;
  auto optimize = makeOptimizingTransformer(/*optLevel=*/2, /*sizeLevel=*/0,
                                            /*targetMachine=*/nullptr);
  options.transformer = optimize;
  options.jitCodeGenOptLevel = llvm::CodeGenOptLevel::Default;
  // Bufferized code may call memrefCopy.
  StringRef sharedLibraries[] = {SPARSE_ATTN_C_RUNNER_UTILS};
  options.sharedLibPaths = sharedLibraries;
  llvm::Expected<std::unique_ptr<ExecutionEngine>> engine =
      ExecutionEngine::create(*lowered, options);
  if (!engine)
    return llvm::createStringError("cannot JIT-compile @" + entryName.str() +
                                   ": " + llvm::toString(engine.takeError()));

  // Result storage first, then one pointer per argument.
  size_t resultSize = 0;
  SmallVector<ResultSlot> slots = layOutResults(resultTypes, resultSize);
  // One spare word keeps the storage non-empty for functions without results.
  std::vector<uint64_t> resultStorage(llvm::divideCeil(resultSize, 8) + 1);
  void *resultPointer = resultStorage.data();
  bool returnsStruct = resultTypes.size() > 1 ||
                       (resultTypes.size() == 1 && resultTypes[0].isTensor);
  SmallVector<void *> packedArguments;
  if (returnsStruct)
    packedArguments.push_back(&resultPointer);

  SmallVector<HostBuffer> inputs(arguments);
  llvm::DenseSet<const void *> inputAllocations;
  SmallVector<SmallVector<int64_t>> descriptors;
  SmallVector<void *> descriptorPointers;
  descriptors.reserve(inputs.size());
  descriptorPointers.reserve(inputs.size());
  for (auto [input, type] :
       llvm::zip_equal(inputs, sourceEntry.getArgumentTypes())) {
    inputAllocations.insert(input.getData());
    if (!isa<RankedTensorType>(type)) {
      packedArguments.push_back(input.getData());
      continue;
    }
    descriptors.push_back(makeDescriptor(input.getData(), input.getShape()));
    descriptorPointers.push_back(descriptors.back().data());
    packedArguments.push_back(&descriptorPointers.back());
  }
  if (resultTypes.size() == 1 && !returnsStruct)
    packedArguments.push_back(resultPointer);

  if (llvm::Error error = (*engine)->invokePacked(
          ("_mlir_ciface_" + entryName).str(), packedArguments))
    return llvm::createStringError("cannot call @" + entryName.str() + ": " +
                                   llvm::toString(std::move(error)));

  SmallVector<HostBuffer> results;
  llvm::DenseSet<void *> freed;
  const auto *resultBytes = reinterpret_cast<const uint8_t *>(resultPointer);
  for (const ResultSlot &slot : slots) {
    const uint8_t *bytes = resultBytes + slot.offset;
    if (!slot.type.isTensor) {
      HostBuffer scalar(slot.type.elementKind, {});
      std::memcpy(scalar.getData(), bytes, scalar.getSizeInBytes());
      results.push_back(std::move(scalar));
      continue;
    }
    results.push_back(
        readMemRef(bytes, slot.type.elementKind, slot.type.shape.size()));
    // Results own malloc'ed memory unless they alias an argument; two
    // results may share one allocation.
    void *allocated;
    std::memcpy(&allocated, bytes, sizeof(allocated));
    if (!inputAllocations.contains(allocated) && freed.insert(allocated).second)
      std::free(allocated);
  }
  return results;
}
