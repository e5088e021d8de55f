// Launches through Runtime with the fake driver: context and module caching,
// cubin/PTX selection, pointer checks, parameter checks, shared memory,
// clusters and TMA descriptors.
#include "AllocationCounter.h"
#include "FakeDriver.h"
#include "Runtime.h"
#include "TestBundle.h"

#include <gtest/gtest.h>

#include <cstring>
#include <thread>

using namespace sparse_attn::runtime;
using namespace sparse_attn::runtime::testing;

namespace {

sa_tensor tensor(uint64_t data, std::initializer_list<int64_t> sizes,
                 std::initializer_list<int64_t> strides) {
  sa_tensor result{};
  result.data = data;
  result.dtype = SA_DTYPE_F32;
  result.rank = static_cast<int32_t>(sizes.size());
  int d = 0;
  for (int64_t size : sizes)
    result.sizes[d++] = size;
  d = 0;
  for (int64_t stride : strides)
    result.strides[d++] = stride;
  return result;
}

class LaunchTest : public ::testing::Test {
protected:
  void SetUp() override {
    bundle.writeStandardFiles(kTestManifest);
    const Bundle *loaded = nullptr;
    Status status = runtime.loadBundle(bundle.path(), loaded);
    ASSERT_TRUE(status.ok()) << status.message();
    scaledAdd = loaded->findKernel("scaled_add");
    tileCopy = loaded->findKernel("tile_copy");
    ASSERT_TRUE(scaledAdd && tileCopy);

    uint64_t bytes = 32 * 64 * 4;
    addTensors[0] = {"x", tensor(fake.allocate(bytes), {32, 64}, {64, 1})};
    addTensors[1] = {"y", tensor(fake.allocate(bytes), {32, 64}, {64, 1})};
    addTensors[2] = {"z", tensor(fake.allocate(bytes), {32, 64}, {64, 1})};
    addScalars[0] = {"a", SA_SCALAR_F32, 0, 2.0};
    addScalars[1] = {"n", SA_SCALAR_I32, 1, 0};
    addScalars[2] = {"offset", SA_SCALAR_I64, 0, 0};

    uint64_t copyBytes = 2 * 100 * 128 * 4 + 4096; // room to shift the views
    copyTensors[0] = {"source", tensor(fake.allocate(copyBytes), {2, 100, 96}, {12800, 128, 1})};
    copyTensors[1] = {"destination",
                      tensor(fake.allocate(copyBytes), {2, 100, 96}, {12800, 128, 1})};
  }

  Status launchAdd(cu::Stream stream = nullptr) {
    fake.functionParamSizes = {8, 8, 8, 8, 4, 8, 4, 4, 4, 8, 8};
    return runtime.launch(*scaledAdd, addTensors, 3, addScalars, 3, stream);
  }
  Status launchCopy(cu::Stream stream = nullptr) {
    fake.functionParamSizes = {8, 8, 8};
    return runtime.launch(*tileCopy, copyTensors, 2, nullptr, 0, stream);
  }

  std::string addError() {
    Status status = launchAdd();
    EXPECT_FALSE(status.ok());
    return status.message();
  }

