// The subset of the CUDA driver API the runtime calls, declared here so the
// runtime builds without CUDA headers, and the table of entry points through
// which it calls them: loaded from libcuda.so.1 at run time, or filled with
// fakes by the unit tests. Types and values follow cuda.h (CUDA 12.0 ABI);
// unittests/DriverAbiTest.cpp checks them against cuda.h where it exists.
#ifndef SPARSE_ATTN_RUNTIME_DRIVER_H
#define SPARSE_ATTN_RUNTIME_DRIVER_H

#include "Status.h"

#include <cstddef>
#include <cstdint>
#include <string>

namespace sparse_attn::runtime::cu {

using Result = int;                   // CUresult
using Device = int;                   // CUdevice
using DevicePtr = unsigned long long; // CUdeviceptr
using Context = struct CUctx_st *;
using Module = struct CUmod_st *;
using Function = struct CUfunc_st *;
using Stream = struct CUstream_st *;

constexpr Result kSuccess = 0;
constexpr Result kErrorInvalidValue = 1;
constexpr Result kErrorOutOfMemory = 2;

// CUdevice_attribute
constexpr int kDeviceAttributeComputeCapabilityMajor = 75;
constexpr int kDeviceAttributeComputeCapabilityMinor = 76;
constexpr int kDeviceAttributeMaxSharedMemoryPerBlockOptin = 97;

// CUpointer_attribute
constexpr int kPointerAttributeMemoryType = 2;
constexpr int kPointerAttributeDeviceOrdinal = 9;
constexpr int kPointerAttributeRangeStartAddr = 11;
constexpr int kPointerAttributeRangeSize = 12;

// CUmemorytype
constexpr unsigned kMemoryTypeHost = 1;
constexpr unsigned kMemoryTypeDevice = 2;
constexpr unsigned kMemoryTypeUnified = 4;

// CUfunction_attribute
constexpr int kFunctionAttributeMaxDynamicSharedSizeBytes = 8;

// CUjit_option
constexpr int kJitErrorLogBuffer = 5;
constexpr int kJitErrorLogBufferSizeBytes = 6;

// CUlaunchAttributeID
constexpr int kLaunchAttributeClusterDimension = 4;

// CUstreamCaptureStatus
constexpr int kStreamCaptureStatusNone = 0;

// CUdriverProcAddress_flags and CUdriverProcAddressQueryResult
constexpr unsigned long long kGetProcAddressLegacyStream = 1;
constexpr int kGetProcAddressSuccess = 0;

// CUtensorMapDataType
enum TensorMapDataType {
  kTensorMapUint8 = 0,
  kTensorMapUint16 = 1,
  kTensorMapUint32 = 2,
  kTensorMapInt32 = 3,
  kTensorMapUint64 = 4,
  kTensorMapInt64 = 5,
  kTensorMapFloat16 = 6,
  kTensorMapFloat32 = 7,
  kTensorMapFloat64 = 8,
  kTensorMapBfloat16 = 9,
};

// CUlaunchAttributeValue is a 64-byte union; only the cluster shape is used.
union LaunchAttributeValue {
  char pad[64];
  struct {
    unsigned x, y, z;
  } clusterDim;
};

struct LaunchAttribute {
  int id;
  char pad[8 - sizeof(int)];
  LaunchAttributeValue value;
};

struct LaunchConfig {
  unsigned gridDimX, gridDimY, gridDimZ;
  unsigned blockDimX, blockDimY, blockDimZ;
  unsigned sharedMemBytes;
  Stream hStream;
  LaunchAttribute *attrs;
  unsigned numAttrs;
};

struct alignas(128) TensorMap {
  unsigned long long opaque[16];
};

// Entry points, each with the signature of the CUDA version named beside it
// (the version passed to cuGetProcAddress, which pins the ABI).
struct DriverApi {
  Result (*init)(unsigned flags);                                         // cuInit 12.0
  Result (*getErrorName)(Result error, const char **name);                // 12.0
  Result (*getErrorString)(Result error, const char **text);              // 12.0
  Result (*deviceGetAttribute)(int *value, int attribute, Device device); // 12.0
  Result (*ctxGetCurrent)(Context *context);                              // 12.0
  Result (*ctxGetDevice)(Device *device);                                 // 12.0
  Result (*ctxGetId)(Context context, unsigned long long *id);            // 12.0
  Result (*streamGetCtx)(Stream stream, Context *context);                // 12.0
  Result (*streamIsCapturing)(Stream stream, int *status);                // 12.0
  Result (*moduleLoadDataEx)(Module *module, const void *image, unsigned count, int *options,
                             void **values);                                        // 12.0
  Result (*moduleUnload)(Module module);                                            // 12.0
  Result (*moduleGetFunction)(Function *function, Module module, const char *name); // 12.0
  Result (*funcSetAttribute)(Function function, int attribute, int value);          // 12.0
  // Optional (null when the driver predates 12.4): lets the runtime check the
  // manifest's parameter list against the compiled kernel.
  Result (*funcGetParamInfo)(Function function, size_t index, size_t *offset,
                             size_t *size); // 12.4
  Result (*launchKernelEx)(const LaunchConfig *config, Function function, void **params,
                           void **extra); // 12.0
  Result (*pointerGetAttributes)(unsigned count, int *attributes, void **data,
                                 DevicePtr pointer);    // 12.0
  Result (*memAlloc)(DevicePtr *pointer, size_t bytes); // cuMemAlloc_v2, 12.0
  Result (*memFree)(DevicePtr pointer);                 // cuMemFree_v2, 12.0
  Result (*memAllocHost)(void **pointer, size_t bytes); // cuMemAllocHost_v2, 12.0
  Result (*memFreeHost)(void *pointer);                 // 12.0
  Result (*memcpyHtoDAsync)(DevicePtr destination, const void *source, size_t bytes,
                            Stream stream); // cuMemcpyHtoDAsync_v2, 12.0
  Result (*tensorMapEncodeTiled)(TensorMap *map, int dataType, unsigned rank, void *address,
                                 const unsigned long long *dims, const unsigned long long *strides,
                                 const unsigned *box, const unsigned *elementStrides,
                                 int interleave, int swizzle, int l2Promotion, int oobFill); // 12.0
};

// Loads the driver library at `path` (dlopen), resolves every entry point and
// calls cuInit(0). SA_ERROR_DRIVER_NOT_FOUND with "CUDA driver not found:
// <dlerror>" when the library is missing; SA_ERROR_DRIVER when it is too old
// or cuInit fails.
Status loadDriver(const std::string &path, DriverApi &driver);

// The process-wide driver: $SPARSE_ATTN_CUDA_DRIVER or libcuda.so.1, loaded
// once (the outcome, success or error, is remembered).
Status systemDriver(const DriverApi *&driver);

// "cuModuleLoadDataEx failed: CUDA_ERROR_INVALID_PTX (a PTX JIT compilation
// failed)", using the driver's own names when it provides them.
std::string describeResult(const DriverApi &driver, const char *call, Result result);

} // namespace sparse_attn::runtime::cu

#endif
