#include "Arguments.h"
#include "TestBundle.h"

#include <gtest/gtest.h>

#include <cstring>

using namespace sparse_attn::runtime;
using namespace sparse_attn::runtime::testing;

namespace {

sa_tensor tensor(uint64_t data, sa_dtype dtype, std::initializer_list<int64_t> sizes,
                 std::initializer_list<int64_t> strides) {
  sa_tensor result{};
  result.data = data;
  result.dtype = dtype;
  result.rank = static_cast<int32_t>(sizes.size());
  int d = 0;
  for (int64_t size : sizes)
    result.sizes[d++] = size;
  d = 0;
  for (int64_t stride : strides)
    result.strides[d++] = stride;
  return result;
}

sa_scalar_arg integerScalar(const char *name, sa_scalar_type type, int64_t value) {
  return {name, type, value, 0.0};
}
sa_scalar_arg floatScalar(const char *name, double value) {
  return {name, SA_SCALAR_F32, 0, value};
}

// Valid arguments of the test manifest's scaled_add: x row-major, y
// column-major, z row-major, all [32, 64] f32, in separate allocations.
class ArgumentsTest : public ::testing::Test {
protected:
  void SetUp() override {
    bundle.writeStandardFiles(kTestManifest);
    Status status = loadManifest(bundle.path(), manifest);
    ASSERT_TRUE(status.ok()) << status.message();
    tensors[0] = {"x", tensor(0x10000, SA_DTYPE_F32, {32, 64}, {64, 1})};
    tensors[1] = {"y", tensor(0x20000, SA_DTYPE_F32, {32, 64}, {1, 32})};
    tensors[2] = {"z", tensor(0x30000, SA_DTYPE_F32, {32, 64}, {64, 1})};
    scalars[0] = floatScalar("a", 0.5);
    scalars[1] = integerScalar("n", SA_SCALAR_I32, 3);
    scalars[2] = integerScalar("offset", SA_SCALAR_I64, -5);
  }

  const KernelSpec &scaledAdd() const { return manifest.kernels[0]; }
  const KernelSpec &tileCopy() const { return manifest.kernels[1]; }

  Status bind() { return bindArguments(scaledAdd(), tensors, 3, scalars, 3, bound); }

  std::string violation() {
    Status status = bind();
    EXPECT_EQ(status.code(), SA_ERROR_VALIDATION) << status.message();
    return status.message();
  }

