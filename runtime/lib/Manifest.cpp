#include "Manifest.h"

#include "Json.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <fstream>
#include <initializer_list>
#include <sstream>

namespace sparse_attn::runtime {

namespace {

constexpr const char *kFormatName = "sparse-attn-kernel-bundle";

enum class NameKind {
  Identifier, // tensors, scalars, modules, entries, specialization keys
  Qualified,  // kernels, ops, bundles: may also contain '.' and '-'
  FileName,   // a plain file inside the bundle directory, no paths
};

bool isNameCharacter(NameKind kind, char c) {
  if (std::isalnum(static_cast<unsigned char>(c)) || c == '_')
    return true;
  return kind != NameKind::Identifier && (c == '.' || c == '-');
}

bool isValidName(NameKind kind, const std::string &text) {
  if (text.empty() || text == "." || text == "..")
    return false;
  if (kind != NameKind::FileName &&
      !(std::isalpha(static_cast<unsigned char>(text[0])) || text[0] == '_'))
    return false;
  return std::all_of(text.begin(), text.end(), [kind](char c) { return isNameCharacter(kind, c); });
}

const char *describeNameKind(NameKind kind) {
  switch (kind) {
  case NameKind::Identifier:
    return "letters, digits and '_', not starting with a digit";
  case NameKind::Qualified:
    return "letters, digits, '_', '.' and '-', not starting with a digit";
  case NameKind::FileName:
    return "a plain file name inside the bundle: letters, digits, '_', '.' and '-'";
  }
  return "";
}

bool isIdentifier(const std::string &text) { return isValidName(NameKind::Identifier, text); }

// Specialization strings must survive the "key=value,..." query form.
bool isBareValue(const std::string &text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '+' ||
           c == '-';
  });
}

Status readFile(const std::string &path, std::string &contents) {
  std::ifstream stream(path, std::ios::binary);
  if (!stream)
    return Status::error(SA_ERROR_BUNDLE, "cannot open " + path);
  std::ostringstream buffer;
  buffer << stream.rdbuf();
  if (stream.bad())
    return Status::error(SA_ERROR_BUNDLE, "cannot read " + path);
  contents = buffer.str();
  return Status::success();
}

// Turns JSON values into manifest structures, reporting
// "<file>:<line>:<column>: <path>: <what>".
class ManifestReader {
public:
  ManifestReader(const std::string &fileName, const std::string &bundleDirectory)
      : fileName_(fileName), bundleDirectory_(bundleDirectory) {}

  Status read(const JsonValue &root, Manifest &manifest) {
    if (Status status = expectKind(root, JsonValue::Kind::Object, "manifest"); !status.ok())
      return status;
    if (Status status = checkMembers(
            root, "manifest", {"format", "version", "name", "modules", "kernels"}, {"producer"});
        !status.ok())
      return status;
    const JsonValue &format = *root.find("format");
    if (format.kind() != JsonValue::Kind::String || format.asString() != kFormatName)
      return fail(format, "format", std::string("expected \"") + kFormatName + "\"");
    const JsonValue &version = *root.find("version");
    if (version.kind() != JsonValue::Kind::Integer)
      return fail(version, "version", "expected an integer, found " + describe(version));
    if (version.asInteger() != SA_BUNDLE_FORMAT_VERSION)
      return fail(version, "version",
                  "this runtime reads version " + std::to_string(SA_BUNDLE_FORMAT_VERSION) +
                      ", the manifest has version " + std::to_string(version.asInteger()) +
                      (version.asInteger() > SA_BUNDLE_FORMAT_VERSION ? " (update the runtime)"
                                                                      : " (rebuild the bundle)"));
    manifest.version = static_cast<int>(version.asInteger());
    if (Status status = readName(*root.find("name"), "name", NameKind::Qualified, manifest.name);
        !status.ok())
      return status;

    const JsonValue &modules = *root.find("modules");
    if (Status status = expectNonEmptyArray(modules, "modules"); !status.ok())
      return status;
    for (size_t i = 0; i < modules.elements().size(); ++i) {
      ModuleSpec module;
      std::string path = "modules[" + std::to_string(i) + "]";
      if (Status status = readModule(modules.elements()[i], path, module); !status.ok())
        return status;
      for (const ModuleSpec &previous : manifest.modules)
        if (previous.name == module.name)
          return fail(modules.elements()[i], path + ".name",
                      "duplicate module name \"" + module.name + "\"");
      manifest.modules.push_back(std::move(module));
    }

    const JsonValue &kernels = *root.find("kernels");
    if (Status status = expectNonEmptyArray(kernels, "kernels"); !status.ok())
      return status;
    for (size_t i = 0; i < kernels.elements().size(); ++i) {
      KernelSpec kernel;
      std::string path = "kernels[" + std::to_string(i) + "]";
      const JsonValue &value = kernels.elements()[i];
      if (Status status = readKernel(value, path, manifest, kernel); !status.ok())
        return status;
      for (const KernelSpec &previous : manifest.kernels) {
        if (previous.name == kernel.name)
          return fail(value, path + ".name", "duplicate kernel name \"" + kernel.name + "\"");
        if (previous.op == kernel.op && previous.specialization == kernel.specialization)
          return fail(value, path + ".specialization",
                      "kernel \"" + previous.name + "\" already implements op \"" + kernel.op +
                          "\" with specialization {" + kernel.canonicalSpecialization + "}");
      }
      manifest.kernels.push_back(std::move(kernel));
    }
    return Status::success();
  }

private:
  using Kind = JsonValue::Kind;