  FakeDriver fake; // outlives the runtime, which unloads through it
  Runtime runtime{&fake.api};
  TestBundle bundle;
  const Kernel *scaledAdd = nullptr;
  const Kernel *tileCopy = nullptr;
  sa_tensor_arg addTensors[3];
  sa_scalar_arg addScalars[3];
  sa_tensor_arg copyTensors[2];
};

TEST_F(LaunchTest, LaunchesWithTheManifestsShapeAndParameters) {
  cu::Stream stream = reinterpret_cast<cu::Stream>(0x55);
  Status status = launchAdd(stream);
  ASSERT_TRUE(status.ok()) << status.message();
  ASSERT_EQ(fake.launches.size(), 1u);
  const FakeDriver::Launch &launch = fake.launches[0];
  EXPECT_EQ(launch.config.gridDimX, 4u);
  EXPECT_EQ(launch.config.gridDimY, 2u);
  EXPECT_EQ(launch.config.gridDimZ, 1u);
  EXPECT_EQ(launch.config.blockDimX, 16u);
  EXPECT_EQ(launch.config.blockDimY, 16u);
  EXPECT_EQ(launch.config.sharedMemBytes, 0u);
  EXPECT_EQ(launch.config.hStream, stream);
  EXPECT_FALSE(launch.hasCluster);
  ASSERT_EQ(launch.params.size(), 11u);
  uint64_t pointer;
  std::memcpy(&pointer, launch.params[2].data(), 8);
  EXPECT_EQ(pointer, addTensors[2].tensor.data);
  float a;
  std::memcpy(&a, launch.params[7].data(), 4);
  EXPECT_EQ(a, 2.0f);
  EXPECT_TRUE(fake.functionAttributes.empty()); // no shared memory opt-in needed
}

TEST_F(LaunchTest, PicksTheCubinWhenTheDeviceMatchesAndCachesTheModule) {
  ASSERT_TRUE(launchAdd().ok());
  ASSERT_TRUE(launchAdd().ok());
  ASSERT_TRUE(launchCopy().ok()); // same module
  ASSERT_EQ(fake.moduleLoads.size(), 1u);
  EXPECT_FALSE(fake.moduleLoads[0].isPtx);
  EXPECT_EQ(fake.launches.size(), 3u);

  // Another context loads its own copy.
  fake.contextId = 2;
  ASSERT_TRUE(launchAdd().ok());
  EXPECT_EQ(fake.moduleLoads.size(), 2u);
}

TEST_F(LaunchTest, JitsThePtxOnOtherDevices) {
  fake.computeMajor = 10;
  ASSERT_TRUE(launchAdd().ok());
  ASSERT_EQ(fake.moduleLoads.size(), 1u);
  EXPECT_TRUE(fake.moduleLoads[0].isPtx);
  EXPECT_EQ(fake.moduleLoads[0].image, fakePtx("sm_90a", {"scaled_add", "tile_copy"}));
}

TEST_F(LaunchTest, FallsBackToPtxWhenTheCubinIsRefused) {
  fake.cubinLoadResult = 209;
  ASSERT_TRUE(launchAdd().ok());
  ASSERT_EQ(fake.moduleLoads.size(), 2u);
  EXPECT_TRUE(fake.moduleLoads[1].isPtx);
}

TEST_F(LaunchTest, JitFailuresCarryTheLog) {
  fake.computeMajor = 8;
  fake.moduleLoadResult = 218;
  fake.jitErrorLog = "ptxas fatal   : SM version specified by .target is higher than default";
  Status status = launchAdd();
  EXPECT_EQ(status.code(), SA_ERROR_DRIVER);
  EXPECT_EQ(status.message(),
            "kernel \"scaled_add\": loading module \"kernels\" from kernels.ptx (PTX for sm_90a) "
            "on a compute capability 8.0 device failed: cuModuleLoadDataEx failed: "
            "CUDA_ERROR_INVALID_PTX (a PTX JIT compilation failed); JIT log:\nptxas fatal   : "
            "SM version specified by .target is higher than default");
  EXPECT_TRUE(fake.launches.empty());
}

TEST_F(LaunchTest, NeedsACurrentContext) {
  fake.currentContext = nullptr;
  Status status = launchAdd();
  EXPECT_EQ(status.code(), SA_ERROR_VALIDATION);
  EXPECT_EQ(status.message(),
            "kernel \"scaled_add\": no CUDA context is current on this thread; make the "
            "device's context current before launching (PyTorch does on first use of a device)");
}

TEST_F(LaunchTest, StreamMustBelongToTheCurrentContext) {
  cu::Stream stream = reinterpret_cast<cu::Stream>(0x77);
  fake.streamContexts[stream] = reinterpret_cast<cu::Context>(0x999);
  EXPECT_EQ(launchAdd(stream).message(),
            "kernel \"scaled_add\": the stream belongs to another CUDA context than the current "
            "one");
}

TEST_F(LaunchTest, TensorsMustBeOnTheContextsDevice) {
  addTensors[1].tensor.device = 1;
  EXPECT_EQ(addError(), "kernel \"scaled_add\": tensor 'y' is on device 1, but the current CUDA "
                        "context is on device 0");
}

TEST_F(LaunchTest, PointerMustBeDeviceMemoryOfThatDevice) {
  uint64_t host = fake.allocate(1 << 20, 0, cu::kMemoryTypeHost);
  addTensors[0].tensor.data = host;
  EXPECT_EQ(addError(), "kernel \"scaled_add\": tensor 'x' data pointer 0x" + ([&] {
                          char buffer[24];
                          std::snprintf(buffer, sizeof buffer, "%llx",
                                        static_cast<unsigned long long>(host));
                          return std::string(buffer);
                        })() +
                            " is host memory; the kernel needs device memory");
  addTensors[0].tensor.data = 0x1000; // unknown to CUDA
  EXPECT_EQ(addError(), "kernel \"scaled_add\": tensor 'x' data pointer 0x1000 is not memory "
                        "allocated through CUDA");
  uint64_t elsewhere = fake.allocate(1 << 20, 1);
  addTensors[0].tensor.data = elsewhere;
  Status status = launchAdd();
  EXPECT_EQ(status.code(), SA_ERROR_VALIDATION);
  EXPECT_NE(status.message().find("belongs to device 1, but the tensor says device 0"),
            std::string::npos)
      << status.message();
  // Managed memory is fine.
  addTensors[0].tensor.data = fake.allocate(1 << 20, 0, cu::kMemoryTypeUnified);
  EXPECT_TRUE(launchAdd().ok());
}

TEST_F(LaunchTest, TensorMustStayInsideItsAllocation) {
  uint64_t small = fake.allocate(32 * 64 * 4 - 4);
  addTensors[2].tensor.data = small;
  Status status = launchAdd();
  EXPECT_EQ(status.code(), SA_ERROR_VALIDATION);
  EXPECT_NE(status.message().find("tensor 'z' reaches byte"), std::string::npos)
      << status.message();
  EXPECT_NE(status.message().find("past the end of its allocation"), std::string::npos);

  // Memory mapped in pieces (two adjacent allocations) passes: the last byte
  // is checked too.
  uint64_t first = fake.allocate(4096);
  fake.allocations.push_back({first + 4096, 1 << 20, 0, cu::kMemoryTypeDevice});
  addTensors[2].tensor.data = first;
  EXPECT_TRUE(launchAdd().ok());
}

TEST_F(LaunchTest, ChecksTheParameterListAgainstTheCompiledKernel) {
  fake.functionParamSizes = {8, 8, 8, 8, 8, 8, 4, 4, 4, 8, 8}; // param 4 compiled as 8 bytes
  Status status = runtime.launch(*scaledAdd, addTensors, 3, addScalars, 3, nullptr);
  EXPECT_EQ(status.code(), SA_ERROR_BUNDLE);
  EXPECT_EQ(status.message(), "kernel \"scaled_add\": parameter 4 of entry scaled_add is 8 "
                              "bytes, but the manifest's size of x dim 1 (i32) is 4");
  fake.contextId = 2;
  fake.functionParamSizes = {8, 8, 8};
  status = runtime.launch(*scaledAdd, addTensors, 3, addScalars, 3, nullptr);
  EXPECT_EQ(status.message(), "kernel \"scaled_add\": entry scaled_add in kernels.ptx takes 3 "
                              "parameters, but the manifest lists 11");
  fake.contextId = 3;
  fake.functionParamSizes = {8, 8, 8, 8, 4, 8, 4, 4, 4, 8, 8, 8};
  status = runtime.launch(*scaledAdd, addTensors, 3, addScalars, 3, nullptr);
  EXPECT_EQ(status.message(), "kernel \"scaled_add\": entry scaled_add in kernels.ptx takes "
                              "more parameters than the 11 the manifest lists");
  // Without cuFuncGetParamInfo (drivers before 12.4) the check is skipped.
  fake.contextId = 4;
  fake.api.funcGetParamInfo = nullptr;
  fake.functionParamSizes = {8, 8, 8, 8, 4, 8, 4, 4, 4, 8, 8}; // for the launch record
  EXPECT_TRUE(runtime.launch(*scaledAdd, addTensors, 3, addScalars, 3, nullptr).ok());
}

TEST_F(LaunchTest, OptsIntoLargeSharedMemoryAndLaunchesClusters) {
  Status status = launchCopy();
  ASSERT_TRUE(status.ok()) << status.message();
  ASSERT_EQ(fake.functionAttributes.size(), 1u);
  EXPECT_EQ(fake.functionAttributes[0],
            std::make_pair(cu::kFunctionAttributeMaxDynamicSharedSizeBytes, 65536));
  ASSERT_EQ(fake.launches.size(), 1u);
  const FakeDriver::Launch &launch = fake.launches[0];
  EXPECT_EQ(launch.config.sharedMemBytes, 65536u);
  EXPECT_EQ(launch.config.gridDimX, 3u);
  EXPECT_EQ(launch.config.gridDimY, 13u);
  EXPECT_EQ(launch.config.gridDimZ, 2u);
  ASSERT_TRUE(launch.hasCluster);
  EXPECT_EQ(launch.cluster[0], 2u);
  EXPECT_EQ(launch.cluster[1], 1u);
  // The attribute is set once per function.
  ASSERT_TRUE(launchCopy().ok());
  EXPECT_EQ(fake.functionAttributes.size(), 1u);
}

TEST_F(LaunchTest, RefusesMoreSharedMemoryThanTheDeviceHas) {
  fake.maxSharedMemoryOptin = 48 * 1024;
  Status status = launchCopy();
  EXPECT_EQ(status.code(), SA_ERROR_VALIDATION);
  EXPECT_EQ(status.message(), "kernel \"tile_copy\": the kernel needs 65536 bytes of dynamic "
                              "shared memory; the device allows 49152");
}

TEST_F(LaunchTest, EncodesTensorMapsAndCopiesThemBeforeEveryLaunch) {
  cu::Stream stream = reinterpret_cast<cu::Stream>(0x66);
  ASSERT_TRUE(launchCopy(stream).ok());
  ASSERT_EQ(fake.encodings.size(), 2u);
  const FakeDriver::Encoding &source = fake.encodings[0];
  EXPECT_EQ(source.address, copyTensors[0].tensor.data);
  EXPECT_EQ(source.dims, (std::vector<unsigned long long>{96, 100, 2}));
  EXPECT_EQ(source.strides, (std::vector<unsigned long long>{512, 51200}));
  EXPECT_EQ(source.box, (std::vector<unsigned>{32, 8, 1}));
  EXPECT_EQ(source.swizzle, 3);
  EXPECT_EQ(source.l2Promotion, 3);
  EXPECT_EQ(source.oobFill, 1);
  EXPECT_EQ(fake.encodings[1].swizzle, 0);

  ASSERT_EQ(fake.copies.size(), 1u);
  const FakeDriver::Copy copy = fake.copies[0];
  EXPECT_EQ(copy.stream, stream);
  ASSERT_EQ(copy.bytes.size(), 256u); // both maps in one copy
  uint64_t encodedAddress;
  std::memcpy(&encodedAddress, copy.bytes.data(), 8);
  EXPECT_EQ(encodedAddress, copyTensors[0].tensor.data);

  // Parameters 0 and 2 point at the two descriptors.
  uint64_t first, second;
  std::memcpy(&first, fake.launches[0].params[0].data(), 8);
  std::memcpy(&second, fake.launches[0].params[2].data(), 8);
  EXPECT_EQ(first, copy.destination);
  EXPECT_EQ(second, copy.destination + 128);
  EXPECT_EQ(first % 128, 0u);

  // The same tensors reuse the descriptors but copy them again (another
  // stream may launch before the first copy ran).
  ASSERT_TRUE(launchCopy().ok());
  ASSERT_EQ(fake.copies.size(), 2u);
  EXPECT_EQ(fake.copies[1].destination, copy.destination);
  EXPECT_EQ(fake.deviceAllocations, 1);
  EXPECT_EQ(fake.hostAllocations, 1);

  // Other tensors get new descriptors in the same chunk.
  copyTensors[0].tensor.data += 512;
  Status status = launchCopy();
  ASSERT_TRUE(status.ok()) << status.message();
  EXPECT_EQ(fake.copies[2].destination, copy.destination + 256);
  EXPECT_EQ(fake.deviceAllocations, 1);
}

TEST_F(LaunchTest, TensorMapMemoryCannotGrowDuringCapture) {
  fake.capturing = true;
  Status status = launchCopy();
  EXPECT_EQ(status.code(), SA_ERROR_VALIDATION);
  EXPECT_EQ(status.message(), "kernel \"tile_copy\": new TMA descriptor memory is needed while "
                              "the stream is being captured into a graph; launch once outside "
                              "capture first");
  fake.capturing = false;
  ASSERT_TRUE(launchCopy().ok());
  // Once the memory exists, launches (and new descriptors) work under capture.
  fake.capturing = true;
  copyTensors[0].tensor.data += 512;
  EXPECT_TRUE(launchCopy().ok());
}

TEST_F(LaunchTest, EmptyTensorsGetNullDescriptors) {
  copyTensors[1].tensor.sizes[1] = 0; // the grid follows source, which is not empty
  ASSERT_TRUE(launchCopy().ok());
  ASSERT_EQ(fake.launches.size(), 1u);
  EXPECT_EQ(fake.encodings.size(), 1u);
  uint64_t source, destination;
  std::memcpy(&source, fake.launches[0].params[0].data(), 8);
  std::memcpy(&destination, fake.launches[0].params[2].data(), 8);
  EXPECT_NE(source, 0u);
  EXPECT_EQ(destination, 0u);
}

TEST_F(LaunchTest, LaunchesAfterTheFirstAllocateNothing) {
  if (!allocationCountingAvailable())
    GTEST_SKIP() << "allocation counting is off under AddressSanitizer";
  {
    CountAllocations count; // the counter itself works
    std::vector<int> probe(100);
    EXPECT_EQ(countedAllocations(), 1u);
  }
  ASSERT_TRUE(launchAdd().ok());
  ASSERT_TRUE(launchCopy().ok());
  {
    CountAllocations count;
    ASSERT_TRUE(launchAdd().ok());
    ASSERT_TRUE(launchCopy().ok()); // TMA descriptors: encoded, found, copied
    EXPECT_EQ(countedAllocations(), 0u);
  }
  EXPECT_EQ(fake.launches.size(), 4u);
}

TEST_F(LaunchTest, ZeroGridLaunchesNothing) {
  for (sa_tensor_arg &argument : addTensors)
    argument.tensor.sizes[0] = 0;
  ASSERT_TRUE(launchAdd().ok());
  EXPECT_TRUE(fake.launches.empty());
}

TEST_F(LaunchTest, DriverErrorsAreReported) {
  fake.launchResult = cu::kErrorInvalidValue;
  Status status = launchAdd();
  EXPECT_EQ(status.code(), SA_ERROR_DRIVER);
  EXPECT_EQ(status.message(),
            "kernel \"scaled_add\": cuLaunchKernelEx failed: CUDA_ERROR_INVALID_VALUE");
}

TEST_F(LaunchTest, ValidationComesBeforeTheDriver) {
  addTensors[0].tensor.dtype = SA_DTYPE_F16;
  EXPECT_EQ(addError(),
            "kernel \"scaled_add\": tensor 'x' has dtype f16, but the kernel needs f32");
  EXPECT_TRUE(fake.moduleLoads.empty());
}

TEST_F(LaunchTest, ConcurrentLaunches) {
  fake.functionParamSizes = {8, 8, 8, 8, 4, 8, 4, 4, 4, 8, 8};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i)
        EXPECT_TRUE(runtime.launch(*scaledAdd, addTensors, 3, addScalars, 3, nullptr).ok());
    });
  for (std::thread &thread : threads)
    thread.join();
  EXPECT_EQ(fake.launches.size(), 400u);
  EXPECT_EQ(fake.moduleLoads.size(), 1u);
}

