#include "Runtime.h"

#include "Arguments.h"

#include <cstring>

namespace sparse_attn::runtime {

namespace {

// TMA descriptors live in device memory carved from chunks of this size (512
// descriptors each).
constexpr size_t kTensorMapChunkBytes = 64 * 1024;
// Above this much dynamic shared memory a kernel must opt in.
constexpr uint32_t kDefaultSharedMemoryLimit = 48 * 1024;
constexpr size_t kJitLogBytes = 16 * 1024;

uint64_t hashBytes(const unsigned char *bytes, size_t size) {
  uint64_t hash = 1469598103934665603ull; // FNV-1a
  for (size_t i = 0; i < size; ++i)
    hash = (hash ^ bytes[i]) * 1099511628211ull;
  return hash;
}

Status driverError(const cu::DriverApi &driver, const char *call, cu::Result result) {
  return Status::error(result == cu::kErrorOutOfMemory ? SA_ERROR_OUT_OF_MEMORY : SA_ERROR_DRIVER,
                       cu::describeResult(driver, call, result));
}

} // namespace

struct Runtime::ContextState {
  cu::Context context = nullptr;
  cu::Device device = -1;
  int computeMajor = 0;
  int computeMinor = 0;
  int maxSharedMemoryOptin = 0;
  std::unordered_map<const ModuleSpec *, cu::Module> modules;
  std::unordered_map<const Kernel *, cu::Function> functions;

  // Encoded TMA descriptors, each written once into pinned host memory and
  // copied to the device copy on the launching stream before every launch
  // that uses it, so that launches on any stream and replays of captured
  // graphs see it. Entries are immutable and never freed before the runtime.
  struct Chunk {
    cu::DevicePtr device = 0;
    unsigned char *host = nullptr;
    size_t used = 0;
  };
  struct Placement {
    size_t chunk;
    size_t offset;
    size_t size;
  };
  std::vector<Chunk> chunks;
  std::unordered_map<uint64_t, std::vector<Placement>> placements; // by content hash
};

Bundle::Bundle(Runtime &runtime, std::string path, Manifest manifest)
    : runtime_(runtime), path_(std::move(path)), manifest_(std::move(manifest)) {
  for (const KernelSpec &spec : manifest_.kernels)
    kernels_.push_back(std::make_unique<Kernel>(*this, spec));
}

const Kernel *Bundle::findKernel(const std::string &name) const {
  for (const std::unique_ptr<Kernel> &kernel : kernels_)
    if (kernel->spec().name == name)
      return kernel.get();
  return nullptr;
}

Runtime::Runtime(const cu::DriverApi *driver) : injectedDriver_(driver) {}

Runtime::~Runtime() {
  // Best effort: contexts may already be gone, so errors are ignored.
  const cu::DriverApi *api = injectedDriver_;
  if (!api && !contexts_.empty() && !cu::systemDriver(api).ok())
    return;
  for (auto &[id, state] : contexts_) {
    for (auto &[spec, module] : state->modules)
      api->moduleUnload(module);
    for (const ContextState::Chunk &chunk : state->chunks) {
      api->memFree(chunk.device);
      api->memFreeHost(chunk.host);
    }
  }
}

Status Runtime::loadBundle(const std::string &path, const Bundle *&bundle) {
  std::string directory = path;
  while (directory.size() > 1 && directory.back() == '/')
    directory.pop_back();
  Manifest manifest;
  if (Status status = loadManifest(directory, manifest); !status.ok())
    return status;
  std::lock_guard<std::mutex> lock(mutex_);
  for (const std::unique_ptr<Bundle> &loaded : bundles_)
    if (loaded->manifest().name == manifest.name)
      return Status::error(SA_ERROR_BUNDLE, "a bundle named \"" + manifest.name +
                                                "\" is already loaded (from " + loaded->path() +
                                                "); not loading " + directory);
  bundles_.push_back(std::make_unique<Bundle>(*this, directory, std::move(manifest)));
  bundle = bundles_.back().get();
  return Status::success();
}

size_t Runtime::bundleCount() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return bundles_.size();
}

const Bundle *Runtime::bundleAt(size_t index) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return index < bundles_.size() ? bundles_[index].get() : nullptr;
}