  Status fail(const JsonValue &at, const std::string &path, const std::string &what) const {
    return Status::error(SA_ERROR_BUNDLE, fileName_ + ":" + std::to_string(at.location().line) +
                                              ":" + std::to_string(at.location().column) + ": " +
                                              path + ": " + what);
  }

  static std::string describe(const JsonValue &value) { return JsonValue::describe(value.kind()); }

  Status expectKind(const JsonValue &value, Kind kind, const std::string &path) const {
    if (value.kind() == kind)
      return Status::success();
    return fail(value, path,
                std::string("expected ") + JsonValue::describe(kind) + ", found " +
                    describe(value));
  }

  Status expectNonEmptyArray(const JsonValue &value, const std::string &path) const {
    if (Status status = expectKind(value, Kind::Array, path); !status.ok())
      return status;
    if (value.elements().empty())
      return fail(value, path, "expected at least one element");
    return Status::success();
  }

  // Every required member is present and every member is known.
  Status checkMembers(const JsonValue &object, const std::string &path,
                      std::initializer_list<const char *> required,
                      std::initializer_list<const char *> optional) const {
    for (const char *key : required)
      if (!object.find(key))
        return fail(object, path, std::string("missing required member \"") + key + "\"");
    for (const JsonValue::Member &member : object.members()) {
      bool known = false;
      for (const char *key : required)
        known = known || member.first == key;
      for (const char *key : optional)
        known = known || member.first == key;
      if (!known) {
        std::string expected;
        for (auto list : {required, optional})
          for (const char *key : list)
            expected += (expected.empty() ? "\"" : ", \"") + std::string(key) + "\"";
        return fail(member.second, path,
                    "unknown member \"" + member.first + "\" (expected one of " + expected + ")");
      }
    }
    return Status::success();
  }

  Status readName(const JsonValue &value, const std::string &path, NameKind kind,
                  std::string &out) const {
    if (Status status = expectKind(value, Kind::String, path); !status.ok())
      return status;
    if (!isValidName(kind, value.asString()))
      return fail(value, path,
                  "\"" + value.asString() + "\" is not a valid name (" + describeNameKind(kind) +
                      ")");
    out = value.asString();
    return Status::success();
  }

  Status readInteger(const JsonValue &value, const std::string &path, int64_t minimum,
                     int64_t maximum, int64_t &out) const {
    if (value.kind() != Kind::Integer || value.asInteger() < minimum || value.asInteger() > maximum)
      return fail(value, path,
                  "expected an integer in [" + std::to_string(minimum) + ", " +
                      std::to_string(maximum) + "], found " +
                      (value.kind() == Kind::Integer ? std::to_string(value.asInteger())
                                                     : describe(value)));
    out = value.asInteger();
    return Status::success();
  }

  // An array of exactly `count` integers in [minimum, maximum].
  template <typename T>
  Status readIntegerArray(const JsonValue &value, const std::string &path, size_t count,
                          int64_t minimum, int64_t maximum, T *out) const {
    if (value.kind() != Kind::Array || value.elements().size() != count)
      return fail(value, path,
                  "expected an array of " + std::to_string(count) + " integers, found " +
                      (value.kind() == Kind::Array
                           ? "an array of " + std::to_string(value.elements().size())
                           : describe(value)));
    for (size_t i = 0; i < count; ++i) {
      int64_t element;
      if (Status status = readInteger(value.elements()[i], path + "[" + std::to_string(i) + "]",
                                      minimum, maximum, element);
          !status.ok())
        return status;
      out[i] = static_cast<T>(element);
    }
    return Status::success();
  }

  // Maps a string member to one of `choices` (its index); absent: `fallback`.
  Status readChoice(const JsonValue &object, const char *key, const std::string &path,
                    std::initializer_list<const char *> choices, int fallback, int &out) const {
    const JsonValue *value = object.find(key);
    out = fallback;
    if (!value)
      return Status::success();
    std::string expected;
    int index = 0;
    for (const char *choice : choices) {
      if (value->kind() == Kind::String && value->asString() == choice) {
        out = index;
        return Status::success();
      }
      expected += (expected.empty() ? "\"" : ", \"") + std::string(choice) + "\"";
      ++index;
    }
    return fail(
        *value, path + "." + key,
        "expected one of " + expected + ", found " +
            (value->kind() == Kind::String ? "\"" + value->asString() + "\"" : describe(*value)));
  }

