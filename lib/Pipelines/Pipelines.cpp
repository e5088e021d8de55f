//===- Pipelines.cpp - sparse_attn pass pipelines ---------------*- C++ -*-===//

#include "sparse_attn/Pipelines/Pipelines.h"

#include "sparse_attn/Conversion/Passes.h"
#include "sparse_attn/Dialect/SparseAttn/Transforms/Passes.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/Arith/Transforms/Passes.h"
#include "mlir/Dialect/Bufferization/Pipelines/Passes.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Dialect/SCF/Transforms/Passes.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;

void sparse_attn::buildHostLoweringPipeline(OpPassManager &pm) {
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());

  bufferization::OneShotBufferizePassOptions bufferizeOptions;
  bufferizeOptions.bufferizeFunctionBoundaries = true;
  bufferizeOptions.functionBoundaryTypeConversion =
      bufferization::LayoutMapOption::IdentityLayoutMap;
  // Tiled loops carry tensors that are rebuilt in every iteration.
  bufferizeOptions.allowReturnAllocsFromLoops = true;
  pm.addPass(bufferization::createOneShotBufferizePass(bufferizeOptions));
  bufferization::BufferDeallocationPipelineOptions deallocOptions;
  bufferization::buildBufferDeallocationPipeline(pm, deallocOptions);
  // Deallocation clones buffers it does not own (e.g. a returned argument).
  pm.addPass(createConvertBufferizationToMemRefPass());

  // The query-tile grids run sequentially on the host.
  pm.addPass(createForallToForLoopPass());
  pm.addNestedPass<func::FuncOp>(createConvertLinalgToLoopsPass());
  pm.addPass(memref::createExpandStridedMetadataPass());
  pm.addPass(createLowerAffinePass());
  pm.addPass(createSCFToControlFlowPass());
  // bf16 conversions in integer arithmetic: the host has no bf16 libcalls.
  arith::ArithExpandOpsPassOptions expandOptions;
  expandOptions.includeBf16 = true;
  pm.addPass(arith::createArithExpandOpsPass(expandOptions));
  pm.addPass(createConvertMathToLLVMPass());
  pm.addPass(createConvertMathToLibmPass());
  pm.addPass(createFinalizeMemRefToLLVMConversionPass());
  pm.addPass(createArithToLLVMConversionPass());
  pm.addPass(createConvertIndexToLLVMPass());
  pm.addPass(createConvertControlFlowToLLVMPass());
  pm.addPass(createConvertFuncToLLVMPass());
  pm.addPass(createReconcileUnrealizedCastsPass());
}

void sparse_attn::buildReferencePipeline(OpPassManager &pm) {
  pm.addPass(createConvertSparseAttnToLinalgPass());
  buildHostLoweringPipeline(pm);
}

void sparse_attn::buildCpuPipeline(OpPassManager &pm,
                                   const CpuPipelineOptions &options) {
  // Prefill ops become their estimator and the attention that gets tiled;
  // block-selecting estimators become index lists that the key loops walk.
  pm.addPass(createSparseAttnExpandPrefillPass());
  pm.addPass(createSparseAttnDecomposeEstimatorsPass());
  SparseAttnTilePassOptions tileOptions;
  tileOptions.queryTile = options.queryTile;
  tileOptions.keyTile = options.keyTile;
  pm.addPass(createSparseAttnTilePass(tileOptions));
  pm.addPass(createSparseAttnSkipBlocksPass());
  pm.addPass(createSparseAttnFusePass());
  pm.addPass(createSparseAttnDecomposeVerticalSlashPass());
  if (options.instrument)
    pm.addPass(createSparseAttnInstrumentPass());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  pm.addPass(createSparseAttnDecomposeTilesPass());
  // What tiling does not cover (mask ops whose values leave the attention:
  // mask_to_indices, returned masks) takes its reference form.
  pm.addPass(createConvertSparseAttnToLinalgPass());
  buildHostLoweringPipeline(pm);
}

void sparse_attn::buildGpuKernelPipeline(OpPassManager &pm,
                                         const GpuPipelineOptions &options) {
  SparseAttnTilePassOptions tileOptions;
  tileOptions.queryTile = options.queryTile;
  tileOptions.keyTile = options.keyTile;
  pm.addPass(createSparseAttnTilePass(tileOptions));
  pm.addPass(createSparseAttnSkipBlocksPass());
  pm.addPass(createSparseAttnFusePass());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  SparseAttnToGPUPassOptions gpuOptions;
  gpuOptions.warps = options.warps;
  gpuOptions.scaleArgument = options.scaleArgument;
  gpuOptions.iterationsArgument = options.iterationsArgument;
  gpuOptions.minBlocksPerMultiprocessor = options.minBlocksPerMultiprocessor;
  gpuOptions.exactF32 = options.exactF32;
  pm.addPass(createSparseAttnToGPUPass(gpuOptions));
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
}

void sparse_attn::buildGpuSerializationPipeline(
    OpPassManager &pm, const GpuPipelineOptions &options) {
  // The device half of upstream's gpu-lower-to-nvvm-pipeline (the kernels
  // need no host code: the runtime launches them), with one conversion of
  // the kernels at one index width.
  GpuNVVMAttachTargetOptions target;
  target.chip = options.chip;
  target.features = options.features;
  target.optLevel = options.optLevel;
  pm.addPass(createGpuNVVMAttachTarget(target));
  pm.addPass(createConvertVectorToSCFPass());
  pm.addPass(createSCFToControlFlowPass());
  pm.addPass(memref::createExpandStridedMetadataPass());
  pm.addPass(createLowerAffinePass());
  pm.addPass(arith::createArithExpandOpsPass());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  SparseAttnKernelsToNVVMPassOptions nvvm;
  nvvm.indexBitwidth = options.indexBitwidth;
  pm.addNestedPass<gpu::GPUModuleOp>(createSparseAttnKernelsToNVVMPass(nvvm));
  pm.addPass(createConvertNVVMToLLVMPass());
  pm.addNestedPass<gpu::GPUModuleOp>(createCanonicalizerPass());
  pm.addNestedPass<gpu::GPUModuleOp>(createCSEPass());
  pm.addNestedPass<gpu::GPUModuleOp>(createReconcileUnrealizedCastsPass());
  if (options.format == "llvm")
    return;
  GpuModuleToBinaryPassOptions binary;
  binary.compilationTarget = options.format;
  pm.addPass(createGpuModuleToBinaryPass(binary));
}

void sparse_attn::buildGpuPipeline(OpPassManager &pm,
                                   const GpuPipelineOptions &options) {
  buildGpuKernelPipeline(pm, options);
  buildGpuSerializationPipeline(pm, options);
}

void sparse_attn::registerPipelines() {
  PassPipelineRegistration<>(
      "sparse-attn-reference",
      "Lower sparse_attn ops through their naive reference form to the LLVM "
      "dialect for the host",
      buildReferencePipeline);
  PassPipelineRegistration<CpuPipelineOptions>(
      "sparse-attn-to-cpu",
      "Tile sparse_attn ops, skip masked blocks, fuse, and lower the tiled "
      "form to the LLVM dialect for the host",
      buildCpuPipeline);
  PassPipelineRegistration<GpuPipelineOptions>(
      "sparse-attn-gpu",
      "Tile sparse_attn ops, map the tiled form onto GPU kernels and lower "
      "them to PTX (or cubin)",
      buildGpuPipeline);
}
