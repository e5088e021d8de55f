#include "TestBundle.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace sparse_attn::runtime::testing {

TestBundle::TestBundle(const std::string &suffix) {
  const ::testing::TestInfo *test = ::testing::UnitTest::GetInstance()->current_test_info();
  std::filesystem::path directory =
      std::filesystem::path(::testing::TempDir()) / "sparse-attn-runtime-tests" /
      (std::string(test->test_suite_name()) + "." + test->name() + suffix + ".bundle");
  std::filesystem::remove_all(directory);
  std::filesystem::create_directories(directory);
  path_ = directory.string();
}

void TestBundle::write(const std::string &file, const std::string &contents) const {
  std::ofstream stream(path_ + "/" + file, std::ios::binary);
  stream << contents;
  ASSERT_TRUE(stream.good()) << "cannot write " << path_ << "/" << file;
}

void TestBundle::writeStandardFiles(const std::string &manifest) const {
  write("manifest.json", manifest);
  write("kernels.ptx", fakePtx("sm_90a", {"scaled_add", "tile_copy"}));
  write("kernels.sm_90a.cubin", fakeCubin());
}

std::string fakePtx(const std::string &target, const std::vector<std::string> &entries) {
  std::string ptx = "//\n.version 8.0\n.target " + target + "\n.address_size 64\n";
  for (const std::string &entry : entries)
    ptx +=
        "\n.visible .entry " + entry + "(\n\t.param .u64 " + entry + "_param_0\n)\n{\n\tret;\n}\n";
  return ptx;
}

std::string fakeCubin() {
  return std::string("\x7f"
                     "ELF\x02\x01\x01",
                     7) +
         std::string(32, '\0');
}

std::string replaced(const std::string &text, const std::string &from, const std::string &to) {
  size_t position = text.find(from);
  EXPECT_NE(position, std::string::npos) << "the manifest has no \"" << from << "\"";
  if (position == std::string::npos)
    return text;
  return text.substr(0, position) + to + text.substr(position + from.size());
}

const char *const kTestManifest = R"json({
  "format": "sparse-attn-kernel-bundle",
  "version": 1,
  "name": "unit-test",
  "producer": {"tool": "unit tests"},
  "modules": [
    {"name": "kernels", "target": "sm_90a", "ptx": "kernels.ptx", "cubin": "kernels.sm_90a.cubin"}
  ],
  "kernels": [
    {
      "name": "scaled_add",
      "module": "kernels",
      "entry": "scaled_add",
      "op": "test.scaled_add",
      "specialization": {"dtype": "f32", "alpha": 1.5, "fused": true},
      "tuning": {"block": 16},
      "tensors": [
        {"name": "x", "dtype": "f32", "rank": 2, "access": "read", "alignment": 16},
        {"name": "y", "dtype": "f32", "rank": 2, "access": "read"},
        {"name": "z", "dtype": "f32", "rank": 2, "sizes": [null, 64], "access": "write"}
      ],
      "scalars": [
        {"name": "a", "type": "f32"},
        {"name": "n", "type": "i32"},
        {"name": "offset", "type": "i64"}
      ],
      "constraints": [
        "y.size0 == x.size0 && y.size1 == x.size1",
        {"expr": "z.size0 == x.size0", "message": "z must have as many rows as x"},
        "x.stride1 == 1",
        "n > 0"
      ],
      "params": [
        {"kind": "pointer", "tensor": "x"},
        {"kind": "pointer", "tensor": "y"},
        {"kind": "pointer", "tensor": "z"},
        {"kind": "size", "tensor": "x", "dim": 0},
        {"kind": "size", "tensor": "x", "dim": 1, "type": "i32"},
        {"kind": "stride", "tensor": "y", "dim": 0},
        {"kind": "stride", "tensor": "y", "dim": 1, "type": "i32"},
        {"kind": "scalar", "name": "a"},
        {"kind": "scalar", "name": "n"},
        {"kind": "scalar", "name": "offset"},
        {"kind": "value", "expr": "x.numel * n + offset", "type": "i64"}
      ],
      "launch": {"grid": ["ceil_div(x.size1, 16)", "ceil_div(x.size0, 16)", 1], "block": [16, 16, 1]}
    },
    {
      "name": "tile_copy",
      "module": "kernels",
      "entry": "tile_copy",
      "op": "test.tile_copy",
      "specialization": {"dtype": "f32"},
      "tensors": [
        {"name": "source", "dtype": "f32", "rank": 3, "access": "read", "alignment": 16},
        {"name": "destination", "dtype": "f32", "rank": 3, "access": "write"}
      ],
      "params": [
        {"kind": "tensor_map", "tensor": "source", "box": [1, 8, 32], "swizzle": "128B",
         "l2_promotion": "256B", "oob_fill": "nan"},
        {"kind": "pointer", "tensor": "destination"},
        {"kind": "tensor_map", "tensor": "destination", "box": [1, 4, 4]}
      ],
      "launch": {"grid": ["ceil_div(source.size2, 32)", "ceil_div(source.size1, 8)", "source.size0"],
                 "block": [128, 1, 1], "shared_memory_bytes": 65536, "cluster": [2, 1, 1]}
    }
  ]
})json";

} // namespace sparse_attn::runtime::testing