  Status readModule(const JsonValue &value, const std::string &path, ModuleSpec &module) {
    if (Status status = expectKind(value, Kind::Object, path); !status.ok())
      return status;
    if (Status status = checkMembers(value, path, {"name", "target", "ptx"}, {"cubin"});
        !status.ok())
      return status;
    if (Status status =
            readName(*value.find("name"), path + ".name", NameKind::Identifier, module.name);
        !status.ok())
      return status;
    const JsonValue &target = *value.find("target");
    if (Status status = expectKind(target, Kind::String, path + ".target"); !status.ok())
      return status;
    if (!parseTarget(target.asString(), module))
      return fail(target, path + ".target",
                  "expected an NVIDIA target such as \"sm_90a\" or \"sm_80\", found \"" +
                      target.asString() + "\"");

    const JsonValue &ptx = *value.find("ptx");
    if (Status status = readName(ptx, path + ".ptx", NameKind::FileName, module.ptxFile);
        !status.ok())
      return status;
    if (Status status = readFile(bundleDirectory_ + "/" + module.ptxFile, module.ptx); !status.ok())
      return fail(ptx, path + ".ptx", status.message());
    if (Status status = checkPtxTarget(ptx, path, module); !status.ok())
      return status;

    if (const JsonValue *cubin = value.find("cubin")) {
      if (Status status = readName(*cubin, path + ".cubin", NameKind::FileName, module.cubinFile);
          !status.ok())
        return status;
      if (Status status = readFile(bundleDirectory_ + "/" + module.cubinFile, module.cubin);
          !status.ok())
        return fail(*cubin, path + ".cubin", status.message());
      if (module.cubin.compare(0, 4,
                               "\x7f"
                               "ELF") != 0)
        return fail(*cubin, path + ".cubin", module.cubinFile + " is not an ELF cubin");
    }
    return Status::success();
  }

