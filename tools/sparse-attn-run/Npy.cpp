//===- Npy.cpp - NumPy .npy reading and writing ---------------------------===//
//
// Format: the magic "\x93NUMPY", a version (major, minor), the header length
// (2 bytes little-endian in version 1, 4 bytes in versions 2 and 3), a
// Python dict literal {'descr': ..., 'fortran_order': ..., 'shape': (...)}
// padded so that the data starts on a 64-byte boundary, then the raw data.
//
//===----------------------------------------------------------------------===//

#include "Npy.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringSwitch.h"
#include "llvm/Support/MathExtras.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

#include <cstring>
#include <optional>

using namespace mlir;
using namespace mlir::sparse_attn;
using namespace mlir::sparse_attn::run;

static constexpr llvm::StringLiteral kMagic("\x93NUMPY");

namespace {
/// Header fields of a .npy file.
struct NpyHeader {
  std::string descr;
  bool fortranOrder = false;
  SmallVector<int64_t> shape;
};

/// Recursive-descent parser of the header's dict literal; only the value
/// forms that numpy writes for these three keys are accepted.
class HeaderParser {
public:
  explicit HeaderParser(StringRef text) : rest(text) {}

  llvm::Expected<NpyHeader> parse() {
    NpyHeader header;
    bool hasDescr = false, hasOrder = false, hasShape = false;
    if (!consume("{"))
      return fail("expected '{'");
    while (!consume("}")) {
      std::optional<std::string> key = parseString();
      if (!key || !consume(":"))
        return fail("expected a quoted key and ':'");
      if (*key == "descr") {
        std::optional<std::string> descr = parseString();
        if (!descr)
          return fail("expected a string for 'descr'");
        header.descr = *descr;
        hasDescr = true;
      } else if (*key == "fortran_order") {
        if (consume("True"))
          header.fortranOrder = true;
        else if (!consume("False"))
          return fail("expected True or False for 'fortran_order'");
        hasOrder = true;
      } else if (*key == "shape") {
        if (!parseShape(header.shape))
          return fail("expected a tuple of integers for 'shape'");
        hasShape = true;
      } else {
        return fail("unexpected key '" + *key + "'");
      }
      if (!consume(",") && !peek("}"))
        return fail("expected ',' or '}'");
    }
    if (!hasDescr || !hasOrder || !hasShape)
      return fail("missing 'descr', 'fortran_order' or 'shape'");
    return header;
  }

private:
  llvm::Error fail(const Twine &message) {
    return llvm::createStringError("malformed header: " + message.str());
  }

  bool peek(StringRef token) {
    rest = rest.ltrim();
    return rest.starts_with(token);
  }

  bool consume(StringRef token) {
    if (!peek(token))
      return false;
    rest = rest.drop_front(token.size());
    return true;
  }

  std::optional<std::string> parseString() {
    rest = rest.ltrim();
    if (rest.empty() || (rest.front() != '\'' && rest.front() != '"'))
      return std::nullopt;
    char quote = rest.front();
    size_t end = rest.find(quote, 1);
    if (end == StringRef::npos)
      return std::nullopt;
    std::string value = rest.slice(1, end).str();
    rest = rest.drop_front(end + 1);
    return value;
  }

  bool parseShape(SmallVectorImpl<int64_t> &shape) {
    if (!consume("("))
      return false;
    while (!consume(")")) {
      rest = rest.ltrim();
      size_t digits = rest.find_if_not(llvm::isDigit);
      int64_t extent = 0;
      if (digits == 0 || rest.take_front(digits).getAsInteger(10, extent))
        return false;
      shape.push_back(extent);
      rest = rest.drop_front(digits);
      if (!consume(",") && !peek(")"))
        return false;
    }
    return true;
  }

  StringRef rest;
};
} // namespace

/// The element kind of a numpy dtype string, or nullopt if unsupported.
static std::optional<ElementKind> parseDescr(StringRef descr) {
  return llvm::StringSwitch<std::optional<ElementKind>>(descr)
      .Case("<f2", ElementKind::F16)
      .Case("<f4", ElementKind::F32)
      .Case("<f8", ElementKind::F64)
      .Case("<i4", ElementKind::I32)
      .Case("<i8", ElementKind::I64)
      .Default(std::nullopt);
}

static uint64_t readLittleEndian(StringRef bytes) {
  uint64_t value = 0;
  for (size_t i = bytes.size(); i-- > 0;)
    value = (value << 8) | static_cast<uint8_t>(bytes[i]);
  return value;
}