TEST_F(LaunchTest, FindsKernelsBySpecialization) {
  const Kernel *found = nullptr;
  ASSERT_TRUE(runtime.findKernel("test.scaled_add", "fused=true,dtype=f32,alpha=1.50", found).ok());
  EXPECT_EQ(found, scaledAdd);
  Status status = runtime.findKernel("test.scaled_add", "dtype=f32,alpha=1.5", found);
  EXPECT_EQ(status.code(), SA_ERROR_NOT_FOUND);
  EXPECT_EQ(status.message(), "no loaded kernel implements op \"test.scaled_add\" with "
                              "specialization {alpha=1.5,dtype=f32}; kernels for this op:\n"
                              "  {alpha=1.5,dtype=f32,fused=true} (scaled_add in unit-test)");
  status = runtime.findKernel("attention", "dtype=f32", found);
  EXPECT_EQ(status.message(), "no loaded kernel implements op \"attention\" with specialization "
                              "{dtype=f32}; no loaded bundle (1 loaded) has any kernel for this "
                              "op");
}

TEST_F(LaunchTest, BundleNamesAreUnique) {
  TestBundle second("second");
  second.writeStandardFiles(kTestManifest);
  const Bundle *loaded = nullptr;
  Status status = runtime.loadBundle(second.path(), loaded);
  EXPECT_EQ(status.code(), SA_ERROR_BUNDLE);
  EXPECT_EQ(status.message(), "a bundle named \"unit-test\" is already loaded (from " +
                                  bundle.path() + "); not loading " + second.path());
}

} // namespace