  // "sm_90a" -> compute capability 9.0; the suffix 'a' or 'f' is allowed.
  static bool parseTarget(const std::string &target, ModuleSpec &module) {
    if (target.compare(0, 3, "sm_") != 0)
      return false;
    std::string digits = target.substr(3);
    if (!digits.empty() && (digits.back() == 'a' || digits.back() == 'f'))
      digits.pop_back();
    int number;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), number);
    if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() || number < 10)
      return false;
    module.target = target;
    module.computeMajor = number / 10;
    module.computeMinor = number % 10;
    return true;
  }

  // The PTX must say ".target <target>": a mismatch means the bundle tool
  // recorded the wrong target and cubin selection would be wrong.
  Status checkPtxTarget(const JsonValue &ptx, const std::string &path,
                        const ModuleSpec &module) const {
    size_t position = module.ptx.find(".target");
    if (position == std::string::npos)
      return fail(ptx, path + ".ptx", module.ptxFile + " has no .target directive; is it PTX?");
    position += 7;
    while (position < module.ptx.size() &&
           (module.ptx[position] == ' ' || module.ptx[position] == '\t'))
      ++position;
    size_t end = position;
    while (end < module.ptx.size() &&
           (std::isalnum(static_cast<unsigned char>(module.ptx[end])) || module.ptx[end] == '_'))
      ++end;
    std::string declared = module.ptx.substr(position, end - position);
    if (declared != module.target)
      return fail(ptx, path + ".ptx",
                  module.ptxFile + " targets " + declared + " but the module's target is " +
                      module.target);
    return Status::success();
  }

  static bool ptxHasEntry(const std::string &ptx, const std::string &entry) {
    std::string needle = ".entry " + entry;
    for (size_t position = ptx.find(needle); position != std::string::npos;
         position = ptx.find(needle, position + 1)) {
      size_t after = position + needle.size();
      if (after < ptx.size() &&
          (ptx[after] == '(' || ptx[after] == ' ' || ptx[after] == '\n' || ptx[after] == '\t'))
        return true;
    }
    return false;
  }

  Status readSpecialization(const JsonValue &value, const std::string &path,
                            Specialization &out) const {
    if (Status status = expectKind(value, Kind::Object, path); !status.ok())
      return status;
    for (const JsonValue::Member &member : value.members()) {
      std::string memberPath = path + "." + member.first;
      if (!isIdentifier(member.first))
        return fail(member.second, memberPath, "keys must be identifiers (letters, digits, '_')");
      SpecializationEntry entry;
      entry.key = member.first;
      const JsonValue &element = member.second;
      if (element.kind() == Kind::String) {
        if (!isBareValue(element.asString()))
          return fail(element, memberPath,
                      "string values may hold letters, digits and '_', '.', '+', '-' only");
        entry.value.kind = SpecializationValue::Kind::String;
        entry.value.string = element.asString();
      } else if (element.isNumber()) {
        entry.value.kind = SpecializationValue::Kind::Number;
        entry.value.number = element.asDouble();
      } else if (element.kind() == Kind::Bool) {
        entry.value.kind = SpecializationValue::Kind::Boolean;
        entry.value.boolean = element.asBool();
      } else {
        return fail(element, memberPath,
                    "expected a string, a number or a boolean, found " + describe(element));
      }
      out.push_back(std::move(entry));
    }
    std::sort(
        out.begin(), out.end(),
        [](const SpecializationEntry &a, const SpecializationEntry &b) { return a.key < b.key; });
    return Status::success();
  }

  Status readTensor(const JsonValue &value, const std::string &path, TensorSpec &tensor) const {
    if (Status status = expectKind(value, Kind::Object, path); !status.ok())
      return status;
    if (Status status =
            checkMembers(value, path, {"name", "dtype", "rank", "access"}, {"sizes", "alignment"});
        !status.ok())
      return status;
    if (Status status =
            readName(*value.find("name"), path + ".name", NameKind::Identifier, tensor.name);
        !status.ok())
      return status;
    const JsonValue &dtype = *value.find("dtype");
    if (dtype.kind() == Kind::String)
      tensor.dtype = parseDtype(dtype.asString());
    if (tensor.dtype == SA_DTYPE_INVALID)
      return fail(dtype, path + ".dtype",
                  "expected one of \"f16\", \"bf16\", \"f32\", \"f64\", \"i8\", \"u8\", \"i16\", "
                  "\"i32\", \"i64\", \"bool\"");
    int64_t rank;
    if (Status status = readInteger(*value.find("rank"), path + ".rank", 0, SA_MAX_RANK, rank);
        !status.ok())
      return status;
    tensor.rank = static_cast<int>(rank);
    tensor.staticSizes.fill(-1);
    if (const JsonValue *sizes = value.find("sizes")) {
      if (sizes->kind() != Kind::Array || sizes->elements().size() != static_cast<size_t>(rank))
        return fail(*sizes, path + ".sizes",
                    "expected an array of " + std::to_string(rank) +
                        " entries (an extent, or null where it is dynamic)");
      for (int d = 0; d < rank; ++d) {
        const JsonValue &size = sizes->elements()[d];
        if (size.kind() == Kind::Null)
          continue;
        if (Status status = readInteger(size, path + ".sizes[" + std::to_string(d) + "]", 0,
                                        INT64_MAX, tensor.staticSizes[d]);
            !status.ok())
          return status;
      }
    }
    tensor.alignment = static_cast<int64_t>(dtypeSize(tensor.dtype));
    if (const JsonValue *alignment = value.find("alignment")) {
      if (Status status = readInteger(*alignment, path + ".alignment", tensor.alignment, 4096,
                                      tensor.alignment);
          !status.ok())
        return status;
      if ((tensor.alignment & (tensor.alignment - 1)) != 0)
        return fail(*alignment, path + ".alignment", "expected a power of two");
    }
    int access;
    if (Status status =
            readChoice(value, "access", path, {"read", "write", "read_write"}, 0, access);
        !status.ok())
      return status;
    tensor.access = static_cast<sa_access>(access + 1);
    return Status::success();
  }

  Status readScalar(const JsonValue &value, const std::string &path, ScalarSpec &scalar) const {
    if (Status status = expectKind(value, Kind::Object, path); !status.ok())
      return status;
    if (Status status = checkMembers(value, path, {"name", "type"}, {}); !status.ok())
      return status;
    if (Status status =
            readName(*value.find("name"), path + ".name", NameKind::Identifier, scalar.name);
        !status.ok())
      return status;
    int type;
    if (Status status = readChoice(value, "type", path, {"i32", "i64", "f32"}, 0, type);
        !status.ok())
      return status;
    scalar.type = static_cast<sa_scalar_type>(type + 1);
    return Status::success();
  }

  Status readExpression(const JsonValue &value, const std::string &path,
                        const ExpressionScope &scope, Expression::Type type,
                        Expression &out) const {
    if (type == Expression::Type::Integer && value.kind() == Kind::Integer) {
      out = Expression::constant(value.asInteger());
      return Status::success();
    }
    if (value.kind() != Kind::String)
      return fail(value, path,
                  std::string("expected ") +
                      (type == Expression::Type::Integer ? "an integer or an expression string"
                                                         : "a condition string") +
                      ", found " + describe(value));
    if (Status status = Expression::parse(value.asString(), scope, type, out); !status.ok())
      return fail(value, path, status.message());
    return Status::success();
  }

  // Finds a tensor by the string member `key`.
  Status readTensorReference(const JsonValue &object, const char *key, const std::string &path,
                             const KernelSpec &kernel, int &index) const {
    const JsonValue &value = *object.find(key);
    if (Status status = expectKind(value, Kind::String, path + "." + key); !status.ok())
      return status;
    for (size_t i = 0; i < kernel.tensors.size(); ++i)
      if (kernel.tensors[i].name == value.asString()) {
        index = static_cast<int>(i);
        return Status::success();
      }
    return fail(value, path + "." + key,
                "\"" + value.asString() + "\" is not one of the kernel's tensors");
  }

  Status readIntegerType(const JsonValue &object, const std::string &path,
                         sa_scalar_type &type) const {
    int choice;
    if (Status status = readChoice(object, "type", path, {"i64", "i32"}, 0, choice); !status.ok())
      return status;
    type = choice == 0 ? SA_SCALAR_I64 : SA_SCALAR_I32;
    return Status::success();
  }

  Status readParam(const JsonValue &value, const std::string &path, KernelSpec &kernel,
                   ParamSlot &slot) const {
    if (Status status = expectKind(value, Kind::Object, path); !status.ok())
      return status;
    const JsonValue *kindValue = value.find("kind");
    if (!kindValue)
      return fail(value, path, "missing required member \"kind\"");
    int kind;
    if (Status status =
            readChoice(value, "kind", path,
                       {"pointer", "size", "stride", "scalar", "value", "tensor_map"}, 0, kind);
        !status.ok())
      return status;
    slot.kind = static_cast<ParamSlot::Kind>(kind);
    switch (slot.kind) {
    case ParamSlot::Kind::Pointer: {
      if (Status status = checkMembers(value, path, {"kind", "tensor"}, {}); !status.ok())
        return status;
      if (Status status = readTensorReference(value, "tensor", path, kernel, slot.tensor);
          !status.ok())
        return status;
      slot.description = "pointer to " + kernel.tensors[slot.tensor].name;
      return Status::success();
    }
    case ParamSlot::Kind::Size:
    case ParamSlot::Kind::Stride: {
      if (Status status = checkMembers(value, path, {"kind", "tensor", "dim"}, {"type"});
          !status.ok())
        return status;
      if (Status status = readTensorReference(value, "tensor", path, kernel, slot.tensor);
          !status.ok())
        return status;
      const TensorSpec &tensor = kernel.tensors[slot.tensor];
      int64_t dim;
      if (tensor.rank == 0)
        return fail(value, path, "tensor \"" + tensor.name + "\" has rank 0");
      if (Status status = readInteger(*value.find("dim"), path + ".dim", 0, tensor.rank - 1, dim);
          !status.ok())
        return status;
      slot.dim = static_cast<int>(dim);
      if (Status status = readIntegerType(value, path, slot.type); !status.ok())
        return status;
      slot.description = std::string(slot.kind == ParamSlot::Kind::Size ? "size" : "stride") +
                         " of " + tensor.name + " dim " + std::to_string(slot.dim) + " (" +
                         scalarTypeName(slot.type) + ")";
      return Status::success();
    }
    case ParamSlot::Kind::Scalar: {
      if (Status status = checkMembers(value, path, {"kind", "name"}, {}); !status.ok())
        return status;
      const JsonValue &name = *value.find("name");
      if (Status status = expectKind(name, Kind::String, path + ".name"); !status.ok())
        return status;
      for (size_t i = 0; i < kernel.scalars.size(); ++i)
        if (kernel.scalars[i].name == name.asString())
          slot.scalar = static_cast<int>(i);
      if (slot.scalar < 0)
        return fail(name, path + ".name",
                    "\"" + name.asString() + "\" is not one of the kernel's scalars");
      slot.type = kernel.scalars[slot.scalar].type;
      slot.description = "scalar " + name.asString() + " (" + scalarTypeName(slot.type) + ")";
      return Status::success();
    }
    case ParamSlot::Kind::Value: {
      if (Status status = checkMembers(value, path, {"kind", "expr"}, {"type"}); !status.ok())
        return status;
      if (Status status = readExpression(*value.find("expr"), path + ".expr", kernel.scope,
                                         Expression::Type::Integer, slot.value);
          !status.ok())
        return status;
      if (Status status = readIntegerType(value, path, slot.type); !status.ok())
        return status;
      slot.description = "value `" + slot.value.text() + "` (" + scalarTypeName(slot.type) + ")";
      return Status::success();
    }
    case ParamSlot::Kind::TensorMap:
      return readTensorMap(value, path, kernel, slot);
    }
    return fail(value, path, "unknown parameter kind");
  }

  Status readTensorMap(const JsonValue &value, const std::string &path, KernelSpec &kernel,
                       ParamSlot &slot) const {
    if (Status status =
            checkMembers(value, path, {"kind", "tensor", "box"},
                         {"element_strides", "interleave", "swizzle", "l2_promotion", "oob_fill"});
        !status.ok())
      return status;
    if (kernel.tensorMaps.size() >= static_cast<size_t>(kMaxTensorMaps))
      return fail(value, path,
                  "a kernel may use at most " + std::to_string(kMaxTensorMaps) + " tensor maps");
    TensorMapSpec map;
    if (Status status = readTensorReference(value, "tensor", path, kernel, map.tensor);
        !status.ok())
      return status;
    const TensorSpec &tensor = kernel.tensors[map.tensor];
    if (tensor.rank < 1 || tensor.rank > kMaxTensorMapRank)
      return fail(value, path,
                  "tensor maps need a tensor of rank 1 to " + std::to_string(kMaxTensorMapRank) +
                      "; \"" + tensor.name + "\" has rank " + std::to_string(tensor.rank));
    if (Status status = readIntegerArray(*value.find("box"), path + ".box", tensor.rank, 1, 256,
                                         map.box.data());
        !status.ok())
      return status;
    map.elementStrides.fill(1);
    if (const JsonValue *strides = value.find("element_strides"))
      if (Status status = readIntegerArray(*strides, path + ".element_strides", tensor.rank, 1, 8,
                                           map.elementStrides.data());
          !status.ok())
        return status;
    if (Status status =
            readChoice(value, "interleave", path, {"none", "16B", "32B"}, 0, map.interleave);
        !status.ok())
      return status;
    if (Status status =
            readChoice(value, "swizzle", path, {"none", "32B", "64B", "128B"}, 0, map.swizzle);
        !status.ok())
      return status;
    if (Status status = readChoice(value, "l2_promotion", path, {"none", "64B", "128B", "256B"}, 0,
                                   map.l2Promotion);
        !status.ok())
      return status;
    if (Status status = readChoice(value, "oob_fill", path, {"zero", "nan"}, 0, map.oobFill);
        !status.ok())
      return status;
    slot.tensorMap = static_cast<int>(kernel.tensorMaps.size());
    slot.tensor = map.tensor;
    slot.description = "tensor map of " + tensor.name;
    kernel.tensorMaps.push_back(map);
    return Status::success();
  }

  Status readLaunch(const JsonValue &value, const std::string &path, KernelSpec &kernel) const {
    if (Status status = expectKind(value, Kind::Object, path); !status.ok())
      return status;
    if (Status status =
            checkMembers(value, path, {"grid", "block"}, {"shared_memory_bytes", "cluster"});
        !status.ok())
      return status;
    const JsonValue &grid = *value.find("grid");
    if (grid.kind() != Kind::Array || grid.elements().size() != 3)
      return fail(grid, path + ".grid",
                  "expected an array of 3 entries (integers or expression strings)");
    for (int d = 0; d < 3; ++d)
      if (Status status =
              readExpression(grid.elements()[d], path + ".grid[" + std::to_string(d) + "]",
                             kernel.scope, Expression::Type::Integer, kernel.launch.grid[d]);
          !status.ok())
        return status;
    const JsonValue &block = *value.find("block");
    if (Status status =
            readIntegerArray(block, path + ".block", 3, 1, 1024, kernel.launch.block.data());
        !status.ok())
      return status;
    if (uint64_t(kernel.launch.block[0]) * kernel.launch.block[1] * kernel.launch.block[2] > 1024)
      return fail(block, path + ".block", "a block holds at most 1024 threads");
    if (const JsonValue *shared = value.find("shared_memory_bytes")) {
      int64_t bytes;
      if (Status status = readInteger(*shared, path + ".shared_memory_bytes", 0, UINT32_MAX, bytes);
          !status.ok())
        return status;
      kernel.launch.sharedMemoryBytes = static_cast<uint32_t>(bytes);
    }
    if (const JsonValue *cluster = value.find("cluster"))
      if (Status status =
              readIntegerArray(*cluster, path + ".cluster", 3, 1, 32, kernel.launch.cluster.data());
          !status.ok())
        return status;
    return Status::success();
  }

  Status readConstraint(const JsonValue &value, const std::string &path, KernelSpec &kernel,
                        ConstraintSpec &constraint) const {
    const JsonValue *condition = &value;
    if (value.kind() == Kind::Object) {
      if (Status status = checkMembers(value, path, {"expr", "message"}, {}); !status.ok())
        return status;
      const JsonValue &message = *value.find("message");
      if (Status status = expectKind(message, Kind::String, path + ".message"); !status.ok())
        return status;
      constraint.message = message.asString();
      condition = value.find("expr");
      return readExpression(*condition, path + ".expr", kernel.scope, Expression::Type::Boolean,
                            constraint.condition);
    }
    return readExpression(*condition, path, kernel.scope, Expression::Type::Boolean,
                          constraint.condition);
  }

  Status readKernel(const JsonValue &value, const std::string &path, const Manifest &manifest,
                    KernelSpec &kernel) const {
    if (Status status = expectKind(value, Kind::Object, path); !status.ok())
      return status;
    if (Status status = checkMembers(
            value, path,
            {"name", "module", "entry", "op", "specialization", "tensors", "params", "launch"},
            {"tuning", "scalars", "constraints"});
        !status.ok())
      return status;
    if (Status status =
            readName(*value.find("name"), path + ".name", NameKind::Qualified, kernel.name);
        !status.ok())
      return status;
    const JsonValue &module = *value.find("module");
    if (Status status = expectKind(module, Kind::String, path + ".module"); !status.ok())
      return status;
    for (size_t i = 0; i < manifest.modules.size(); ++i)
      if (manifest.modules[i].name == module.asString())
        kernel.module = static_cast<int>(i);
    if (kernel.module < 0)
      return fail(module, path + ".module", "no module is named \"" + module.asString() + "\"");
    const JsonValue &entry = *value.find("entry");
    if (Status status = readName(entry, path + ".entry", NameKind::Identifier, kernel.entry);
        !status.ok())
      return status;
    const ModuleSpec &moduleSpec = manifest.modules[kernel.module];
    if (!ptxHasEntry(moduleSpec.ptx, kernel.entry))
      return fail(entry, path + ".entry",
                  moduleSpec.ptxFile + " has no entry point \"" + kernel.entry + "\"");
    if (Status status = readName(*value.find("op"), path + ".op", NameKind::Qualified, kernel.op);
        !status.ok())
      return status;
    if (Status status = readSpecialization(*value.find("specialization"), path + ".specialization",
                                           kernel.specialization);
        !status.ok())
      return status;
    if (const JsonValue *tuning = value.find("tuning"))
      if (Status status = readSpecialization(*tuning, path + ".tuning", kernel.tuning);
          !status.ok())
        return status;
    kernel.canonicalSpecialization = canonicalSpecialization(kernel.specialization);
    kernel.canonicalTuning = canonicalSpecialization(kernel.tuning);

    const JsonValue &tensors = *value.find("tensors");
    if (Status status = expectKind(tensors, Kind::Array, path + ".tensors"); !status.ok())
      return status;
    if (tensors.elements().size() > static_cast<size_t>(kMaxTensors))
      return fail(tensors, path + ".tensors",
                  "a kernel may take at most " + std::to_string(kMaxTensors) + " tensors");
    for (size_t i = 0; i < tensors.elements().size(); ++i) {
      TensorSpec tensor;
      std::string tensorPath = path + ".tensors[" + std::to_string(i) + "]";
      if (Status status = readTensor(tensors.elements()[i], tensorPath, tensor); !status.ok())
        return status;
      for (const TensorSpec &previous : kernel.tensors)
        if (previous.name == tensor.name)
          return fail(tensors.elements()[i], tensorPath + ".name",
                      "duplicate tensor name \"" + tensor.name + "\"");
      kernel.scope.tensors.push_back({tensor.name, tensor.rank});
      kernel.tensors.push_back(std::move(tensor));
    }

    if (const JsonValue *scalars = value.find("scalars")) {
      if (Status status = expectKind(*scalars, Kind::Array, path + ".scalars"); !status.ok())
        return status;
      if (scalars->elements().size() > static_cast<size_t>(kMaxScalars))
        return fail(*scalars, path + ".scalars",
                    "a kernel may take at most " + std::to_string(kMaxScalars) + " scalars");
      for (size_t i = 0; i < scalars->elements().size(); ++i) {
        ScalarSpec scalar;
        std::string scalarPath = path + ".scalars[" + std::to_string(i) + "]";
        if (Status status = readScalar(scalars->elements()[i], scalarPath, scalar); !status.ok())
          return status;
        for (const ScalarSpec &previous : kernel.scalars)
          if (previous.name == scalar.name)
            return fail(scalars->elements()[i], scalarPath + ".name",
                        "duplicate scalar name \"" + scalar.name + "\"");
        for (const TensorSpec &tensor : kernel.tensors)
          if (tensor.name == scalar.name)
            return fail(scalars->elements()[i], scalarPath + ".name",
                        "\"" + scalar.name + "\" already names a tensor");
        kernel.scope.scalars.push_back({scalar.name, scalar.type != SA_SCALAR_F32});
        kernel.scalars.push_back(std::move(scalar));
      }
    }

    if (const JsonValue *constraints = value.find("constraints")) {
      if (Status status = expectKind(*constraints, Kind::Array, path + ".constraints");
          !status.ok())
        return status;
      for (size_t i = 0; i < constraints->elements().size(); ++i) {
        ConstraintSpec constraint;
        if (Status status = readConstraint(constraints->elements()[i],
                                           path + ".constraints[" + std::to_string(i) + "]", kernel,
                                           constraint);
            !status.ok())
          return status;
        kernel.constraints.push_back(std::move(constraint));
      }
    }

    const JsonValue &params = *value.find("params");
    if (Status status = expectKind(params, Kind::Array, path + ".params"); !status.ok())
      return status;
    if (params.elements().size() > static_cast<size_t>(kMaxParams))
      return fail(params, path + ".params",
                  "a kernel may take at most " + std::to_string(kMaxParams) + " parameters");
    for (size_t i = 0; i < params.elements().size(); ++i) {
      ParamSlot slot;
      if (Status status = readParam(params.elements()[i],
                                    path + ".params[" + std::to_string(i) + "]", kernel, slot);
          !status.ok())
        return status;
      kernel.params.push_back(std::move(slot));
    }
    return readLaunch(*value.find("launch"), path + ".launch", kernel);
  }

  const std::string &fileName_;
  const std::string &bundleDirectory_;
};

} // namespace