llvm::Expected<HostBuffer> run::readNpy(StringRef path) {
  auto fail = [&](const Twine &message) {
    return llvm::createStringError("cannot read '" + path.str() +
                                   "': " + message.str());
  };
  llvm::ErrorOr<std::unique_ptr<llvm::MemoryBuffer>> file =
      llvm::MemoryBuffer::getFile(path, /*IsText=*/false,
                                  /*RequiresNullTerminator=*/false);
  if (!file)
    return fail(file.getError().message());
  StringRef contents = (*file)->getBuffer();

  if (!contents.starts_with(kMagic) || contents.size() < kMagic.size() + 2)
    return fail("not a .npy file (bad magic)");
  unsigned major = static_cast<uint8_t>(contents[kMagic.size()]);
  if (major < 1 || major > 3)
    return fail("unsupported .npy version " + Twine(major));
  size_t lengthOffset = kMagic.size() + 2;
  size_t lengthBytes = major == 1 ? 2 : 4;
  if (contents.size() < lengthOffset + lengthBytes)
    return fail("truncated header");
  uint64_t headerLength =
      readLittleEndian(contents.substr(lengthOffset, lengthBytes));
  size_t headerOffset = lengthOffset + lengthBytes;
  if (contents.size() - headerOffset < headerLength)
    return fail("truncated header");

  llvm::Expected<NpyHeader> header =
      HeaderParser(contents.substr(headerOffset, headerLength)).parse();
  if (!header)
    return fail(llvm::toString(header.takeError()));
  std::optional<ElementKind> kind = parseDescr(header->descr);
  if (!kind)
    return fail("unsupported dtype '" + header->descr +
                "' (expected <f2, <f4, <f8, <i4 or <i8)");
  if (header->fortranOrder)
    return fail("Fortran-order arrays are not supported");
  llvm::Expected<int64_t> count = getNumElements(header->shape);
  if (!count)
    return fail(llvm::toString(count.takeError()));

  // Sizes are compared before allocating: the header may claim anything.
  StringRef data = contents.drop_front(headerOffset + headerLength);
  uint64_t expectedBytes = static_cast<uint64_t>(*count) * getByteWidth(*kind);
  if (data.size() != expectedBytes)
    return fail("expected " + Twine(expectedBytes) + " data bytes for shape (" +
                run::formatShape(header->shape) + "), found " + Twine(data.size()));
  HostBuffer buffer(*kind, header->shape);
  std::memcpy(buffer.getData(), data.data(), data.size());
  return buffer;
}

/// The dtype and element kind a buffer is written as.
static std::pair<StringRef, ElementKind> getFileType(ElementKind kind) {
  switch (kind) {
  case ElementKind::BF16:
  case ElementKind::F32:
    return {"<f4", ElementKind::F32};
  case ElementKind::F16:
    return {"<f2", ElementKind::F16};
  case ElementKind::F64:
    return {"<f8", ElementKind::F64};
  case ElementKind::I32:
    return {"<i4", ElementKind::I32};
  case ElementKind::I64:
  case ElementKind::Index:
    return {"<i8", ElementKind::I64};
  }
  llvm_unreachable("unknown element kind");
}

llvm::Error run::writeNpy(StringRef path, const HostBuffer &buffer) {
  auto [descr, fileKind] = getFileType(buffer.getKind());

  // Python tuple syntax: (), (5,), (2, 3).
  ArrayRef<int64_t> shape = buffer.getShape();
  std::string shapeText =
      "(" +
      llvm::join(
          llvm::map_range(
              shape, [](int64_t extent) { return std::to_string(extent); }),
          ", ") +
      (shape.size() == 1 ? ",)" : ")");
  std::string header =
      ("{'descr': '" + descr +
       "', 'fortran_order': False, 'shape': " + shapeText + ", }")
          .str();
  // Pad with spaces and a final newline so the data is 64-byte aligned.
  size_t prefixSize = kMagic.size() + 4;
  size_t total = llvm::alignTo(prefixSize + header.size() + 1, 64);
  header.append(total - prefixSize - header.size() - 1, ' ');
  header += '\n';

  std::error_code error;
  llvm::raw_fd_ostream os(path, error);
  if (error)
    return llvm::createStringError("cannot write '" + path.str() +
                                   "': " + error.message());
  os << kMagic << '\x01' << '\x00';
  os << static_cast<char>(header.size() & 0xff)
     << static_cast<char>(header.size() >> 8);
  os << header;
  if (fileKind == buffer.getKind()) {
    os.write(static_cast<const char *>(buffer.getData()),
             buffer.getSizeInBytes());
  } else {
    // bf16 -> f32 and index -> i64 are exact.
    llvm::Expected<HostBuffer> widened = buffer.convertTo(fileKind);
    if (!widened)
      return widened.takeError();
    os.write(static_cast<const char *>(widened->getData()),
             widened->getSizeInBytes());
  }
  os.close();
  if (os.has_error()) {
    error = os.error();
    // An uncleared stream error would be fatal in the destructor.
    os.clear_error();
    return llvm::createStringError("cannot write '" + path.str() +
                                   "': " + error.message());
  }
  return llvm::Error::success();
}
