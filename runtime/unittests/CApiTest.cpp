// The C API end to end, with the system driver (absent or pointed away, so
// launches stop at "CUDA driver not found").
#include "TestBundle.h"

#include "sparse_attn/runtime.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

using namespace sparse_attn::runtime::testing;

namespace {

class CApiTest : public ::testing::Test {
protected:
  void SetUp() override {
    bundle.writeStandardFiles(kTestManifest);
    ASSERT_EQ(sa_runtime_create(&runtime), SA_OK);
  }
  void TearDown() override { sa_runtime_destroy(runtime); }

  const sa_kernel *loadScaledAdd() {
    const sa_bundle *loaded = nullptr;
    EXPECT_EQ(sa_runtime_load_bundle(runtime, bundle.path().c_str(), &loaded), SA_OK)
        << sa_last_error();
    const sa_kernel *kernel = nullptr;
    EXPECT_EQ(sa_bundle_find_kernel(loaded, "scaled_add", &kernel), SA_OK) << sa_last_error();
    return kernel;
  }

  static sa_tensor matrix(uint64_t data) {
    sa_tensor tensor{};
    tensor.data = data;
    tensor.dtype = SA_DTYPE_F32;
    tensor.rank = 2;
    tensor.sizes[0] = 32;
    tensor.sizes[1] = 64;
    tensor.strides[0] = 64;
    tensor.strides[1] = 1;
    return tensor;
  }

