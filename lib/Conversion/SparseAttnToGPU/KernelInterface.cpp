//===- KernelInterface.cpp - a kernel's arguments from a function --------===//

#include "KernelInterface.h"

#include "sparse_attn/Conversion/SparseAttnToGPU/KernelAttributes.h"

#include "mlir/Dialect/MemRef/IR/MemRef.h"

using namespace mlir;
using namespace mlir::sparse_attn;

SmallVector<std::string> mlir::sparse_attn::kernelTensorNames(func::FuncOp func) {
  SmallVector<std::string> names;
  for (unsigned i = 0, e = func.getNumArguments(); i < e; ++i) {
    auto name = func.getArgAttrOfType<StringAttr>(i, kTensorNameAttr);
    names.push_back(name ? name.str() : "arg" + std::to_string(i));
  }
  for (unsigned i = 0, e = func.getNumResults(); i < e; ++i) {
    auto name = func.getResultAttrOfType<StringAttr>(i, kTensorNameAttr);
    names.push_back(name ? name.str() : "result" + std::to_string(i));
  }
  return names;
}

MemRefType mlir::sparse_attn::kernelViewType(RankedTensorType type) {
  int64_t rank = type.getRank();
  SmallVector<int64_t> strides(rank, ShapedType::kDynamic);
  if (rank == 4 && isa<FloatType>(type.getElementType()))
    strides.back() = 1;
  auto layout = StridedLayoutAttr::get(type.getContext(), 0, strides);
  return MemRefType::get(type.getShape(), type.getElementType(), layout);
}

FailureOr<KernelInterface> mlir::sparse_attn::buildKernelInterface(
    OpBuilder &b, func::FuncOp func, gpu::GPUModuleOp module,
    ArrayRef<std::string> tensorNames,
    const std::set<std::pair<unsigned, int64_t>> &usedSizes,
    ArrayRef<std::pair<StringRef, Type>> scalars) {
  MLIRContext *context = func.getContext();
  Location loc = func.getLoc();
  // Descriptors would take 11 parameters per 4-D tensor, and the runtime
  // launches at most 64.
  SmallVector<RankedTensorType> tensorTypes;
  SmallVector<Type> argumentTypes;
  SmallVector<DictionaryAttr> argumentAttrs;
  struct TensorArguments {
    unsigned pointer;
    SmallVector<std::optional<unsigned>> sizes, strides;
  };
  SmallVector<TensorArguments> tensorArguments;
  SmallVector<Type> tensorArgumentTypes =
      llvm::to_vector(func.getArgumentTypes());
  llvm::append_range(tensorArgumentTypes, func.getResultTypes());
  for (auto [t, type] : llvm::enumerate(tensorArgumentTypes)) {
    auto tensorType = dyn_cast<RankedTensorType>(type);
    if (!tensorType)
      return func.emitOpError("has an argument or result of type ")
             << type << "; kernels take ranked tensors";
    tensorTypes.push_back(tensorType);
    StringRef name = tensorNames[t];
    StringRef access = t < func.getNumArguments() ? "read" : "write";
    TensorArguments arguments;
    arguments.pointer = argumentTypes.size();
    argumentTypes.push_back(MemRefType::get({1}, tensorType.getElementType()));
    argumentAttrs.push_back(DictionaryAttr::get(
        context,
        {b.getNamedAttr(kKernelTensorAttr, b.getStringAttr(name)),
         b.getNamedAttr(kKernelAccessAttr, b.getStringAttr(access)),
         b.getNamedAttr(kKernelShapeAttr,
                        b.getDenseI64ArrayAttr(llvm::to_vector(llvm::map_range(
                            tensorType.getShape(), [](int64_t size) {
                              return ShapedType::isDynamic(size) ? int64_t(-1)
                                                                 : size;
                            }))))}));
    auto indexArgument = [&](StringRef kind, int64_t d) {
      argumentTypes.push_back(b.getIndexType());
      argumentAttrs.push_back(DictionaryAttr::get(
          context, {b.getNamedAttr(kind, b.getStringAttr(name)),
                    b.getNamedAttr(kKernelDimAttr, b.getI64IntegerAttr(d))}));
      return static_cast<unsigned>(argumentTypes.size() - 1);
    };
    MemRefType viewType = kernelViewType(tensorType);
    auto strides = cast<StridedLayoutAttr>(viewType.getLayout()).getStrides();
    for (int64_t d = 0, rank = tensorType.getRank(); d < rank; ++d)
      arguments.sizes.push_back(
          tensorType.isDynamicDim(d) && usedSizes.count({t, d})
              ? std::optional<unsigned>(indexArgument(kKernelSizeAttr, d))
              : std::nullopt);
    for (int64_t d = 0, rank = tensorType.getRank(); d < rank; ++d)
      arguments.strides.push_back(
          ShapedType::isDynamic(strides[d])
              ? std::optional<unsigned>(indexArgument(kKernelStrideAttr, d))
              : std::nullopt);
    tensorArguments.push_back(arguments);
  }
  for (auto [name, type] : scalars) {
    argumentTypes.push_back(type);
    argumentAttrs.push_back(DictionaryAttr::get(
        context, {b.getNamedAttr(kKernelScalarAttr, b.getStringAttr(name))}));
  }

  b.setInsertionPointToEnd(module.getBody());
  KernelInterface interface;
  interface.kernel = gpu::GPUFuncOp::create(
      b, loc, func.getName(), b.getFunctionType(argumentTypes, {}));
  gpu::GPUFuncOp kernel = interface.kernel;
  kernel->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), b.getUnitAttr());
  for (auto [i, attrs] : llvm::enumerate(argumentAttrs))
    kernel.setArgAttrs(i, attrs);

  Block &entry = kernel.getBody().front();
  b.setInsertionPointToStart(&entry);
  // Each tensor's strided view over its bare pointer; extents the kernel
  // never reads are 0 (nothing takes them: see usedSizes).
  for (auto [t, type] : llvm::enumerate(tensorTypes)) {
    const TensorArguments &arguments = tensorArguments[t];
    SmallVector<OpFoldResult> sizes, strides;
    for (int64_t d = 0, rank = type.getRank(); d < rank; ++d) {
      if (!type.isDynamicDim(d))
        sizes.push_back(b.getIndexAttr(type.getDimSize(d)));
      else if (arguments.sizes[d])
        sizes.push_back(entry.getArgument(*arguments.sizes[d]));
      else
        sizes.push_back(b.getIndexAttr(0));
      if (arguments.strides[d])
        strides.push_back(entry.getArgument(*arguments.strides[d]));
      else
        strides.push_back(b.getIndexAttr(1));
    }
    interface.views.push_back(memref::ReinterpretCastOp::create(
        b, loc, kernelViewType(type), entry.getArgument(arguments.pointer),
        b.getIndexAttr(0), sizes, strides));
  }
  unsigned firstScalar = entry.getNumArguments() - scalars.size();
  for (unsigned i = firstScalar, e = entry.getNumArguments(); i < e; ++i)
    interface.scalars.push_back(entry.getArgument(i));
  return interface;
}