  TestBundle bundle;
  Manifest manifest;
  sa_tensor_arg tensors[3];
  sa_scalar_arg scalars[3];
  BoundArguments bound;
};

TEST_F(ArgumentsTest, ValidArgumentsBindInAnyOrder) {
  std::swap(tensors[0], tensors[2]);
  std::swap(scalars[0], scalars[1]);
  Status status = bind();
  ASSERT_TRUE(status.ok()) << status.message();
  EXPECT_EQ(bound.tensors[0]->data, 0x10000u);
  EXPECT_EQ(bound.tensors[2]->data, 0x30000u);
  EXPECT_EQ(bound.integerScalars[1], 3);
  EXPECT_EQ(bound.integerScalars[2], -5);
  EXPECT_EQ(bound.floatScalars[0], 0.5f);
}

TEST_F(ArgumentsTest, WrongDtype) {
  tensors[1].tensor.dtype = SA_DTYPE_BF16;
  EXPECT_EQ(violation(), "tensor 'y' has dtype bf16, but the kernel needs f32");
}

TEST_F(ArgumentsTest, WrongRank) {
  tensors[0].tensor = tensor(0x10000, SA_DTYPE_F32, {32, 64, 1}, {64, 1, 1});
  EXPECT_EQ(violation(), "tensor 'x' has rank 3, but the kernel needs rank 2");
}

TEST_F(ArgumentsTest, WrongStaticExtent) {
  tensors[2].tensor.sizes[1] = 63;
  EXPECT_EQ(violation(), "tensor 'z' has extent 63 in dimension 1, but the kernel needs 64 "
                         "(sizes [32, 63])");
}

TEST_F(ArgumentsTest, NegativeExtentOrStride) {
  tensors[1].tensor.sizes[0] = -1;
  EXPECT_EQ(violation(), "tensor 'y' has a negative extent in dimension 0: sizes [-1, 64]");
  tensors[1].tensor.sizes[0] = 32;
  tensors[1].tensor.strides[1] = -32;
  EXPECT_EQ(violation(), "tensor 'y' has a negative stride in dimension 1: strides [1, -32] "
                         "(kernels take non-negative strides)");
}

TEST_F(ArgumentsTest, ShapeConstraint) {
  tensors[1].tensor.sizes[1] = 63;
  EXPECT_EQ(violation(), "constraint `y.size0 == x.size0 && y.size1 == x.size1` does not hold "
                         "(y.size0 = 32, x.size0 = 32, y.size1 = 63, x.size1 = 64)");
  tensors[1].tensor.sizes[1] = 64;
  tensors[2].tensor.sizes[0] = 16;
  EXPECT_EQ(violation(), "constraint `z.size0 == x.size0` does not hold (z.size0 = 16, x.size0 "
                         "= 32): z must have as many rows as x");
}

TEST_F(ArgumentsTest, StrideConstraint) {
  tensors[0].tensor.strides[0] = 1;
  tensors[0].tensor.strides[1] = 32;
  EXPECT_EQ(violation(), "constraint `x.stride1 == 1` does not hold (x.stride1 = 32)");
}

TEST_F(ArgumentsTest, ScalarConstraint) {
  scalars[1].int_value = 0;
  EXPECT_EQ(violation(), "constraint `n > 0` does not hold (n = 0)");
}

TEST_F(ArgumentsTest, Alignment) {
  tensors[0].tensor.data = 0x10008; // x needs 16 bytes
  EXPECT_EQ(violation(), "tensor 'x' data pointer 0x10008 is not aligned to 16 bytes");
  tensors[0].tensor.data = 0x10000;
  tensors[1].tensor.data = 0x20002; // y needs its element size
  EXPECT_EQ(violation(), "tensor 'y' data pointer 0x20002 is not aligned to 4 bytes");
}

TEST_F(ArgumentsTest, NullDataIsAllowedOnlyWhenEmpty) {
  tensors[1].tensor.data = 0;
  EXPECT_EQ(violation(), "tensor 'y' has a null data pointer");
  for (sa_tensor_arg &argument : tensors) {
    argument.tensor.sizes[0] = 0;
    argument.tensor.data = 0;
  }
  EXPECT_TRUE(bind().ok());
}

TEST_F(ArgumentsTest, MissingUnknownAndRepeatedTensors) {
  EXPECT_EQ(bindArguments(scaledAdd(), tensors, 2, scalars, 3, bound).message(),
            "tensor 'z' is missing");
  tensors[2].name = "w";
  EXPECT_EQ(violation(), "the kernel has no tensor named 'w' (its tensors: x, y, z)");
  tensors[2].name = "x";
  EXPECT_EQ(violation(), "tensor 'x' is given twice");
}

TEST_F(ArgumentsTest, ScalarBinding) {
  scalars[0].type = SA_SCALAR_I32;
  EXPECT_EQ(violation(), "scalar 'a' is i32, but the kernel needs f32");
  scalars[0] = floatScalar("a", 1.0);
  scalars[1].int_value = int64_t(1) << 31;
  EXPECT_EQ(violation(), "scalar 'n' = 2147483648 does not fit in i32");
  scalars[1].int_value = 3;
  EXPECT_EQ(bindArguments(scaledAdd(), tensors, 3, scalars, 2, bound).message(),
            "scalar 'offset' is missing");
  scalars[2].name = "a";
  EXPECT_EQ(violation(), "scalar 'a' is given twice");
  scalars[2].name = "b";
  EXPECT_EQ(violation(), "the kernel has no scalar named 'b' (its scalars: a, n, offset)");
}

TEST_F(ArgumentsTest, NullArguments) {
  Status status = bindArguments(scaledAdd(), nullptr, 3, scalars, 3, bound);
  EXPECT_EQ(status.code(), SA_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(status.message(), "tensor arguments are null but their count is 3");
  status = bindArguments(scaledAdd(), tensors, 3, nullptr, 1, bound);
  EXPECT_EQ(status.message(), "scalar arguments are null but their count is 1");
  tensors[1].name = nullptr;
  status = bind();
  EXPECT_EQ(status.code(), SA_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(status.message(), "tensor argument 1 has no name");
}

TEST_F(ArgumentsTest, WrittenTensorsMustNotOverlap) {
  // z starts inside y's bytes.
  tensors[2].tensor.data = 0x20000 + 4 * 100;
  EXPECT_EQ(violation(), "tensor 'z' is written by the kernel but its memory overlaps tensor 'y'");
  // Read tensors may share memory.
  tensors[2].tensor.data = 0x30000;
  tensors[1].tensor.data = 0x10000;
  tensors[1].tensor.strides[0] = 64;
  tensors[1].tensor.strides[1] = 1;
  EXPECT_TRUE(bind().ok());
}

TEST_F(ArgumentsTest, WrittenTensorsMustNotOverlapThemselves) {
  tensors[2].tensor.strides[0] = 0; // every row is the same memory
  EXPECT_EQ(violation(), "tensor 'z' is written by the kernel, but its strides [0, 1] make "
                         "elements overlap (sizes [32, 64])");
  tensors[2].tensor.strides[0] = 32; // rows of 64 overlap by half
  EXPECT_EQ(violation(), "tensor 'z' is written by the kernel, but its strides [32, 1] make "
                         "elements overlap (sizes [32, 64])");
  tensors[2].tensor.strides[0] = 1; // column-major is fine
  tensors[2].tensor.strides[1] = 32;
  EXPECT_TRUE(bind().ok());
  tensors[2].tensor.strides[0] = 0; // a broadcast dimension of extent 1 is fine
  tensors[2].tensor.sizes[0] = 1;
  tensors[0].tensor.sizes[0] = 1;
  tensors[1].tensor.sizes[0] = 1;
  EXPECT_TRUE(bind().ok());
}

TEST_F(ArgumentsTest, ByteRangeOverflow) {
  tensors[1].tensor.strides[1] = INT64_MAX / 2;
  EXPECT_EQ(violation(), "tensor 'y' spans more bytes than fit in 64 bits");
  tensors[1].tensor.strides[1] = 32;
  tensors[1].tensor.sizes[0] = INT64_MAX / 2;
  EXPECT_EQ(violation(), "tensor 'y' has more elements than fit in 64 bits");
}

TEST_F(ArgumentsTest, Grid) {
  ASSERT_TRUE(bind().ok());
  std::array<uint32_t, 3> grid;
  ASSERT_TRUE(evaluateGrid(scaledAdd(), bound, grid).ok());
  EXPECT_EQ(grid, (std::array<uint32_t, 3>{4, 2, 1}));
  for (sa_tensor_arg &argument : tensors)
    argument.tensor.sizes[0] = 0;
  ASSERT_TRUE(bind().ok());
  ASSERT_TRUE(evaluateGrid(scaledAdd(), bound, grid).ok());
  EXPECT_EQ(grid[1], 0u);
  uint64_t address = 0;
  for (sa_tensor_arg &argument : tensors) {
    argument.tensor.sizes[0] = 65536 * 16 + 1;
    argument.tensor.data = address += uint64_t(1) << 40; // far enough apart not to overlap
  }
  ASSERT_TRUE(bind().ok());
  Status status = evaluateGrid(scaledAdd(), bound, grid);
  EXPECT_EQ(status.code(), SA_ERROR_VALIDATION);
  EXPECT_EQ(status.message(), "grid y = `ceil_div(x.size0, 16)` = 65537 (x.size0 = 1048577) is "
                              "outside [0, 65535]");
}

TEST_F(ArgumentsTest, PacksEveryKindOfSlot) {
  ASSERT_TRUE(bind().ok());
  PackedParams packed;
  ASSERT_TRUE(packParams(scaledAdd(), bound, nullptr, packed).ok());
  auto read = [&](int slot, auto value) {
    std::memcpy(&value, packed.pointers[slot], sizeof value);
    return value;
  };
  EXPECT_EQ(read(0, uint64_t()), 0x10000u);
  EXPECT_EQ(read(1, uint64_t()), 0x20000u);
  EXPECT_EQ(read(2, uint64_t()), 0x30000u);
  EXPECT_EQ(read(3, int64_t()), 32);
  EXPECT_EQ(read(4, int32_t()), 64);
  EXPECT_EQ(read(5, int64_t()), 1);
  EXPECT_EQ(read(6, int32_t()), 32);
  EXPECT_EQ(read(7, float()), 0.5f);
  EXPECT_EQ(read(8, int32_t()), 3);
  EXPECT_EQ(read(9, int64_t()), -5);
  EXPECT_EQ(read(10, int64_t()), 32 * 64 * 3 - 5);
  for (int slot = 0; slot < 11; ++slot)
    EXPECT_EQ(reinterpret_cast<uintptr_t>(packed.pointers[slot]) % 8, 0u);
}

TEST_F(ArgumentsTest, NarrowSlotsAreRangeChecked) {
  uint64_t address = 0;
  for (sa_tensor_arg &argument : tensors) {
    argument.tensor.sizes[0] = 1;
    argument.tensor.strides[0] = int64_t(1) << 40;
    argument.tensor.data = address += uint64_t(1) << 48; // far enough apart not to overlap
  }
  tensors[1].tensor.strides[1] = int64_t(1) << 32; // y's column stride goes in an i32
  tensors[1].tensor.sizes[1] = 64;
  ASSERT_TRUE(bind().ok());
  PackedParams packed;
  Status status = packParams(scaledAdd(), bound, nullptr, packed);
  EXPECT_EQ(status.code(), SA_ERROR_VALIDATION);
  EXPECT_EQ(status.message(), "parameter 6 (stride of y dim 1 (i32)) = 4294967296 does not fit "
                              "in i32");
}

class TensorMapTest : public ArgumentsTest {
protected:
  void SetUp() override {
    ArgumentsTest::SetUp();
    // source [2, 100, 96] in a [2, 100, 128] buffer; destination dense.
    copyTensors[0] = {"source", tensor(0x40000, SA_DTYPE_F32, {2, 100, 96}, {12800, 128, 1})};
    copyTensors[1] = {"destination", tensor(0x80000, SA_DTYPE_F32, {2, 100, 96}, {9600, 96, 1})};
  }

  std::string violation(int map) {
    Status status = bindArguments(tileCopy(), copyTensors, 2, nullptr, 0, bound);
    EXPECT_TRUE(status.ok()) << status.message();
    TensorMapEncoding encoding;
    bool empty;
    status =
        encodeTensorMapArguments(tileCopy(), tileCopy().tensorMaps[map], bound, encoding, empty);
    EXPECT_EQ(status.code(), SA_ERROR_VALIDATION);
    return status.message();
  }

  sa_tensor_arg copyTensors[2];
};

TEST_F(TensorMapTest, DimensionsGoInnermostFirst) {
  ASSERT_TRUE(bindArguments(tileCopy(), copyTensors, 2, nullptr, 0, bound).ok());
  TensorMapEncoding encoding;
  bool empty = true;
  ASSERT_TRUE(
      encodeTensorMapArguments(tileCopy(), tileCopy().tensorMaps[0], bound, encoding, empty).ok());
  EXPECT_FALSE(empty);
  EXPECT_EQ(encoding.dataType, cu::kTensorMapFloat32);
  EXPECT_EQ(encoding.rank, 3u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(encoding.address), 0x40000u);
  EXPECT_EQ(encoding.dims[0], 96u);
  EXPECT_EQ(encoding.dims[1], 100u);
  EXPECT_EQ(encoding.dims[2], 2u);
  EXPECT_EQ(encoding.byteStrides[0], 128u * 4);
  EXPECT_EQ(encoding.byteStrides[1], 12800u * 4);
  EXPECT_EQ(encoding.box[0], 32u);
  EXPECT_EQ(encoding.box[1], 8u);
  EXPECT_EQ(encoding.box[2], 1u);
  EXPECT_EQ(encoding.elementStrides[0], 1u);
}

TEST_F(TensorMapTest, EmptyTensorsGetNoMap) {
  copyTensors[0].tensor.sizes[1] = 0;
  copyTensors[1].tensor.sizes[1] = 0;
  ASSERT_TRUE(bindArguments(tileCopy(), copyTensors, 2, nullptr, 0, bound).ok());
  TensorMapEncoding encoding;
  bool empty = false;
  ASSERT_TRUE(
      encodeTensorMapArguments(tileCopy(), tileCopy().tensorMaps[0], bound, encoding, empty).ok());
  EXPECT_TRUE(empty);
}

TEST_F(TensorMapTest, InnermostStrideMustBeOne) {
  copyTensors[0].tensor.strides[2] = 2;
  copyTensors[0].tensor.strides[1] = 256;
  copyTensors[0].tensor.strides[0] = 25600;
  EXPECT_EQ(violation(0), "tensor map of 'source': the innermost dimension must have stride 1, "
                          "but strides are [25600, 256, 2]");
}

TEST_F(TensorMapTest, StridesMustBeMultiplesOf16Bytes) {
  copyTensors[0].tensor.strides[1] = 98;
  EXPECT_EQ(violation(0), "tensor map of 'source': dimension 1 has a stride of 392 bytes; tensor "
                          "maps need multiples of 16 bytes below 2^40 (strides [12800, 98, 1])");
}

TEST_F(TensorMapTest, AddressMustBe16ByteAligned) {
  copyTensors[1].tensor.data = 0x80008;
  EXPECT_EQ(violation(1), "tensor map of 'destination': the data pointer 0x80008 is not "
                          "16-byte aligned");
}

TEST_F(TensorMapTest, InnerBoxMustFillWholeSixteenBytes) {
  // destination's box is [1, 4, 4]: 16 bytes of f32, fine; in f16 it is 8.
  copyTensors[1].tensor.dtype = SA_DTYPE_F16;
  Manifest edited;
  TestBundle other("edited");
  other.writeStandardFiles(replaced(kTestManifest, R"({"name": "destination", "dtype": "f32")",
                                    R"({"name": "destination", "dtype": "f16")"));
  ASSERT_TRUE(loadManifest(other.path(), edited).ok());
  ASSERT_TRUE(bindArguments(edited.kernels[1], copyTensors, 2, nullptr, 0, bound).ok());
  TensorMapEncoding encoding;
  bool empty;
  Status status = encodeTensorMapArguments(edited.kernels[1], edited.kernels[1].tensorMaps[1],
                                           bound, encoding, empty);
  EXPECT_EQ(status.message(), "tensor map of 'destination': the innermost box extent is 8 bytes; "
                              "it must be a multiple of 16");
}

TEST_F(TensorMapTest, BoxMustFitTheSwizzleSpan) {
  // source's box rows are 32 f32 = 128 bytes: fine for 128B swizzle, not 64B.
  Manifest edited;
  TestBundle other("edited");
  other.writeStandardFiles(replaced(kTestManifest, R"("swizzle": "128B")", R"("swizzle": "64B")"));
  ASSERT_TRUE(loadManifest(other.path(), edited).ok());
  ASSERT_TRUE(bindArguments(edited.kernels[1], copyTensors, 2, nullptr, 0, bound).ok());
  TensorMapEncoding encoding;
  bool empty;
  Status status = encodeTensorMapArguments(edited.kernels[1], edited.kernels[1].tensorMaps[0],
                                           bound, encoding, empty);
  EXPECT_EQ(status.message(), "tensor map of 'source': the innermost box extent is 128 bytes, "
                              "more than the 64-byte swizzle span");
}

} // namespace
