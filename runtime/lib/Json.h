// A small, strict JSON reader (RFC 8259: no comments, no trailing commas, no
// duplicate keys, valid UTF-8) for bundle manifests. Every value remembers
// where it starts so that schema errors can point at the offending line.
#ifndef SPARSE_ATTN_RUNTIME_JSON_H
#define SPARSE_ATTN_RUNTIME_JSON_H

#include "Status.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sparse_attn::runtime {

struct SourceLocation {
  int line = 0;
  int column = 0;
};

class JsonValue {
public:
  // Integer: a number written without fraction or exponent (fits in int64);
  // Number: any other number.
  enum class Kind { Null, Bool, Integer, Number, String, Array, Object };
  using Member = std::pair<std::string, JsonValue>;

  Kind kind() const { return kind_; }
  SourceLocation location() const { return location_; }

  bool isNumber() const { return kind_ == Kind::Integer || kind_ == Kind::Number; }
  bool asBool() const { return boolValue_; }
  int64_t asInteger() const { return integerValue_; }
  // The value of an Integer or a Number.
  double asDouble() const {
    return kind_ == Kind::Integer ? static_cast<double>(integerValue_) : numberValue_;
  }
  const std::string &asString() const { return stringValue_; }
  const std::vector<JsonValue> &elements() const { return elements_; }
  const std::vector<Member> &members() const { return members_; }
  // Null when the object has no such member.
  const JsonValue *find(std::string_view key) const;

  // "an object", "an integer", ...: for error messages.
  static const char *describe(Kind kind);

private:
  friend class JsonParser;

  Kind kind_ = Kind::Null;
  SourceLocation location_;
  bool boolValue_ = false;
  int64_t integerValue_ = 0;
  double numberValue_ = 0;
  std::string stringValue_;
  std::vector<JsonValue> elements_;
  std::vector<Member> members_;
};

// Parses a whole document. Errors read "<fileName>:<line>:<column>: ...".
Status parseJson(std::string_view text, const std::string &fileName, JsonValue &result);

} // namespace sparse_attn::runtime

#endif