bool SpecializationValue::operator==(const SpecializationValue &other) const {
  if (kind != other.kind)
    return false;
  switch (kind) {
  case Kind::String:
    return string == other.string;
  case Kind::Number:
    return number == other.number;
  case Kind::Boolean:
    return boolean == other.boolean;
  }
  return false;
}

std::string SpecializationValue::canonical() const {
  switch (kind) {
  case Kind::String:
    return string;
  case Kind::Boolean:
    return boolean ? "true" : "false";
  case Kind::Number: {
    // Shortest text that reads back as the same double: 1.5, 128, 0.1.
    char buffer[32];
    auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, number);
    return ec == std::errc() ? std::string(buffer, end) : std::string("nan");
  }
  }
  return {};
}

std::string canonicalSpecialization(const Specialization &specialization) {
  std::string text;
  for (const SpecializationEntry &entry : specialization) {
    if (!text.empty())
      text += ',';
    text += entry.key + "=" + entry.value.canonical();
  }
  return text;
}

Status parseSpecializationQuery(const std::string &text, Specialization &result) {
  result.clear();
  auto trim = [](std::string value) {
    size_t begin = value.find_first_not_of(" \t");
    size_t end = value.find_last_not_of(" \t");
    return begin == std::string::npos ? std::string() : value.substr(begin, end - begin + 1);
  };
  if (trim(text).empty())
    return Status::success();
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    std::string item =
        text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    size_t equals = item.find('=');
    if (equals == std::string::npos)
      return Status::error(SA_ERROR_INVALID_ARGUMENT, "specialization \"" + text +
                                                          "\": expected key=value, found \"" +
                                                          trim(item) + "\"");
    SpecializationEntry entry;
    entry.key = trim(item.substr(0, equals));
    std::string value = trim(item.substr(equals + 1));
    if (!isIdentifier(entry.key))
      return Status::error(SA_ERROR_INVALID_ARGUMENT, "specialization \"" + text + "\": key \"" +
                                                          entry.key + "\" is not an identifier");
    if (!isBareValue(value))
      return Status::error(SA_ERROR_INVALID_ARGUMENT,
                           "specialization \"" + text + "\": value of \"" + entry.key +
                               "\" must be letters, digits and '_', '.', '+', '-'");
    double number;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), number);
    if (value == "true" || value == "false") {
      entry.value.kind = SpecializationValue::Kind::Boolean;
      entry.value.boolean = value == "true";
    } else if (ec == std::errc() && end == value.data() + value.size()) {
      entry.value.kind = SpecializationValue::Kind::Number;
      entry.value.number = number;
    } else {
      entry.value.kind = SpecializationValue::Kind::String;
      entry.value.string = value;
    }
    for (const SpecializationEntry &previous : result)
      if (previous.key == entry.key)
        return Status::error(SA_ERROR_INVALID_ARGUMENT, "specialization \"" + text + "\": key \"" +
                                                            entry.key + "\" appears twice");
    result.push_back(std::move(entry));
    if (comma == std::string::npos)
      break;
    start = comma + 1;
  }
  std::sort(
      result.begin(), result.end(),
      [](const SpecializationEntry &a, const SpecializationEntry &b) { return a.key < b.key; });
  return Status::success();
}

