#include "Manifest.h"
#include "TestBundle.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

using namespace sparse_attn::runtime;
using namespace sparse_attn::runtime::testing;

namespace {

Manifest loadOk(const TestBundle &bundle) {
  Manifest manifest;
  Status status = loadManifest(bundle.path(), manifest);
  EXPECT_TRUE(status.ok()) << status.message();
  return manifest;
}

// The error of loading kTestManifest with `from` replaced by `to`, with the
// bundle path stripped.
std::string errorAfterEdit(const std::string &from, const std::string &to) {
  TestBundle bundle;
  bundle.writeStandardFiles(replaced(kTestManifest, from, to));
  Manifest manifest;
  Status status = loadManifest(bundle.path(), manifest);
  EXPECT_FALSE(status.ok()) << "accepted the edit " << from << " -> " << to;
  EXPECT_EQ(status.code(), SA_ERROR_BUNDLE);
  std::string message = status.message();
  for (size_t at = message.find(bundle.path() + "/"); at != std::string::npos;
       at = message.find(bundle.path() + "/"))
    message.erase(at, bundle.path().size() + 1);
  return message;
}

TEST(Manifest, LoadsTheTestManifest) {
  TestBundle bundle;
  bundle.writeStandardFiles(kTestManifest);
  Manifest manifest = loadOk(bundle);
  EXPECT_EQ(manifest.version, 1);
  EXPECT_EQ(manifest.name, "unit-test");
  ASSERT_EQ(manifest.modules.size(), 1u);
  const ModuleSpec &module = manifest.modules[0];
  EXPECT_EQ(module.target, "sm_90a");
  EXPECT_EQ(module.computeMajor, 9);
  EXPECT_EQ(module.computeMinor, 0);
  EXPECT_EQ(module.ptx, fakePtx("sm_90a", {"scaled_add", "tile_copy"}));
  EXPECT_EQ(module.cubin, fakeCubin());

  ASSERT_EQ(manifest.kernels.size(), 2u);
  const KernelSpec &add = manifest.kernels[0];
  EXPECT_EQ(add.name, "scaled_add");
  EXPECT_EQ(add.op, "test.scaled_add");
  EXPECT_EQ(add.canonicalSpecialization, "alpha=1.5,dtype=f32,fused=true");
  EXPECT_EQ(add.canonicalTuning, "block=16");
  ASSERT_EQ(add.tensors.size(), 3u);
  EXPECT_EQ(add.tensors[0].alignment, 16);
  EXPECT_EQ(add.tensors[1].alignment, 4); // the element size by default
  EXPECT_EQ(add.tensors[2].access, SA_ACCESS_WRITE);
  EXPECT_EQ(add.tensors[2].staticSizes[0], -1);
  EXPECT_EQ(add.tensors[2].staticSizes[1], 64);
  ASSERT_EQ(add.scalars.size(), 3u);
  EXPECT_EQ(add.scalars[0].type, SA_SCALAR_F32);
  EXPECT_EQ(add.scalars[1].type, SA_SCALAR_I32);
  ASSERT_EQ(add.constraints.size(), 4u);
  EXPECT_EQ(add.constraints[1].message, "z must have as many rows as x");
  ASSERT_EQ(add.params.size(), 11u);
  EXPECT_EQ(add.params[4].description, "size of x dim 1 (i32)");
  EXPECT_EQ(add.params[4].byteSize(), 4u);
  EXPECT_EQ(add.params[3].byteSize(), 8u);
  EXPECT_EQ(add.params[7].description, "scalar a (f32)");
  EXPECT_EQ(add.params[10].description, "value `x.numel * n + offset` (i64)");
  EXPECT_EQ(add.launch.grid[0].text(), "ceil_div(x.size1, 16)");
  EXPECT_EQ(add.launch.grid[2].text(), "1");
  EXPECT_EQ(add.launch.block[0], 16u);
  EXPECT_EQ(add.launch.sharedMemoryBytes, 0u);
  EXPECT_EQ(add.launch.cluster[0], 0u);

  const KernelSpec &copy = manifest.kernels[1];
  ASSERT_EQ(copy.tensorMaps.size(), 2u);
  EXPECT_EQ(copy.tensorMaps[0].box[2], 32u);
  EXPECT_EQ(copy.tensorMaps[0].swizzle, 3);
  EXPECT_EQ(copy.tensorMaps[0].l2Promotion, 3);
  EXPECT_EQ(copy.tensorMaps[0].oobFill, 1);
  EXPECT_EQ(copy.tensorMaps[0].elementStrides[0], 1u);
  EXPECT_EQ(copy.tensorMaps[1].swizzle, 0);
  EXPECT_EQ(copy.params[2].tensorMap, 1);
  EXPECT_EQ(copy.launch.sharedMemoryBytes, 65536u);
  EXPECT_EQ(copy.launch.cluster[0], 2u);
}

TEST(Manifest, CubinIsOptional) {
  TestBundle bundle;
  bundle.writeStandardFiles(replaced(kTestManifest, R"(, "cubin": "kernels.sm_90a.cubin")", ""));
  Manifest manifest = loadOk(bundle);
  EXPECT_TRUE(manifest.modules[0].cubin.empty());
}

TEST(Manifest, TheSpecificationsExampleIsValid) {
  // docs/design/kernel-bundles.md holds a complete example manifest between
  // the markers below; it must load, with module files written beside it.
  std::ifstream document(SPARSE_ATTN_KERNEL_BUNDLES_DOC);
  ASSERT_TRUE(document.good()) << SPARSE_ATTN_KERNEL_BUNDLES_DOC;
  std::stringstream text;
  text << document.rdbuf();
  std::string markdown = text.str();
  const std::string begin = "<!-- example-manifest -->\n```json\n";
  size_t start = markdown.find(begin);
  ASSERT_NE(start, std::string::npos) << "no example manifest in the document";
  start += begin.size();
  size_t end = markdown.find("```", start);
  ASSERT_NE(end, std::string::npos);
  TestBundle bundle;
  bundle.write("manifest.json", markdown.substr(start, end - start));
  bundle.write("attention.ptx", fakePtx("sm_90a", {"attention_entmax_bf16_d128_causal",
                                                   "attention_softmax_bf16_d128"}));
  bundle.write("attention.sm_90a.cubin", fakeCubin());
  Manifest manifest = loadOk(bundle);
  EXPECT_EQ(manifest.kernels.size(), 2u);
}

TEST(Manifest, TheGpuTestBundleIsValid) {
  // Built by test/gpu/kernels/build-test-bundle.py, run by test/gpu/run.py.
  Manifest manifest;
  Status status = loadManifest(SPARSE_ATTN_GPU_TEST_BUNDLE, manifest);
  ASSERT_TRUE(status.ok()) << status.message();
  EXPECT_EQ(manifest.name, "runtime-test");
  EXPECT_FALSE(manifest.modules[0].cubin.empty());
  ASSERT_EQ(manifest.kernels.size(), 2u);
  EXPECT_EQ(manifest.kernels[1].tensorMaps.size(), 1u);
}

struct EditCase {
  const char *from;
  const char *to;
  const char *message;
};

class MalformedManifest : public ::testing::TestWithParam<EditCase> {};

TEST_P(MalformedManifest, SaysWhereAndWhat) {
  EXPECT_EQ(errorAfterEdit(GetParam().from, GetParam().to), GetParam().message);
}

INSTANTIATE_TEST_SUITE_P(
    Manifest, MalformedManifest,
    ::testing::Values(
        // JSON syntax errors come through with their location.
        EditCase{R"("version": 1,)", R"("version": 1,,)",
                 "manifest.json:3:16: expected a string key in the object, found ','"},
        // Top level.
        EditCase{R"("format": "sparse-attn-kernel-bundle")", R"("format": "other")",
                 "manifest.json:2:13: format: expected \"sparse-attn-kernel-bundle\""},
        EditCase{R"("version": 1)", R"("version": 2)",
                 "manifest.json:3:14: version: this runtime reads version 1, the manifest has "
                 "version 2 (update the runtime)"},
        EditCase{R"("version": 1)", R"("version": 0)",
                 "manifest.json:3:14: version: this runtime reads version 1, the manifest has "
                 "version 0 (rebuild the bundle)"},
        EditCase{R"("version": 1)", R"("version": "1")",
                 "manifest.json:3:14: version: expected an integer, found a string"},
        EditCase{R"("name": "unit-test",)", "",
                 "manifest.json:1:1: manifest: missing required member \"name\""},
        EditCase{R"("name": "unit-test")", R"("name": "unit test")",
                 "manifest.json:4:11: name: \"unit test\" is not a valid name (letters, digits, "
                 "'_', '.' and '-', not starting with a digit)"},
        EditCase{R"("producer": {"tool": "unit tests"},)", R"("extra": 1,)",
                 "manifest.json:5:12: manifest: unknown member \"extra\" (expected one of "
                 "\"format\", \"version\", \"name\", \"modules\", \"kernels\", \"producer\")"},
        EditCase{R"("modules": [
    {"name": "kernels", "target": "sm_90a", "ptx": "kernels.ptx", "cubin": "kernels.sm_90a.cubin"}
  ],)",
                 R"("modules": [],)", "manifest.json:6:14: modules: expected at least one element"},
        // Modules.
        EditCase{R"("target": "sm_90a")", R"("target": "sm90")",
                 "manifest.json:7:35: modules[0].target: expected an NVIDIA target such as "
                 "\"sm_90a\" or \"sm_80\", found \"sm90\""},
        EditCase{R"("target": "sm_90a")", R"("target": "sm_80")",
                 "manifest.json:7:51: modules[0].ptx: kernels.ptx targets sm_90a but the "
                 "module's target is sm_80"},
        EditCase{R"("ptx": "kernels.ptx")", R"("ptx": "missing.ptx")",
                 "manifest.json:7:52: modules[0].ptx: cannot open missing.ptx"},
        EditCase{R"("ptx": "kernels.ptx")", R"("ptx": "../kernels.ptx")",
                 "manifest.json:7:52: modules[0].ptx: \"../kernels.ptx\" is not a valid name (a "
                 "plain file name inside the bundle: letters, digits, '_', '.' and '-')"},
        EditCase{R"("ptx": "kernels.ptx")", R"("ptx": "manifest.json")",
                 "manifest.json:7:52: modules[0].ptx: manifest.json has no .target directive; "
                 "is it PTX?"},
        EditCase{R"("cubin": "kernels.sm_90a.cubin")", R"("cubin": "kernels.ptx")",
                 "manifest.json:7:76: modules[0].cubin: kernels.ptx is not an ELF cubin"},
        EditCase{R"("cubin": "kernels.sm_90a.cubin")", R"("cubins": [])",
                 "manifest.json:7:77: modules[0]: unknown member \"cubins\" (expected one of "
                 "\"name\", \"target\", \"ptx\", \"cubin\")"},
        // Kernels.
        EditCase{R"("module": "kernels",)", R"("module": "other",)",
                 "manifest.json:12:17: kernels[0].module: no module is named \"other\""},
        EditCase{R"("entry": "scaled_add",)", R"("entry": "scaled_sub",)",
                 "manifest.json:13:16: kernels[0].entry: kernels.ptx has no entry point "
                 "\"scaled_sub\""},
        EditCase{R"("name": "tile_copy",)", R"("name": "scaled_add",)",
                 "manifest.json:48:5: kernels[1].name: duplicate kernel name \"scaled_add\""},
        EditCase{R"("alpha": 1.5,)", R"("alpha": [1.5],)",
                 "manifest.json:15:51: kernels[0].specialization.alpha: expected a string, a "
                 "number or a boolean, found an array"},
        EditCase{R"("dtype": "f32", "alpha")", R"("dtype": "f 32", "alpha")",
                 "manifest.json:15:35: kernels[0].specialization.dtype: string values may hold "
                 "letters, digits and '_', '.', '+', '-' only"},
        EditCase{R"("tuning": {"block": 16})", R"("tuning": {"2block": 16})",
                 "manifest.json:16:28: kernels[0].tuning.2block: keys must be identifiers "
                 "(letters, digits, '_')"},
        EditCase{R"j(,
      "launch": {"grid": ["ceil_div(x.size1, 16)", "ceil_div(x.size0, 16)", 1], "block": [16, 16, 1]})j",
                 "", "manifest.json:10:5: kernels[0]: missing required member \"launch\""},
        // Tensors.
        EditCase{R"({"name": "x", "dtype": "f32")", R"({"name": "x", "dtype": "float")",
                 "manifest.json:18:32: kernels[0].tensors[0].dtype: expected one of \"f16\", "
                 "\"bf16\", \"f32\", \"f64\", \"i8\", \"u8\", \"i16\", \"i32\", \"i64\", \"bool\""},
        EditCase{R"("rank": 2, "access": "read", "alignment": 16)",
                 R"("rank": 9, "access": "read", "alignment": 16)",
                 "manifest.json:18:47: kernels[0].tensors[0].rank: expected an integer in [0, 8], "
                 "found 9"},
        EditCase{R"("access": "read", "alignment": 16)", R"("access": "read", "alignment": 2)",
                 "manifest.json:18:81: kernels[0].tensors[0].alignment: expected an integer in "
                 "[4, 4096], found 2"},
        EditCase{R"("access": "read", "alignment": 16)", R"("access": "read", "alignment": 24)",
                 "manifest.json:18:81: kernels[0].tensors[0].alignment: expected a power of two"},
        EditCase{R"("access": "read", "alignment": 16)", R"("access": "input", "alignment": 16)",
                 "manifest.json:18:60: kernels[0].tensors[0].access: expected one of \"read\", "
                 "\"write\", \"read_write\", found \"input\""},
        EditCase{R"("sizes": [null, 64])", R"("sizes": [64])",
                 "manifest.json:20:59: kernels[0].tensors[2].sizes: expected an array of 2 "
                 "entries (an extent, or null where it is dynamic)"},
        EditCase{R"("sizes": [null, 64])", R"("sizes": [null, -1])",
                 "manifest.json:20:66: kernels[0].tensors[2].sizes[1]: expected an integer in "
                 "[0, 9223372036854775807], found -1"},
        EditCase{R"({"name": "y", "dtype": "f32")", R"({"name": "x", "dtype": "f32")",
                 "manifest.json:19:9: kernels[0].tensors[1].name: duplicate tensor name \"x\""},
        // Scalars.
        EditCase{R"({"name": "a", "type": "f32"})", R"({"name": "a", "type": "f64"})",
                 "manifest.json:23:31: kernels[0].scalars[0].type: expected one of \"i32\", "
                 "\"i64\", \"f32\", found \"f64\""},
        EditCase{R"({"name": "a", "type": "f32"})", R"({"name": "x", "type": "f32"})",
                 "manifest.json:23:9: kernels[0].scalars[0].name: \"x\" already names a tensor"},
        EditCase{R"({"name": "n", "type": "i32"})", R"({"name": "a", "type": "i32"})",
                 "manifest.json:24:9: kernels[0].scalars[1].name: duplicate scalar name \"a\""},
        // Constraints.
        EditCase{R"("x.stride1 == 1",)", R"("x.stride2 == 1",)",
                 "manifest.json:30:9: kernels[0].constraints[2]: `x.stride2 == 1`: column 1: "
                 "tensor 'x' has rank 2, so it has no dimension 2"},
        EditCase{R"("x.stride1 == 1",)", R"("x.stride1",)",
                 "manifest.json:30:9: kernels[0].constraints[2]: `x.stride1`: expected a "
                 "condition (a comparison or a logical operator), found an integer expression"},
        EditCase{R"("x.stride1 == 1",)", R"(7,)",
                 "manifest.json:30:9: kernels[0].constraints[2]: expected a condition string, "
                 "found an integer"},
        EditCase{R"("message": "z must have as many rows as x")", R"("why": "")",
                 "manifest.json:29:9: kernels[0].constraints[1]: missing required member "
                 "\"message\""},
        // Parameters.
        EditCase{R"({"kind": "pointer", "tensor": "x"})", R"({"kind": "pointer", "tensor": "w"})",
                 "manifest.json:34:39: kernels[0].params[0].tensor: \"w\" is not one of the "
                 "kernel's tensors"},
        EditCase{R"({"kind": "pointer", "tensor": "x"})", R"({"kind": "address", "tensor": "x"})",
                 "manifest.json:34:18: kernels[0].params[0].kind: expected one of \"pointer\", "
                 "\"size\", \"stride\", \"scalar\", \"value\", \"tensor_map\", found \"address\""},
        EditCase{R"({"kind": "pointer", "tensor": "x"})", R"({"tensor": "x"})",
                 "manifest.json:34:9: kernels[0].params[0]: missing required member \"kind\""},
        EditCase{R"({"kind": "pointer", "tensor": "x"})",
                 R"({"kind": "pointer", "tensor": "x", "dim": 0})",
                 "manifest.json:34:51: kernels[0].params[0]: unknown member \"dim\" (expected one "
                 "of \"kind\", \"tensor\")"},
        EditCase{R"({"kind": "size", "tensor": "x", "dim": 0})",
                 R"({"kind": "size", "tensor": "x", "dim": 2})",
                 "manifest.json:37:48: kernels[0].params[3].dim: expected an integer in [0, 1], "
                 "found 2"},
        EditCase{R"({"kind": "size", "tensor": "x", "dim": 0})",
                 R"({"kind": "size", "tensor": "x", "dim": 0, "type": "u64"})",
                 "manifest.json:37:59: kernels[0].params[3].type: expected one of \"i64\", "
                 "\"i32\", found \"u64\""},
        EditCase{R"({"kind": "scalar", "name": "a"})", R"({"kind": "scalar", "name": "b"})",
                 "manifest.json:41:36: kernels[0].params[7].name: \"b\" is not one of the "
                 "kernel's scalars"},
        EditCase{R"("expr": "x.numel * n + offset")", R"("expr": "x.numel * a")",
                 "manifest.json:44:35: kernels[0].params[10].expr: `x.numel * a`: column 11: "
                 "scalar 'a' is a float; expressions use integers only"},
        EditCase{R"("box": [1, 8, 32])", R"("box": [8, 32])",
                 "manifest.json:59:59: kernels[1].params[0].box: expected an array of 3 integers, "
                 "found an array of 2"},
        EditCase{R"("box": [1, 8, 32])", R"("box": [1, 8, 512])",
                 "manifest.json:59:66: kernels[1].params[0].box[2]: expected an integer in "
                 "[1, 256], found 512"},
        EditCase{R"("swizzle": "128B")", R"("swizzle": "256B")",
                 "manifest.json:59:82: kernels[1].params[0].swizzle: expected one of \"none\", "
                 "\"32B\", \"64B\", \"128B\", found \"256B\""},
        EditCase{R"("box": [1, 4, 4]})", R"("box": [1, 4, 4], "element_strides": [1, 1, 9]})",
                 "manifest.json:62:101: kernels[1].params[2].element_strides[2]: expected an "
                 "integer in [1, 8], found 9"},
        // Launch.
        EditCase{R"j("grid": ["ceil_div(x.size1, 16)", "ceil_div(x.size0, 16)", 1])j",
                 R"j("grid": ["ceil_div(x.size1, 16)", "ceil_div(x.size0, 16)"])j",
                 "manifest.json:46:26: kernels[0].launch.grid: expected an array of 3 entries "
                 "(integers or expression strings)"},
        EditCase{R"j("grid": ["ceil_div(x.size1, 16)")j", R"j("grid": ["ceil(x.size1, 16)")j",
                 "manifest.json:46:27: kernels[0].launch.grid[0]: `ceil(x.size1, 16)`: column 1: "
                 "unknown function 'ceil' (expected ceil_div, min or max)"},
        EditCase{R"j("grid": ["ceil_div(x.size1, 16)")j", R"j("grid": ["x.size1 > 16")j",
                 "manifest.json:46:27: kernels[0].launch.grid[0]: `x.size1 > 16`: expected an "
                 "integer expression, found a condition"},
        EditCase{R"("block": [16, 16, 1])", R"("block": [64, 32, 1])",
                 "manifest.json:46:90: kernels[0].launch.block: a block holds at most 1024 "
                 "threads"},
        EditCase{R"("block": [16, 16, 1])", R"("block": [16, 0, 1])",
                 "manifest.json:46:95: kernels[0].launch.block[1]: expected an integer in "
                 "[1, 1024], found 0"},
        EditCase{R"("shared_memory_bytes": 65536)", R"("shared_memory_bytes": -1)",
                 "manifest.json:65:63: kernels[1].launch.shared_memory_bytes: expected an "
                 "integer in [0, 4294967295], found -1"},
        EditCase{R"("cluster": [2, 1, 1])", R"("cluster": [2, 1])",
                 "manifest.json:65:81: kernels[1].launch.cluster: expected an array of 3 "
                 "integers, found an array of 2"}));

