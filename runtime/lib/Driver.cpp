#include "Driver.h"

#include <dlfcn.h>

#include <cstdlib>
#include <mutex>

namespace sparse_attn::runtime::cu {

namespace {

// cuGetProcAddress_v2 (CUDA 12.0+).
using GetProcAddress = Result (*)(const char *symbol, void **function, int cudaVersion,
                                  unsigned long long flags, int *symbolStatus);

struct EntryPoint {
  const char *symbol; // base name, as cuGetProcAddress wants it
  int cudaVersion;    // the ABI our declaration in Driver.h follows
  bool optional;
  size_t offset; // of the function pointer in DriverApi
};

#define SA_ENTRY(field, symbol, version, optional)                                                 \
  EntryPoint { symbol, version, optional, offsetof(DriverApi, field) }

const EntryPoint kEntryPoints[] = {
    SA_ENTRY(init, "cuInit", 12000, false),
    SA_ENTRY(getErrorName, "cuGetErrorName", 12000, false),
    SA_ENTRY(getErrorString, "cuGetErrorString", 12000, false),
    SA_ENTRY(deviceGetAttribute, "cuDeviceGetAttribute", 12000, false),
    SA_ENTRY(ctxGetCurrent, "cuCtxGetCurrent", 12000, false),
    SA_ENTRY(ctxGetDevice, "cuCtxGetDevice", 12000, false),
    SA_ENTRY(ctxGetId, "cuCtxGetId", 12000, false),
    SA_ENTRY(streamGetCtx, "cuStreamGetCtx", 12000, false),
    SA_ENTRY(streamIsCapturing, "cuStreamIsCapturing", 12000, false),
    SA_ENTRY(moduleLoadDataEx, "cuModuleLoadDataEx", 12000, false),
    SA_ENTRY(moduleUnload, "cuModuleUnload", 12000, false),
    SA_ENTRY(moduleGetFunction, "cuModuleGetFunction", 12000, false),
    SA_ENTRY(funcSetAttribute, "cuFuncSetAttribute", 12000, false),
    SA_ENTRY(funcGetParamInfo, "cuFuncGetParamInfo", 12040, true),
    SA_ENTRY(launchKernelEx, "cuLaunchKernelEx", 12000, false),
    SA_ENTRY(pointerGetAttributes, "cuPointerGetAttributes", 12000, false),
    SA_ENTRY(memAlloc, "cuMemAlloc", 12000, false),
    SA_ENTRY(memFree, "cuMemFree", 12000, false),
    SA_ENTRY(memAllocHost, "cuMemAllocHost", 12000, false),
    SA_ENTRY(memFreeHost, "cuMemFreeHost", 12000, false),
    SA_ENTRY(memcpyHtoDAsync, "cuMemcpyHtoDAsync", 12000, false),
    SA_ENTRY(tensorMapEncodeTiled, "cuTensorMapEncodeTiled", 12000, false),
};

#undef SA_ENTRY

} // namespace

Status loadDriver(const std::string &path, DriverApi &driver) {
  driver = DriverApi();
  // RTLD_LOCAL: our lookups go through cuGetProcAddress, nothing else needs
  // the symbols. The handle stays open for the life of the process.
  void *library = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!library) {
    const char *reason = dlerror();
    return Status::error(SA_ERROR_DRIVER_NOT_FOUND,
                         "CUDA driver not found: " + std::string(reason ? reason : path) +
                             " (is an NVIDIA driver installed? set SPARSE_ATTN_CUDA_DRIVER to "
                             "the path of libcuda.so.1 if it is elsewhere)");
  }
  auto getProcAddress = reinterpret_cast<GetProcAddress>(dlsym(library, "cuGetProcAddress_v2"));
  if (!getProcAddress)
    return Status::error(SA_ERROR_DRIVER,
                         "the CUDA driver at " + path +
                             " is too old: it lacks cuGetProcAddress_v2 (CUDA 12.0 or newer is "
                             "required)");
  for (const EntryPoint &entry : kEntryPoints) {
    void *function = nullptr;
    int symbolStatus = -1;
    Result result = getProcAddress(entry.symbol, &function, entry.cudaVersion,
                                   kGetProcAddressLegacyStream, &symbolStatus);
    if (result != kSuccess || symbolStatus != kGetProcAddressSuccess || !function) {
      if (entry.optional)
        continue;
      return Status::error(SA_ERROR_DRIVER_NOT_FOUND,
                           "the CUDA driver at " + path + " has no " + entry.symbol + " for CUDA " +
                               std::to_string(entry.cudaVersion / 1000) + "." +
                               std::to_string(entry.cudaVersion % 1000 / 10) +
                               " (the runtime needs a CUDA 12.0 or newer driver)");
    }
    *reinterpret_cast<void **>(reinterpret_cast<char *>(&driver) + entry.offset) = function;
  }
  if (Result result = driver.init(0); result != kSuccess)
    return Status::error(SA_ERROR_DRIVER, describeResult(driver, "cuInit", result));
  return Status::success();
}

Status systemDriver(const DriverApi *&driver) {
  static std::once_flag once;
  static DriverApi table;
  static Status outcome = Status::success();
  std::call_once(once, [] {
    const char *override = std::getenv("SPARSE_ATTN_CUDA_DRIVER");
    outcome = loadDriver(override && *override ? override : "libcuda.so.1", table);
  });
  driver = outcome.ok() ? &table : nullptr;
  return outcome.ok() ? Status::success() : Status::error(outcome.code(), outcome.message());
}

std::string describeResult(const DriverApi &driver, const char *call, Result result) {
  const char *name = nullptr;
  const char *text = nullptr;
  if (driver.getErrorName)
    driver.getErrorName(result, &name);
  if (driver.getErrorString)
    driver.getErrorString(result, &text);
  std::string description =
      std::string(call) + " failed: " + (name ? name : "CUDA error " + std::to_string(result));
  if (text)
    description += std::string(" (") + text + ")";
  return description;
}

} // namespace sparse_attn::runtime::cu
