// The in-memory form of a bundle manifest (docs/design/kernel-bundles.md),
// checked and resolved when the bundle is loaded: names become indices,
// expressions are parsed, module files are read.
#ifndef SPARSE_ATTN_RUNTIME_MANIFEST_H
#define SPARSE_ATTN_RUNTIME_MANIFEST_H

#include "Expression.h"
#include "Status.h"

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace sparse_attn::runtime {

// Limits that keep launch-time bookkeeping in fixed-size stack buffers.
constexpr int kMaxTensors = 32;
constexpr int kMaxScalars = 32;
constexpr int kMaxParams = 64;
constexpr int kMaxTensorMaps = 8;
constexpr int kTensorMapBytes = 128;
// cuTensorMapEncodeTiled takes at most 5 dimensions.
constexpr int kMaxTensorMapRank = 5;

// A value of the "specialization" or "tuning" objects.
struct SpecializationValue {
  enum class Kind { String, Number, Boolean };
  Kind kind = Kind::String;
  std::string string;
  double number = 0;
  bool boolean = false;

  bool operator==(const SpecializationValue &other) const;
  // "entmax", "1.5", "true": the canonical text.
  std::string canonical() const;
};

struct SpecializationEntry {
  std::string key;
  SpecializationValue value;

  bool operator==(const SpecializationEntry &other) const {
    return key == other.key && value == other.value;
  }
};

// Sorted by key, keys unique.
using Specialization = std::vector<SpecializationEntry>;

// "a=1,b=x" with keys sorted.
std::string canonicalSpecialization(const Specialization &specialization);
// Parses the "key=value,key=value" query form. Values: true/false, JSON
// numbers, or bare strings of letters, digits and "_.+-".
Status parseSpecializationQuery(const std::string &text, Specialization &result);

struct TensorSpec {
  std::string name;
  sa_dtype dtype = SA_DTYPE_INVALID;
  int rank = 0;
  std::array<int64_t, SA_MAX_RANK> staticSizes{}; // -1: dynamic
  int64_t alignment = 1;                          // bytes
  sa_access access = SA_ACCESS_READ;
};

struct ScalarSpec {
  std::string name;
  sa_scalar_type type = SA_SCALAR_INVALID;
};

struct ConstraintSpec {
  Expression condition;
  std::string message; // the manifest's explanation, may be empty
};

// cuTensorMapEncodeTiled settings; arrays in the tensor's dimension order.
struct TensorMapSpec {
  int tensor = -1;
  std::array<uint32_t, kMaxTensorMapRank> box{};
  std::array<uint32_t, kMaxTensorMapRank> elementStrides{};
  int interleave = 0;  // CUtensorMapInterleave
  int swizzle = 0;     // CUtensorMapSwizzle
  int l2Promotion = 0; // CUtensorMapL2promotion
  int oobFill = 0;     // CUtensorMapFloatOOBfill
};

// One kernel parameter, in PTX parameter order.
struct ParamSlot {
  enum class Kind { Pointer, Size, Stride, Scalar, Value, TensorMap };
  Kind kind = Kind::Pointer;
  int tensor = -1;                     // Pointer, Size, Stride
  int dim = -1;                        // Size, Stride
  int scalar = -1;                     // Scalar
  int tensorMap = -1;                  // TensorMap: index into KernelSpec::tensorMaps
  sa_scalar_type type = SA_SCALAR_I64; // Size, Stride, Value, Scalar
  Expression value;                    // Value
  std::string description;             // "size of q dim 2 (i64)", for error messages

  // Bytes the slot occupies in the kernel's parameter list.
  size_t byteSize() const;
};

struct LaunchSpec {
  std::array<Expression, 3> grid;
  std::array<uint32_t, 3> block{};
  uint32_t sharedMemoryBytes = 0;
  std::array<uint32_t, 3> cluster{}; // all zero: no cluster launch
};

struct ModuleSpec {
  std::string name;
  std::string target; // "sm_90a"
  int computeMajor = 0;
  int computeMinor = 0;
  std::string ptx;   // the PTX text, NUL-terminated by std::string
  std::string cubin; // empty when the bundle has none
  std::string ptxFile;
  std::string cubinFile;
};

struct KernelSpec {
  std::string name;
  int module = -1;
  std::string entry;
  std::string op;
  Specialization specialization;
  Specialization tuning;
  std::string canonicalSpecialization;
  std::string canonicalTuning;
  std::vector<TensorSpec> tensors;
  std::vector<ScalarSpec> scalars;
  ExpressionScope scope;
  std::vector<ConstraintSpec> constraints;
  std::vector<TensorMapSpec> tensorMaps;
  std::vector<ParamSlot> params;
  LaunchSpec launch;
};

struct Manifest {
  int version = 0;
  std::string name;
  std::vector<ModuleSpec> modules;
  std::vector<KernelSpec> kernels;
};

// Reads `<bundleDirectory>/manifest.json` and the module files it names.
// Errors (SA_ERROR_BUNDLE) name the file, the line and what was expected.
Status loadManifest(const std::string &bundleDirectory, Manifest &manifest);

// Parses manifest text; `fileName` is used in messages and module files are
// read relative to `bundleDirectory`.
Status parseManifest(const std::string &text, const std::string &fileName,
                     const std::string &bundleDirectory, Manifest &manifest);

size_t dtypeSize(sa_dtype dtype);
// Maps "f16", "bf16", ... to a dtype; SA_DTYPE_INVALID otherwise.
sa_dtype parseDtype(const std::string &name);
const char *scalarTypeName(sa_scalar_type type);

} // namespace sparse_attn::runtime

#endif