TEST(Manifest, OneKernelPerOpAndSpecialization) {
  TestBundle bundle;
  bundle.writeStandardFiles(
      replaced(replaced(kTestManifest, R"("op": "test.tile_copy",)", R"("op": "test.scaled_add",)"),
               R"("specialization": {"dtype": "f32"},)",
               R"("specialization": {"fused": true, "alpha": 1.5, "dtype": "f32"},)"));
  Manifest manifest;
  Status status = loadManifest(bundle.path(), manifest);
  EXPECT_EQ(status.code(), SA_ERROR_BUNDLE);
  EXPECT_EQ(status.message(), bundle.path() + "/manifest.json:48:5: kernels[1].specialization: "
                                              "kernel \"scaled_add\" already implements op "
                                              "\"test.scaled_add\" with specialization "
                                              "{alpha=1.5,dtype=f32,fused=true}");
}

TEST(Manifest, TensorMapsNeedRankOneToFive) {
  EXPECT_EQ(errorAfterEdit(R"({"name": "source", "dtype": "f32", "rank": 3)",
                           R"({"name": "source", "dtype": "f32", "rank": 6)"),
            "manifest.json:59:9: kernels[1].params[0]: tensor maps need a tensor of rank 1 to 5; "
            "\"source\" has rank 6");
}