Status Runtime::findKernel(const std::string &op, const std::string &specialization,
                           const Kernel *&kernel) const {
  Specialization query;
  if (Status status = parseSpecializationQuery(specialization, query); !status.ok())
    return status;
  std::lock_guard<std::mutex> lock(mutex_);
  std::string candidates;
  size_t candidateCount = 0;
  for (const std::unique_ptr<Bundle> &bundle : bundles_)
    for (const std::unique_ptr<Kernel> &candidate : bundle->kernels()) {
      const KernelSpec &spec = candidate->spec();
      if (spec.op != op)
        continue;
      if (spec.specialization == query) {
        kernel = candidate.get();
        return Status::success();
      }
      // List a few of the alternatives to make the miss easy to understand.
      if (++candidateCount <= 8)
        candidates += "\n  {" + spec.canonicalSpecialization + "} (" + spec.name + " in " +
                      bundle->manifest().name + ")";
    }
  std::string message = "no loaded kernel implements op \"" + op + "\" with specialization {" +
                        canonicalSpecialization(query) + "}";
  if (candidateCount == 0)
    message += "; no loaded bundle (" + std::to_string(bundles_.size()) +
               " loaded) has any kernel for this op";
  else
    message +=
        "; kernels for this op:" + candidates +
        (candidateCount > 8 ? "\n  ... and " + std::to_string(candidateCount - 8) + " more" : "");
  return Status::error(SA_ERROR_NOT_FOUND, message);
}

Status Runtime::driver(const cu::DriverApi *&driver) {
  if (injectedDriver_) {
    driver = injectedDriver_;
    return Status::success();
  }
  return cu::systemDriver(driver);
}

Status Runtime::currentContext(const cu::DriverApi &api, cu::Stream stream, ContextState *&state) {
  cu::Context context = nullptr;
  if (cu::Result result = api.ctxGetCurrent(&context); result != cu::kSuccess)
    return driverError(api, "cuCtxGetCurrent", result);
  if (!context)
    return Status::error(SA_ERROR_VALIDATION,
                         "no CUDA context is current on this thread; make the device's context "
                         "current before launching (PyTorch does on first use of a device)");
  if (stream) {
    cu::Context streamContext = nullptr;
    if (cu::Result result = api.streamGetCtx(stream, &streamContext); result != cu::kSuccess)
      return driverError(api, "cuStreamGetCtx", result);
    if (streamContext != context)
      return Status::error(SA_ERROR_VALIDATION,
                           "the stream belongs to another CUDA context than the current one");
  }
  unsigned long long id = 0;
  if (cu::Result result = api.ctxGetId(context, &id); result != cu::kSuccess)
    return driverError(api, "cuCtxGetId", result);
  std::unique_ptr<ContextState> &slot = contexts_[id];
  if (slot) {
    state = slot.get();
    return Status::success();
  }
  auto created = std::make_unique<ContextState>();
  created->context = context;
  if (cu::Result result = api.ctxGetDevice(&created->device); result != cu::kSuccess)
    return driverError(api, "cuCtxGetDevice", result);
  struct {
    int attribute;
    int *value;
  } attributes[] = {
      {cu::kDeviceAttributeComputeCapabilityMajor, &created->computeMajor},
      {cu::kDeviceAttributeComputeCapabilityMinor, &created->computeMinor},
      {cu::kDeviceAttributeMaxSharedMemoryPerBlockOptin, &created->maxSharedMemoryOptin},
  };
  for (const auto &attribute : attributes)
    if (cu::Result result =
            api.deviceGetAttribute(attribute.value, attribute.attribute, created->device);
        result != cu::kSuccess)
      return driverError(api, "cuDeviceGetAttribute", result);
  slot = std::move(created);
  state = slot.get();
  return Status::success();
}

