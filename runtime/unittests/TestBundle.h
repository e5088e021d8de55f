// Bundles written to temporary directories for the tests, and the manifest
// most tests start from.
#ifndef SPARSE_ATTN_RUNTIME_UNITTESTS_TESTBUNDLE_H
#define SPARSE_ATTN_RUNTIME_UNITTESTS_TESTBUNDLE_H

#include <string>
#include <vector>

namespace sparse_attn::runtime::testing {

// A fresh, empty directory named after the running test (and `suffix`).
class TestBundle {
public:
  explicit TestBundle(const std::string &suffix = "");
  const std::string &path() const { return path_; }
  void write(const std::string &file, const std::string &contents) const;
  // Writes manifest.json and the module files kTestManifest names.
  void writeStandardFiles(const std::string &manifest) const;

private:
  std::string path_;
};

// PTX text with a .target line and one .entry per name.
std::string fakePtx(const std::string &target, const std::vector<std::string> &entries);
// Bytes that start like an ELF file.
std::string fakeCubin();

// Two kernels: "scaled_add" (z = a * x + y on 2-D strided f32 tensors, with
// every scalar slot kind) and "tile_copy" (a TMA tensor map, dynamic shared
// memory above 48 KiB and a cluster).
extern const char *const kTestManifest;

// `text` with the first occurrence of `from` replaced (the test fails if
// there is none).
std::string replaced(const std::string &text, const std::string &from, const std::string &to);

} // namespace sparse_attn::runtime::testing

#endif
