// Loading the real driver library: the paths that work without a GPU.
#include "Driver.h"

#include <gtest/gtest.h>

using namespace sparse_attn::runtime;

namespace {

TEST(DriverLoader, MissingLibrary) {
  cu::DriverApi driver;
  Status status = cu::loadDriver("/nonexistent/libcuda.so.1", driver);
  EXPECT_EQ(status.code(), SA_ERROR_DRIVER_NOT_FOUND);
  EXPECT_EQ(status.message().rfind("CUDA driver not found: /nonexistent/libcuda.so.1: ", 0), 0u)
      << status.message();
  EXPECT_NE(status.message().find("set SPARSE_ATTN_CUDA_DRIVER"), std::string::npos);
}

TEST(DriverLoader, LibraryWithoutTheDriverApi) {
  // Any shared library that is not the driver: the C library is always there.
  cu::DriverApi driver;
  Status status = cu::loadDriver("libc.so.6", driver);
  EXPECT_EQ(status.code(), SA_ERROR_DRIVER);
  EXPECT_EQ(status.message(), "the CUDA driver at libc.so.6 is too old: it lacks "
                              "cuGetProcAddress_v2 (CUDA 12.0 or newer is required)");
}

TEST(DriverLoader, DescribesResultsWithoutTheDriversNames) {
  cu::DriverApi driver{};
  EXPECT_EQ(cu::describeResult(driver, "cuInit", 100), "cuInit failed: CUDA error 100");
}

} // namespace