Status Runtime::checkPointers(const cu::DriverApi &api, const ContextState &state,
                              const KernelSpec &kernel, const sa_tensor *const *tensors) {
  for (size_t i = 0; i < kernel.tensors.size(); ++i) {
    const sa_tensor &tensor = *tensors[i];
    auto name = [&] { return "tensor '" + kernel.tensors[i].name + "'"; };
    int64_t elements;
    tensorElementCount(tensor, elements);
    if (elements == 0)
      continue;
    if (tensor.device != state.device)
      return Status::error(SA_ERROR_VALIDATION, name() + " is on device " +
                                                    std::to_string(tensor.device) +
                                                    ", but the current CUDA context is on device " +
                                                    std::to_string(state.device));
    unsigned memoryType = 0;
    int ordinal = -1;
    cu::DevicePtr rangeStart = 0;
    size_t rangeSize = 0;
    int attributes[] = {cu::kPointerAttributeMemoryType, cu::kPointerAttributeDeviceOrdinal,
                        cu::kPointerAttributeRangeStartAddr, cu::kPointerAttributeRangeSize};
    void *values[] = {&memoryType, &ordinal, &rangeStart, &rangeSize};
    if (cu::Result result = api.pointerGetAttributes(4, attributes, values, tensor.data);
        result != cu::kSuccess)
      return driverError(api, "cuPointerGetAttributes", result);
    if (memoryType != cu::kMemoryTypeDevice && memoryType != cu::kMemoryTypeUnified)
      return Status::error(SA_ERROR_VALIDATION,
                           name() + " data pointer " + hexAddress(tensor.data) +
                               (memoryType == cu::kMemoryTypeHost
                                    ? " is host memory; the kernel needs device memory"
                                    : " is not memory allocated through CUDA"));
    if (ordinal != state.device)
      return Status::error(SA_ERROR_VALIDATION,
                           name() + " data pointer " + hexAddress(tensor.data) +
                               " belongs to device " + std::to_string(ordinal) +
                               ", but the tensor says device " + std::to_string(tensor.device));
    uint64_t first = 0, last = 0;
    tensorByteRange(tensor, first, last);
    if (last - rangeStart < rangeSize)
      continue;
    // The allocation that holds the first byte ends too early; memory mapped
    // piecewise (cuMemMap) may continue in another allocation, so check the
    // last byte itself.
    unsigned lastType = 0;
    int lastOrdinal = -1;
    int lastAttributes[] = {cu::kPointerAttributeMemoryType, cu::kPointerAttributeDeviceOrdinal};
    void *lastValues[] = {&lastType, &lastOrdinal};
    if (cu::Result result = api.pointerGetAttributes(2, lastAttributes, lastValues, last);
        result != cu::kSuccess)
      return driverError(api, "cuPointerGetAttributes", result);
    if ((lastType != cu::kMemoryTypeDevice && lastType != cu::kMemoryTypeUnified) ||
        lastOrdinal != state.device)
      return Status::error(SA_ERROR_VALIDATION, name() + " reaches byte " + hexAddress(last) +
                                                    ", past the end of its allocation [" +
                                                    hexAddress(rangeStart) + ", " +
                                                    hexAddress(rangeStart + rangeSize) +
                                                    "); check its sizes and strides");
  }
  return Status::success();
}

Status Runtime::loadModule(const cu::DriverApi &api, ContextState &state, const ModuleSpec &module,
                           cu::Module &loaded) {
  if (auto found = state.modules.find(&module); found != state.modules.end()) {
    loaded = found->second;
    return Status::success();
  }
  std::string cubinFailure;
  if (!module.cubin.empty() && module.computeMajor == state.computeMajor &&
      module.computeMinor == state.computeMinor) {
    cu::Result result = api.moduleLoadDataEx(&loaded, module.cubin.data(), 0, nullptr, nullptr);
    if (result == cu::kSuccess) {
      state.modules.emplace(&module, loaded);
      return Status::success();
    }
    cubinFailure = "; loading " + module.cubinFile +
                   " first failed too: " + cu::describeResult(api, "cuModuleLoadDataEx", result);
  }
  std::string errorLog(kJitLogBytes, '\0');
  int options[] = {cu::kJitErrorLogBuffer, cu::kJitErrorLogBufferSizeBytes};
  void *values[] = {errorLog.data(), reinterpret_cast<void *>(kJitLogBytes)};
  cu::Result result = api.moduleLoadDataEx(&loaded, module.ptx.c_str(), 2, options, values);
  if (result != cu::kSuccess) {
    std::string log(errorLog.c_str());
    return Status::error(
        SA_ERROR_DRIVER,
        "loading module \"" + module.name + "\" from " + module.ptxFile + " (PTX for " +
            module.target + ") on a compute capability " + std::to_string(state.computeMajor) +
            "." + std::to_string(state.computeMinor) +
            " device failed: " + cu::describeResult(api, "cuModuleLoadDataEx", result) +
            (log.empty() ? "" : "; JIT log:\n" + log) + cubinFailure);
  }
  state.modules.emplace(&module, loaded);
  return Status::success();
}

