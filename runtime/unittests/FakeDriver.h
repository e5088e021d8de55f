// A scriptable stand-in for the CUDA driver: one current context on one
// device, a registry of allocations for pointer queries, and a record of
// module loads, copies, tensor-map encodings and launches.
#ifndef SPARSE_ATTN_RUNTIME_UNITTESTS_FAKEDRIVER_H
#define SPARSE_ATTN_RUNTIME_UNITTESTS_FAKEDRIVER_H

#include "Driver.h"

#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace sparse_attn::runtime::testing {

class FakeDriver {
public:
  struct Allocation {
    uint64_t start;
    uint64_t size;
    int device;
    unsigned memoryType;
  };
  struct ModuleLoad {
    bool isPtx; // false: a cubin
    std::string image;
  };
  struct Launch {
    cu::LaunchConfig config;
    bool hasCluster;
    unsigned cluster[3];
    std::vector<std::vector<unsigned char>> params; // bytes of each parameter
  };
  struct Copy {
    cu::DevicePtr destination;
    std::vector<unsigned char> bytes;
    cu::Stream stream;
  };
  struct Encoding {
    int dataType;
    unsigned rank;
    uint64_t address;
    std::vector<unsigned long long> dims, strides;
    std::vector<unsigned> box, elementStrides;
    int interleave, swizzle, l2Promotion, oobFill;
  };

  // Installs itself as the target of `api`'s functions (one fake at a time).
  FakeDriver();
  ~FakeDriver();

  cu::DriverApi api{};

  // Scripted state.
  cu::Context currentContext = reinterpret_cast<cu::Context>(0x100);
  unsigned long long contextId = 1;
  int device = 0;
  int computeMajor = 9;
  int computeMinor = 0;
  int maxSharedMemoryOptin = 227 * 1024;
  std::map<cu::Stream, cu::Context> streamContexts; // others: the current context
  std::vector<Allocation> allocations;
  // Parameter sizes of every function; empty: as the launch's params.
  std::vector<size_t> functionParamSizes;
  bool capturing = false;
  cu::Result moduleLoadResult = cu::kSuccess; // for PTX loads
  cu::Result cubinLoadResult = cu::kSuccess;
  std::string jitErrorLog;
  cu::Result launchResult = cu::kSuccess;

  // Records.
  std::vector<ModuleLoad> moduleLoads;
  std::vector<std::pair<int, int>> functionAttributes; // (attribute, value)
  std::vector<Launch> launches;
  std::vector<Copy> copies;
  std::vector<Encoding> encodings;
  int deviceAllocations = 0;
  int hostAllocations = 0;

  // Registers device memory and returns its address.
  uint64_t allocate(uint64_t size, int onDevice = 0, unsigned memoryType = cu::kMemoryTypeDevice);

  std::mutex mutex; // the runtime may call from several threads
};

} // namespace sparse_attn::runtime::testing

#endif
