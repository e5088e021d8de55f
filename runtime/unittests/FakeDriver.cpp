#include "FakeDriver.h"

#include "AllocationCounter.h"

#include <cstdlib>
#include <cstring>

namespace sparse_attn::runtime::testing {

namespace {

FakeDriver *active = nullptr;
uint64_t nextAddress = 0x7f0000000000ull;

cu::Result init(unsigned) { return cu::kSuccess; }
cu::Result getErrorName(cu::Result error, const char **name) {
  switch (error) {
  case 1:
    *name = "CUDA_ERROR_INVALID_VALUE";
    return cu::kSuccess;
  case 2:
    *name = "CUDA_ERROR_OUT_OF_MEMORY";
    return cu::kSuccess;
  case 218:
    *name = "CUDA_ERROR_INVALID_PTX";
    return cu::kSuccess;
  case 209:
    *name = "CUDA_ERROR_NO_BINARY_FOR_GPU";
    return cu::kSuccess;
  default:
    return cu::kErrorInvalidValue;
  }
}
cu::Result getErrorString(cu::Result error, const char **text) {
  if (error == 218) {
    *text = "a PTX JIT compilation failed";
    return cu::kSuccess;
  }
  return cu::kErrorInvalidValue;
}
cu::Result deviceGetAttribute(int *value, int attribute, cu::Device device) {
  if (device != active->device)
    return cu::kErrorInvalidValue;
  switch (attribute) {
  case cu::kDeviceAttributeComputeCapabilityMajor:
    *value = active->computeMajor;
    return cu::kSuccess;
  case cu::kDeviceAttributeComputeCapabilityMinor:
    *value = active->computeMinor;
    return cu::kSuccess;
  case cu::kDeviceAttributeMaxSharedMemoryPerBlockOptin:
    *value = active->maxSharedMemoryOptin;
    return cu::kSuccess;
  }
  return cu::kErrorInvalidValue;
}
cu::Result ctxGetCurrent(cu::Context *context) {
  *context = active->currentContext;
  return cu::kSuccess;
}
cu::Result ctxGetDevice(cu::Device *device) {
  *device = active->device;
  return cu::kSuccess;
}
cu::Result ctxGetId(cu::Context, unsigned long long *id) {
  *id = active->contextId;
  return cu::kSuccess;
}
cu::Result streamGetCtx(cu::Stream stream, cu::Context *context) {
  auto found = active->streamContexts.find(stream);
  *context = found == active->streamContexts.end() ? active->currentContext : found->second;
  return cu::kSuccess;
}
cu::Result streamIsCapturing(cu::Stream, int *status) {
  *status = active->capturing ? 1 : 0;
  return cu::kSuccess;
}
cu::Result moduleLoadDataEx(cu::Module *module, const void *image, unsigned count, int *options,
                            void **values) {
  PauseCounting pause; // the fake's records are not the runtime's allocations
  const char *text = static_cast<const char *>(image);
  bool isPtx = std::strncmp(text,
                            "\x7f"
                            "ELF",
                            4) != 0;
  cu::Result result = isPtx ? active->moduleLoadResult : active->cubinLoadResult;
  std::lock_guard<std::mutex> lock(active->mutex);
  active->moduleLoads.push_back({isPtx, isPtx ? std::string(text) : std::string(text, 4)});
  if (result != cu::kSuccess) {
    for (unsigned i = 0; i < count; ++i)
      if (options[i] == cu::kJitErrorLogBuffer)
        std::strcpy(static_cast<char *>(values[i]), active->jitErrorLog.c_str());
    return result;
  }
  *module = reinterpret_cast<cu::Module>(0x1000 + active->moduleLoads.size());
  return cu::kSuccess;
}
cu::Result moduleUnload(cu::Module) { return cu::kSuccess; }
cu::Result moduleGetFunction(cu::Function *function, cu::Module, const char *) {
  *function = reinterpret_cast<cu::Function>(0x2000);
  return cu::kSuccess;
}
cu::Result funcSetAttribute(cu::Function, int attribute, int value) {
  active->functionAttributes.emplace_back(attribute, value);
  return cu::kSuccess;
}
cu::Result funcGetParamInfo(cu::Function, size_t index, size_t *offset, size_t *size) {
  if (index >= active->functionParamSizes.size())
    return cu::kErrorInvalidValue;
  *offset = 8 * index;
  *size = active->functionParamSizes[index];
  return cu::kSuccess;
}
cu::Result launchKernelEx(const cu::LaunchConfig *config, cu::Function, void **params, void **) {
  PauseCounting pause; // the fake's records are not the runtime's allocations
  if (active->launchResult != cu::kSuccess)
    return active->launchResult;
  FakeDriver::Launch launch;
  launch.config = *config;
  launch.hasCluster =
      config->numAttrs == 1 && config->attrs[0].id == cu::kLaunchAttributeClusterDimension;
  if (launch.hasCluster) {
    launch.cluster[0] = config->attrs[0].value.clusterDim.x;
    launch.cluster[1] = config->attrs[0].value.clusterDim.y;
    launch.cluster[2] = config->attrs[0].value.clusterDim.z;
  }
  for (size_t i = 0; i < active->functionParamSizes.size(); ++i) {
    const unsigned char *bytes = static_cast<const unsigned char *>(params[i]);
    launch.params.emplace_back(bytes, bytes + active->functionParamSizes[i]);
  }
  std::lock_guard<std::mutex> lock(active->mutex);
  active->launches.push_back(std::move(launch));
  return cu::kSuccess;
}
cu::Result pointerGetAttributes(unsigned count, int *attributes, void **data,
                                cu::DevicePtr pointer) {
  const FakeDriver::Allocation *found = nullptr;
  for (const FakeDriver::Allocation &allocation : active->allocations)
    if (pointer >= allocation.start && pointer - allocation.start < allocation.size)
      found = &allocation;
  // Like the driver: unknown pointers get zero attributes, not an error.
  for (unsigned i = 0; i < count; ++i) {
    switch (attributes[i]) {
    case cu::kPointerAttributeMemoryType:
      *static_cast<unsigned *>(data[i]) = found ? found->memoryType : 0;
      break;
    case cu::kPointerAttributeDeviceOrdinal:
      *static_cast<int *>(data[i]) = found ? found->device : -2;
      break;
    case cu::kPointerAttributeRangeStartAddr:
      *static_cast<cu::DevicePtr *>(data[i]) = found ? found->start : 0;
      break;
    case cu::kPointerAttributeRangeSize:
      *static_cast<size_t *>(data[i]) = found ? found->size : 0;
      break;
    default:
      return cu::kErrorInvalidValue;
    }
  }
  return cu::kSuccess;
}
cu::Result memAlloc(cu::DevicePtr *pointer, size_t bytes) {
  ++active->deviceAllocations;
  *pointer = active->allocate(bytes);
  return cu::kSuccess;
}
cu::Result memFree(cu::DevicePtr) { return cu::kSuccess; }
cu::Result memAllocHost(void **pointer, size_t bytes) {
  ++active->hostAllocations;
  *pointer = std::malloc(bytes);
  return cu::kSuccess;
}
cu::Result memFreeHost(void *pointer) {
  std::free(pointer);
  return cu::kSuccess;
}
cu::Result memcpyHtoDAsync(cu::DevicePtr destination, const void *source, size_t bytes,
                           cu::Stream stream) {
  PauseCounting pause; // the fake's records are not the runtime's allocations
  const unsigned char *begin = static_cast<const unsigned char *>(source);
  std::lock_guard<std::mutex> lock(active->mutex);
  active->copies.push_back({destination, std::vector<unsigned char>(begin, begin + bytes), stream});
  return cu::kSuccess;
}
cu::Result tensorMapEncodeTiled(cu::TensorMap *map, int dataType, unsigned rank, void *address,
                                const unsigned long long *dims, const unsigned long long *strides,
                                const unsigned *box, const unsigned *elementStrides, int interleave,
                                int swizzle, int l2Promotion, int oobFill) {
  PauseCounting pause;
  FakeDriver::Encoding encoding{dataType,
                                rank,
                                reinterpret_cast<uint64_t>(address),
                                std::vector<unsigned long long>(dims, dims + rank),
                                std::vector<unsigned long long>(strides, strides + rank - 1),
                                std::vector<unsigned>(box, box + rank),
                                std::vector<unsigned>(elementStrides, elementStrides + rank),
                                interleave,
                                swizzle,
                                l2Promotion,
                                oobFill};
  // The "descriptor" is the address and first extent, enough to tell maps apart.
  std::memset(map, 0, sizeof *map);
  map->opaque[0] = encoding.address;
  map->opaque[1] = dims[0];
  std::lock_guard<std::mutex> lock(active->mutex);
  active->encodings.push_back(std::move(encoding));
  return cu::kSuccess;
}

} // namespace

FakeDriver::FakeDriver() {
  active = this;
  api.init = init;
  api.getErrorName = getErrorName;
  api.getErrorString = getErrorString;
  api.deviceGetAttribute = deviceGetAttribute;
  api.ctxGetCurrent = ctxGetCurrent;
  api.ctxGetDevice = ctxGetDevice;
  api.ctxGetId = ctxGetId;
  api.streamGetCtx = streamGetCtx;
  api.streamIsCapturing = streamIsCapturing;
  api.moduleLoadDataEx = moduleLoadDataEx;
  api.moduleUnload = moduleUnload;
  api.moduleGetFunction = moduleGetFunction;
  api.funcSetAttribute = funcSetAttribute;
  api.funcGetParamInfo = funcGetParamInfo;
  api.launchKernelEx = launchKernelEx;
  api.pointerGetAttributes = pointerGetAttributes;
  api.memAlloc = memAlloc;
  api.memFree = memFree;
  api.memAllocHost = memAllocHost;
  api.memFreeHost = memFreeHost;
  api.memcpyHtoDAsync = memcpyHtoDAsync;
  api.tensorMapEncodeTiled = tensorMapEncodeTiled;
}

FakeDriver::~FakeDriver() { active = nullptr; }

uint64_t FakeDriver::allocate(uint64_t size, int onDevice, unsigned memoryType) {
  uint64_t start = nextAddress;
  nextAddress += (size + 0xFFFF) & ~0xFFFFull; // 64 KiB apart, like real allocations
  nextAddress += 0x10000;                      // and never adjacent
  allocations.push_back({start, size, onDevice, memoryType});
  return start;
}

} // namespace sparse_attn::runtime::testing