Status Runtime::resolveFunction(const cu::DriverApi &api, ContextState &state, const Kernel &kernel,
                                cu::Function &function) {
  if (auto found = state.functions.find(&kernel); found != state.functions.end()) {
    function = found->second;
    return Status::success();
  }
  const KernelSpec &spec = kernel.spec();
  const ModuleSpec &module = kernel.bundle().manifest().modules[spec.module];
  cu::Module loaded;
  if (Status status = loadModule(api, state, module, loaded); !status.ok())
    return status;
  if (cu::Result result = api.moduleGetFunction(&function, loaded, spec.entry.c_str());
      result != cu::kSuccess)
    return driverError(api, "cuModuleGetFunction", result);

  if (api.funcGetParamInfo) {
    for (size_t i = 0; i <= spec.params.size(); ++i) {
      size_t offset = 0, size = 0;
      cu::Result result = api.funcGetParamInfo(function, i, &offset, &size);
      if (i == spec.params.size()) {
        if (result == cu::kSuccess)
          return Status::error(SA_ERROR_BUNDLE, "entry " + spec.entry + " in " + module.ptxFile +
                                                    " takes more parameters than the " +
                                                    std::to_string(spec.params.size()) +
                                                    " the manifest lists");
        break;
      }
      if (result != cu::kSuccess)
        return Status::error(SA_ERROR_BUNDLE, "entry " + spec.entry + " in " + module.ptxFile +
                                                  " takes " + std::to_string(i) +
                                                  " parameters, but the manifest lists " +
                                                  std::to_string(spec.params.size()));
      if (size != spec.params[i].byteSize())
        return Status::error(SA_ERROR_BUNDLE, "parameter " + std::to_string(i) + " of entry " +
                                                  spec.entry + " is " + std::to_string(size) +
                                                  " bytes, but the manifest's " +
                                                  spec.params[i].description + " is " +
                                                  std::to_string(spec.params[i].byteSize()));
    }
  }

  uint32_t shared = spec.launch.sharedMemoryBytes;
  if (shared > kDefaultSharedMemoryLimit) {
    if (shared > static_cast<uint32_t>(state.maxSharedMemoryOptin))
      return Status::error(SA_ERROR_VALIDATION,
                           "the kernel needs " + std::to_string(shared) +
                               " bytes of dynamic shared memory; the device allows " +
                               std::to_string(state.maxSharedMemoryOptin));
    if (cu::Result result = api.funcSetAttribute(
            function, cu::kFunctionAttributeMaxDynamicSharedSizeBytes, static_cast<int>(shared));
        result != cu::kSuccess)
      return driverError(api, "cuFuncSetAttribute", result);
  }
  state.functions.emplace(&kernel, function);
  return Status::success();
}

Status Runtime::placeTensorMaps(const cu::DriverApi &api, ContextState &state,
                                const unsigned char *bytes, size_t size, cu::Stream stream,
                                cu::DevicePtr &address) {
  uint64_t hash = hashBytes(bytes, size);
  std::vector<ContextState::Placement> &bucket = state.placements[hash];
  const ContextState::Placement *placement = nullptr;
  for (const ContextState::Placement &candidate : bucket)
    if (candidate.size == size &&
        std::memcmp(state.chunks[candidate.chunk].host + candidate.offset, bytes, size) == 0)
      placement = &candidate;
  if (!placement) {
    if (state.chunks.empty() || state.chunks.back().used + size > kTensorMapChunkBytes) {
      int capture = cu::kStreamCaptureStatusNone;
      if (cu::Result result = api.streamIsCapturing(stream, &capture); result != cu::kSuccess)
        return driverError(api, "cuStreamIsCapturing", result);
      if (capture != cu::kStreamCaptureStatusNone)
        return Status::error(SA_ERROR_VALIDATION,
                             "new TMA descriptor memory is needed while the stream is being "
                             "captured into a graph; launch once outside capture first");
      ContextState::Chunk chunk;
      if (cu::Result result = api.memAlloc(&chunk.device, kTensorMapChunkBytes);
          result != cu::kSuccess)
        return driverError(api, "cuMemAlloc", result);
      void *host = nullptr;
      if (cu::Result result = api.memAllocHost(&host, kTensorMapChunkBytes);
          result != cu::kSuccess) {
        api.memFree(chunk.device);
        return driverError(api, "cuMemAllocHost", result);
      }
      chunk.host = static_cast<unsigned char *>(host);
      state.chunks.push_back(chunk);
    }
    ContextState::Chunk &chunk = state.chunks.back();
    std::memcpy(chunk.host + chunk.used, bytes, size);
    bucket.push_back({state.chunks.size() - 1, chunk.used, size});
    chunk.used += size; // sizes are multiples of 128 bytes, which keeps alignment
    placement = &bucket.back();
  }
  const ContextState::Chunk &chunk = state.chunks[placement->chunk];
  address = chunk.device + placement->offset;
  if (cu::Result result =
          api.memcpyHtoDAsync(address, chunk.host + placement->offset, size, stream);
      result != cu::kSuccess)
    return driverError(api, "cuMemcpyHtoDAsync", result);
  return Status::success();
}