size_t ParamSlot::byteSize() const {
  switch (kind) {
  case Kind::Pointer:
  case Kind::TensorMap:
    return 8;
  case Kind::Size:
  case Kind::Stride:
  case Kind::Scalar:
  case Kind::Value:
    return type == SA_SCALAR_I64 ? 8 : 4;
  }
  return 8;
}

size_t dtypeSize(sa_dtype dtype) {
  switch (dtype) {
  case SA_DTYPE_F16:
  case SA_DTYPE_BF16:
  case SA_DTYPE_I16:
    return 2;
  case SA_DTYPE_F32:
  case SA_DTYPE_I32:
    return 4;
  case SA_DTYPE_F64:
  case SA_DTYPE_I64:
    return 8;
  case SA_DTYPE_I8:
  case SA_DTYPE_U8:
  case SA_DTYPE_BOOL:
    return 1;
  case SA_DTYPE_INVALID:
    return 0;
  }
  return 0;
}

sa_dtype parseDtype(const std::string &name) {
  for (int dtype = SA_DTYPE_F16; dtype <= SA_DTYPE_BOOL; ++dtype)
    if (name == sa_dtype_name(static_cast<sa_dtype>(dtype)))
      return static_cast<sa_dtype>(dtype);
  return SA_DTYPE_INVALID;
}

const char *scalarTypeName(sa_scalar_type type) {
  switch (type) {
  case SA_SCALAR_I32:
    return "i32";
  case SA_SCALAR_I64:
    return "i64";
  case SA_SCALAR_F32:
    return "f32";
  case SA_SCALAR_INVALID:
    break;
  }
  return "invalid";
}

Status parseManifest(const std::string &text, const std::string &fileName,
                     const std::string &bundleDirectory, Manifest &manifest) {
  manifest = Manifest();
  JsonValue root;
  if (Status status = parseJson(text, fileName, root); !status.ok())
    return status;
  return ManifestReader(fileName, bundleDirectory).read(root, manifest);
}

Status loadManifest(const std::string &bundleDirectory, Manifest &manifest) {
  std::string fileName = bundleDirectory + "/manifest.json";
  std::string text;
  if (Status status = readFile(fileName, text); !status.ok())
    return Status::error(SA_ERROR_BUNDLE, "cannot read " + fileName +
                                              " (a bundle is a directory holding manifest.json)");
  return parseManifest(text, fileName, bundleDirectory, manifest);
}

} // namespace sparse_attn::runtime
