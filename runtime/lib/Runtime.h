// The runtime proper (the C++ API underneath the C API): loaded bundles,
// kernel lookup, and launches with a per-context cache of modules, functions
// and TMA descriptors. Thread-safe.
#ifndef SPARSE_ATTN_RUNTIME_RUNTIME_H
#define SPARSE_ATTN_RUNTIME_RUNTIME_H

#include "Driver.h"
#include "Manifest.h"

#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace sparse_attn::runtime {

class Bundle;
class Runtime;

class Kernel {
public:
  Kernel(const Bundle &bundle, const KernelSpec &spec) : bundle_(bundle), spec_(spec) {}
  const Bundle &bundle() const { return bundle_; }
  const KernelSpec &spec() const { return spec_; }

private:
  const Bundle &bundle_;
  const KernelSpec &spec_;
};

class Bundle {
public:
  Bundle(Runtime &runtime, std::string path, Manifest manifest);
  Runtime &runtime() const { return runtime_; }
  const std::string &path() const { return path_; }
  const Manifest &manifest() const { return manifest_; }
  const std::vector<std::unique_ptr<Kernel>> &kernels() const { return kernels_; }
  // Null when no kernel has that name.
  const Kernel *findKernel(const std::string &name) const;

private:
  Runtime &runtime_;
  std::string path_;
  Manifest manifest_;
  std::vector<std::unique_ptr<Kernel>> kernels_;
};

class Runtime {
public:
  // `driver` replaces the system driver (tests inject fakes); null means the
  // system driver, loaded on first use.
  explicit Runtime(const cu::DriverApi *driver = nullptr);
  ~Runtime();
  Runtime(const Runtime &) = delete;
  Runtime &operator=(const Runtime &) = delete;

  Status loadBundle(const std::string &path, const Bundle *&bundle);
  size_t bundleCount() const;
  const Bundle *bundleAt(size_t index) const;
  Status findKernel(const std::string &op, const std::string &specialization,
                    const Kernel *&kernel) const;

  Status launch(const Kernel &kernel, const sa_tensor_arg *tensors, size_t tensorCount,
                const sa_scalar_arg *scalars, size_t scalarCount, cu::Stream stream);

private:
  struct ContextState;

  Status driver(const cu::DriverApi *&driver);
  Status currentContext(const cu::DriverApi &driver, cu::Stream stream, ContextState *&state);
  Status resolveFunction(const cu::DriverApi &driver, ContextState &state, const Kernel &kernel,
                         cu::Function &function);
  Status loadModule(const cu::DriverApi &driver, ContextState &state, const ModuleSpec &module,
                    cu::Module &loaded);
  Status checkPointers(const cu::DriverApi &driver, const ContextState &state,
                       const KernelSpec &kernel, const sa_tensor *const *tensors);
  Status placeTensorMaps(const cu::DriverApi &driver, ContextState &state,
                         const unsigned char *bytes, size_t size, cu::Stream stream,
                         cu::DevicePtr &address);

  const cu::DriverApi *injectedDriver_;
  mutable std::mutex mutex_; // guards everything below
  std::vector<std::unique_ptr<Bundle>> bundles_;
  std::unordered_map<unsigned long long, std::unique_ptr<ContextState>> contexts_;
};

} // namespace sparse_attn::runtime

#endif