Status Runtime::launch(const Kernel &kernel, const sa_tensor_arg *tensors, size_t tensorCount,
                       const sa_scalar_arg *scalars, size_t scalarCount, cu::Stream stream) {
  const KernelSpec &spec = kernel.spec();
  // Built only on failure: a successful launch allocates nothing.
  auto fail = [&spec](Status status) {
    return std::move(status).withContext("kernel \"" + spec.name + "\"");
  };
  BoundArguments bound;
  if (Status status = bindArguments(spec, tensors, tensorCount, scalars, scalarCount, bound);
      !status.ok())
    return fail(std::move(status));
  std::array<uint32_t, 3> grid;
  if (Status status = evaluateGrid(spec, bound, grid); !status.ok())
    return fail(std::move(status));
  if (grid[0] == 0 || grid[1] == 0 || grid[2] == 0)
    return Status::success(); // no work

  std::array<TensorMapEncoding, kMaxTensorMaps> encodings;
  std::array<bool, kMaxTensorMaps> emptyMaps{};
  for (size_t i = 0; i < spec.tensorMaps.size(); ++i)
    if (Status status =
            encodeTensorMapArguments(spec, spec.tensorMaps[i], bound, encodings[i], emptyMaps[i]);
        !status.ok())
      return fail(std::move(status));

  const cu::DriverApi *api = nullptr;
  if (Status status = driver(api); !status.ok())
    return status;

  cu::Function function = nullptr;
  std::array<cu::DevicePtr, kMaxTensorMaps> mapAddresses{};
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ContextState *state = nullptr;
    if (Status status = currentContext(*api, stream, state); !status.ok())
      return fail(std::move(status));
    if (Status status = checkPointers(*api, *state, spec, bound.tensors.data()); !status.ok())
      return fail(std::move(status));
    if (Status status = resolveFunction(*api, *state, kernel, function); !status.ok())
      return fail(std::move(status));
    if (!spec.tensorMaps.empty()) {
      std::array<cu::TensorMap, kMaxTensorMaps> maps{};
      for (size_t i = 0; i < spec.tensorMaps.size(); ++i) {
        if (emptyMaps[i])
          continue;
        const TensorMapEncoding &e = encodings[i];
        const TensorMapSpec &map = spec.tensorMaps[i];
        if (cu::Result result = api->tensorMapEncodeTiled(
                &maps[i], e.dataType, e.rank, e.address, e.dims.data(), e.byteStrides.data(),
                e.box.data(), e.elementStrides.data(), map.interleave, map.swizzle, map.l2Promotion,
                map.oobFill);
            result != cu::kSuccess)
          return fail(driverError(*api, "cuTensorMapEncodeTiled", result)
                          .withContext("tensor map of \"" + spec.tensors[map.tensor].name + "\""));
      }
      cu::DevicePtr base = 0;
      if (Status status =
              placeTensorMaps(*api, *state, reinterpret_cast<const unsigned char *>(maps.data()),
                              spec.tensorMaps.size() * sizeof(cu::TensorMap), stream, base);
          !status.ok())
        return fail(std::move(status));
      for (size_t i = 0; i < spec.tensorMaps.size(); ++i)
        mapAddresses[i] = emptyMaps[i] ? 0 : base + i * sizeof(cu::TensorMap);
    }
  }

  PackedParams packed;
  if (Status status = packParams(spec, bound, mapAddresses.data(), packed); !status.ok())
    return fail(std::move(status));
  cu::LaunchAttribute cluster{};
  cu::LaunchConfig config{};
  config.gridDimX = grid[0];
  config.gridDimY = grid[1];
  config.gridDimZ = grid[2];
  config.blockDimX = spec.launch.block[0];
  config.blockDimY = spec.launch.block[1];
  config.blockDimZ = spec.launch.block[2];
  config.sharedMemBytes = spec.launch.sharedMemoryBytes;
  config.hStream = stream;
  if (spec.launch.cluster[0] != 0) {
    cluster.id = cu::kLaunchAttributeClusterDimension;
    cluster.value.clusterDim = {spec.launch.cluster[0], spec.launch.cluster[1],
                                spec.launch.cluster[2]};
    config.attrs = &cluster;
    config.numAttrs = 1;
  }
  if (cu::Result result = api->launchKernelEx(&config, function, packed.pointers.data(), nullptr);
      result != cu::kSuccess)
    return fail(driverError(*api, "cuLaunchKernelEx", result));
  return Status::success();
}

} // namespace sparse_attn::runtime