  TestBundle bundle;
  sa_runtime *runtime = nullptr;
};

TEST_F(CApiTest, VersionsAndNames) {
  EXPECT_STREQ(sa_version(), "0.1.0");
  EXPECT_EQ(sa_bundle_format_version(), SA_BUNDLE_FORMAT_VERSION);
  EXPECT_STREQ(sa_status_name(SA_ERROR_VALIDATION), "SA_ERROR_VALIDATION");
  EXPECT_STREQ(sa_status_name(static_cast<sa_status>(99)), "SA_UNKNOWN_STATUS");
  EXPECT_STREQ(sa_dtype_name(SA_DTYPE_BF16), "bf16");
  EXPECT_STREQ(sa_dtype_name(static_cast<sa_dtype>(99)), "invalid");
}

TEST_F(CApiTest, LoadsAndDescribesBundlesAndKernels) {
  const sa_bundle *loaded = nullptr;
  ASSERT_EQ(sa_runtime_load_bundle(runtime, (bundle.path() + "/").c_str(), &loaded), SA_OK)
      << sa_last_error();
  EXPECT_EQ(sa_runtime_bundle_count(runtime), 1u);
  EXPECT_EQ(sa_runtime_bundle_at(runtime, 0), loaded);
  EXPECT_EQ(sa_runtime_bundle_at(runtime, 1), nullptr);
  sa_bundle_info bundleInfo;
  ASSERT_EQ(sa_bundle_get_info(loaded, &bundleInfo), SA_OK);
  EXPECT_STREQ(bundleInfo.name, "unit-test");
  EXPECT_EQ(bundleInfo.path, bundle.path());
  EXPECT_EQ(bundleInfo.kernel_count, 2u);
  EXPECT_EQ(sa_bundle_kernel_at(loaded, 2), nullptr);

  const sa_kernel *kernel = nullptr;
  ASSERT_EQ(sa_runtime_find_kernel(runtime, "test.tile_copy", "dtype=f32", &kernel), SA_OK);
  EXPECT_EQ(kernel, sa_bundle_kernel_at(loaded, 1));
  sa_kernel_info info;
  ASSERT_EQ(sa_kernel_get_info(kernel, &info), SA_OK);
  EXPECT_STREQ(info.name, "tile_copy");
  EXPECT_STREQ(info.op, "test.tile_copy");
  EXPECT_STREQ(info.entry, "tile_copy");
  EXPECT_STREQ(info.specialization, "dtype=f32");
  EXPECT_STREQ(info.tuning, "");
  EXPECT_EQ(info.bundle, loaded);
  EXPECT_EQ(info.tensor_count, 2u);
  EXPECT_EQ(info.scalar_count, 0u);

  ASSERT_EQ(sa_bundle_find_kernel(loaded, "scaled_add", &kernel), SA_OK);
  sa_kernel_tensor_info tensor;
  ASSERT_EQ(sa_kernel_get_tensor(kernel, 2, &tensor), SA_OK);
  EXPECT_STREQ(tensor.name, "z");
  EXPECT_EQ(tensor.dtype, SA_DTYPE_F32);
  EXPECT_EQ(tensor.rank, 2);
  EXPECT_EQ(tensor.static_sizes[0], -1);
  EXPECT_EQ(tensor.static_sizes[1], 64);
  EXPECT_EQ(tensor.static_sizes[2], -1);
  EXPECT_EQ(tensor.alignment, 4);
  EXPECT_EQ(tensor.access, SA_ACCESS_WRITE);
  sa_kernel_scalar_info scalar;
  ASSERT_EQ(sa_kernel_get_scalar(kernel, 1, &scalar), SA_OK);
  EXPECT_STREQ(scalar.name, "n");
  EXPECT_EQ(scalar.type, SA_SCALAR_I32);
  EXPECT_EQ(sa_kernel_get_scalar(kernel, 3, &scalar), SA_ERROR_INVALID_ARGUMENT);
  EXPECT_STREQ(sa_last_error(),
               "sa_kernel_get_scalar: index 3 is out of range (the kernel has 3 scalars)");
  EXPECT_EQ(sa_kernel_get_tensor(kernel, 3, &tensor), SA_ERROR_INVALID_ARGUMENT);
}

TEST_F(CApiTest, LookupFailures) {
  const sa_bundle *loaded = nullptr;
  ASSERT_EQ(sa_runtime_load_bundle(runtime, bundle.path().c_str(), &loaded), SA_OK);
  const sa_kernel *kernel = nullptr;
  EXPECT_EQ(sa_bundle_find_kernel(loaded, "missing", &kernel), SA_ERROR_NOT_FOUND);
  EXPECT_STREQ(sa_last_error(),
               "bundle \"unit-test\" has no kernel named \"missing\" (it has: scaled_add, "
               "tile_copy)");
  EXPECT_EQ(sa_runtime_find_kernel(runtime, "test.tile_copy", "dtype=f16", &kernel),
            SA_ERROR_NOT_FOUND);
  EXPECT_EQ(sa_runtime_find_kernel(runtime, "test.tile_copy", "dtype", &kernel),
            SA_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(sa_runtime_load_bundle(runtime, "/nonexistent.bundle", nullptr), SA_ERROR_BUNDLE);
  EXPECT_STREQ(sa_last_error(), "cannot read /nonexistent.bundle/manifest.json (a bundle is a "
                                "directory holding manifest.json)");
}

TEST_F(CApiTest, NullArgumentsAreErrorsNotCrashes) {
  const sa_kernel *kernel = nullptr;
  EXPECT_EQ(sa_runtime_create(nullptr), SA_ERROR_INVALID_ARGUMENT);
  EXPECT_STREQ(sa_last_error(), "sa_runtime_create: runtime is null");
  EXPECT_EQ(sa_runtime_load_bundle(nullptr, "x", nullptr), SA_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(sa_runtime_load_bundle(runtime, nullptr, nullptr), SA_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(sa_runtime_find_kernel(runtime, nullptr, "", &kernel), SA_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(sa_runtime_find_kernel(runtime, "op", nullptr, &kernel), SA_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(sa_runtime_find_kernel(runtime, "op", "", nullptr), SA_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(sa_bundle_find_kernel(nullptr, "x", &kernel), SA_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(sa_bundle_get_info(nullptr, nullptr), SA_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(sa_kernel_get_info(nullptr, nullptr), SA_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(sa_kernel_get_tensor(nullptr, 0, nullptr), SA_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(sa_kernel_get_scalar(nullptr, 0, nullptr), SA_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(sa_launch(nullptr, nullptr, 0, nullptr, 0, nullptr), SA_ERROR_INVALID_ARGUMENT);
  EXPECT_STREQ(sa_last_error(), "sa_launch: kernel is null");
  EXPECT_EQ(sa_runtime_bundle_count(nullptr), 0u);
  EXPECT_EQ(sa_runtime_bundle_at(nullptr, 0), nullptr);
  EXPECT_EQ(sa_bundle_kernel_at(nullptr, 0), nullptr);
  sa_runtime_destroy(nullptr);
}

TEST_F(CApiTest, InvalidLaunchArgumentsAreReportedBeforeTheDriverIsNeeded) {
  const sa_kernel *kernel = loadScaledAdd();
  sa_tensor_arg tensors[3] = {
      {"x", matrix(0x10000)}, {"y", matrix(0x20000)}, {"z", matrix(0x30000)}};
  tensors[1].tensor.dtype = SA_DTYPE_F16;
  sa_scalar_arg scalars[3] = {
      {"a", SA_SCALAR_F32, 0, 1.0}, {"n", SA_SCALAR_I32, 1, 0}, {"offset", SA_SCALAR_I64, 0, 0}};
  EXPECT_EQ(sa_launch(kernel, tensors, 3, scalars, 3, nullptr), SA_ERROR_VALIDATION);
  EXPECT_STREQ(sa_last_error(),
               "kernel \"scaled_add\": tensor 'y' has dtype f16, but the kernel needs f32");
}

TEST_F(CApiTest, LastErrorIsPerThread) {
  EXPECT_EQ(sa_runtime_create(nullptr), SA_ERROR_INVALID_ARGUMENT);
  std::string seenByOtherThread = "unset";
  std::thread([&] { seenByOtherThread = sa_last_error(); }).join();
  EXPECT_EQ(seenByOtherThread, "");
  EXPECT_STREQ(sa_last_error(), "sa_runtime_create: runtime is null");
}

TEST_F(CApiTest, LaunchWithoutADriverFailsCleanly) {
  // The system driver is loaded once per process: point it at nothing before
  // anything asks for it (this is the only test that does).
  setenv("SPARSE_ATTN_CUDA_DRIVER", "/nonexistent/libcuda.so.1", 1);
  const sa_kernel *kernel = loadScaledAdd();
  sa_tensor_arg tensors[3] = {
      {"x", matrix(0x10000)}, {"y", matrix(0x20000)}, {"z", matrix(0x30000)}};
  sa_scalar_arg scalars[3] = {
      {"a", SA_SCALAR_F32, 0, 1.0}, {"n", SA_SCALAR_I32, 1, 0}, {"offset", SA_SCALAR_I64, 0, 0}};
  for (int attempt = 0; attempt < 2; ++attempt) {
    EXPECT_EQ(sa_launch(kernel, tensors, 3, scalars, 3, nullptr), SA_ERROR_DRIVER_NOT_FOUND);
    EXPECT_EQ(
        std::string(sa_last_error()).rfind("CUDA driver not found: /nonexistent/libcuda.so.1", 0),
        0u)
        << sa_last_error();
  }
}

} // namespace
