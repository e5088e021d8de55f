// Our declarations of driver types and constants (Driver.h) must match
// cuda.h; this is checked at compile time wherever the CUDA toolkit is
// installed.
#ifdef SPARSE_ATTN_HAVE_CUDA_H
#include "Driver.h"

#include <cuda.h>

#include <cstddef>

namespace cu = sparse_attn::runtime::cu;

static_assert(sizeof(cu::DevicePtr) == sizeof(CUdeviceptr));
static_assert(sizeof(cu::Device) == sizeof(CUdevice));
static_assert(sizeof(cu::Result) == sizeof(CUresult));
static_assert(cu::kSuccess == CUDA_SUCCESS);
static_assert(cu::kErrorInvalidValue == CUDA_ERROR_INVALID_VALUE);
static_assert(cu::kErrorOutOfMemory == CUDA_ERROR_OUT_OF_MEMORY);

static_assert(cu::kDeviceAttributeComputeCapabilityMajor ==
              CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR);
static_assert(cu::kDeviceAttributeComputeCapabilityMinor ==
              CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR);
static_assert(cu::kDeviceAttributeMaxSharedMemoryPerBlockOptin ==
              CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN);

static_assert(cu::kPointerAttributeMemoryType == CU_POINTER_ATTRIBUTE_MEMORY_TYPE);
static_assert(cu::kPointerAttributeDeviceOrdinal == CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL);
static_assert(cu::kPointerAttributeRangeStartAddr == CU_POINTER_ATTRIBUTE_RANGE_START_ADDR);
static_assert(cu::kPointerAttributeRangeSize == CU_POINTER_ATTRIBUTE_RANGE_SIZE);
static_assert(cu::kMemoryTypeHost == CU_MEMORYTYPE_HOST);
static_assert(cu::kMemoryTypeDevice == CU_MEMORYTYPE_DEVICE);
static_assert(cu::kMemoryTypeUnified == CU_MEMORYTYPE_UNIFIED);

static_assert(cu::kFunctionAttributeMaxDynamicSharedSizeBytes ==
              CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES);
static_assert(cu::kJitErrorLogBuffer == CU_JIT_ERROR_LOG_BUFFER);
static_assert(cu::kJitErrorLogBufferSizeBytes == CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES);
static_assert(cu::kLaunchAttributeClusterDimension == CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION);
static_assert(cu::kStreamCaptureStatusNone == CU_STREAM_CAPTURE_STATUS_NONE);
static_assert(cu::kGetProcAddressLegacyStream == CU_GET_PROC_ADDRESS_LEGACY_STREAM);
static_assert(cu::kGetProcAddressSuccess == CU_GET_PROC_ADDRESS_SUCCESS);

static_assert(int(cu::kTensorMapUint8) == int(CU_TENSOR_MAP_DATA_TYPE_UINT8));
static_assert(int(cu::kTensorMapUint16) == int(CU_TENSOR_MAP_DATA_TYPE_UINT16));
static_assert(int(cu::kTensorMapInt32) == int(CU_TENSOR_MAP_DATA_TYPE_INT32));
static_assert(int(cu::kTensorMapInt64) == int(CU_TENSOR_MAP_DATA_TYPE_INT64));
static_assert(int(cu::kTensorMapFloat16) == int(CU_TENSOR_MAP_DATA_TYPE_FLOAT16));
static_assert(int(cu::kTensorMapFloat32) == int(CU_TENSOR_MAP_DATA_TYPE_FLOAT32));
static_assert(int(cu::kTensorMapFloat64) == int(CU_TENSOR_MAP_DATA_TYPE_FLOAT64));
static_assert(int(cu::kTensorMapBfloat16) == int(CU_TENSOR_MAP_DATA_TYPE_BFLOAT16));
// The manifest's choice lists map to these enumerators by position.
static_assert(CU_TENSOR_MAP_INTERLEAVE_32B == 2 && CU_TENSOR_MAP_SWIZZLE_128B == 3 &&
              CU_TENSOR_MAP_L2_PROMOTION_L2_256B == 3 &&
              CU_TENSOR_MAP_FLOAT_OOB_FILL_NAN_REQUEST_ZERO_FMA == 1);

static_assert(sizeof(cu::TensorMap) == sizeof(CUtensorMap));
static_assert(sizeof(cu::LaunchAttributeValue) == sizeof(CUlaunchAttributeValue));
static_assert(sizeof(cu::LaunchAttribute) == sizeof(CUlaunchAttribute));
static_assert(offsetof(cu::LaunchAttribute, value) == offsetof(CUlaunchAttribute, value));
static_assert(sizeof(cu::LaunchConfig) == sizeof(CUlaunchConfig));
static_assert(offsetof(cu::LaunchConfig, sharedMemBytes) ==
              offsetof(CUlaunchConfig, sharedMemBytes));
static_assert(offsetof(cu::LaunchConfig, hStream) == offsetof(CUlaunchConfig, hStream));
static_assert(offsetof(cu::LaunchConfig, attrs) == offsetof(CUlaunchConfig, attrs));
static_assert(offsetof(cu::LaunchConfig, numAttrs) == offsetof(CUlaunchConfig, numAttrs));
#endif