TEST(Manifest, MissingManifestFile) {
  TestBundle bundle;
  Manifest manifest;
  Status status = loadManifest(bundle.path(), manifest);
  EXPECT_EQ(status.code(), SA_ERROR_BUNDLE);
  EXPECT_EQ(status.message(), "cannot read " + bundle.path() +
                                  "/manifest.json (a bundle is a directory holding "
                                  "manifest.json)");
}

TEST(Specialization, CanonicalFormAndQueries) {
  Specialization query;
  ASSERT_TRUE(
      parseSpecializationQuery(" dtype = bf16, alpha=1.50 ,causal=true,head_dim=128", query).ok());
  EXPECT_EQ(canonicalSpecialization(query), "alpha=1.5,causal=true,dtype=bf16,head_dim=128");
  ASSERT_TRUE(parseSpecializationQuery("", query).ok());
  EXPECT_TRUE(query.empty());

  // Values compare by kind and value: 2 and 2.0 are one number.
  Specialization a, b;
  ASSERT_TRUE(parseSpecializationQuery("alpha=2", a).ok());
  ASSERT_TRUE(parseSpecializationQuery("alpha=2.0", b).ok());
  EXPECT_EQ(a, b);
  ASSERT_TRUE(parseSpecializationQuery("alpha=two", b).ok());
  EXPECT_FALSE(a == b);
  ASSERT_TRUE(parseSpecializationQuery("flag=true", a).ok());
  ASSERT_TRUE(parseSpecializationQuery("flag=1", b).ok());
  EXPECT_FALSE(a == b);
}

TEST(Specialization, MalformedQueries) {
  Specialization query;
  auto error = [&](const std::string &text) {
    Status status = parseSpecializationQuery(text, query);
    EXPECT_EQ(status.code(), SA_ERROR_INVALID_ARGUMENT) << text;
    return status.message();
  };
  EXPECT_EQ(error("dtype"), "specialization \"dtype\": expected key=value, found \"dtype\"");
  EXPECT_EQ(error("a=1,"), "specialization \"a=1,\": expected key=value, found \"\"");
  EXPECT_EQ(error("1a=1"), "specialization \"1a=1\": key \"1a\" is not an identifier");
  EXPECT_EQ(error("a=b c"),
            "specialization \"a=b c\": value of \"a\" must be letters, digits and '_', '.', '+', "
            "'-'");
  EXPECT_EQ(error("a="), "specialization \"a=\": value of \"a\" must be letters, digits and "
                         "'_', '.', '+', '-'");
  EXPECT_EQ(error("a=1,a=2"), "specialization \"a=1,a=2\": key \"a\" appears twice");
}

} // namespace
