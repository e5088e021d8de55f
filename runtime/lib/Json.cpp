#include "Json.h"

#include <charconv>
#include <cstdio>

namespace sparse_attn::runtime {

const JsonValue *JsonValue::find(std::string_view key) const {
  for (const Member &member : members_)
    if (member.first == key)
      return &member.second;
  return nullptr;
}

const char *JsonValue::describe(Kind kind) {
  switch (kind) {
  case Kind::Null:
    return "null";
  case Kind::Bool:
    return "a boolean";
  case Kind::Integer:
    return "an integer";
  case Kind::Number:
    return "a number";
  case Kind::String:
    return "a string";
  case Kind::Array:
    return "an array";
  case Kind::Object:
    return "an object";
  }
  return "a value";
}

namespace {
// Deeper documents are not manifests; the limit keeps recursion bounded.
constexpr int kMaxDepth = 64;
} // namespace

class JsonParser {
public:
  JsonParser(std::string_view text, const std::string &fileName)
      : text_(text), fileName_(fileName) {}

  Status parseDocument(JsonValue &result) {
    if (text_.substr(0, 3) == "\xEF\xBB\xBF")
      return error("a byte order mark is not allowed");
    skipWhitespace();
    if (Status status = parseValue(result, 0); !status.ok())
      return status;
    skipWhitespace();
    if (pos_ != text_.size())
      return error("expected the end of the document after the top-level value");
    return Status::success();
  }

private:
  Status error(const std::string &what) const {
    return Status::error(SA_ERROR_BUNDLE, fileName_ + ":" + std::to_string(line_) + ":" +
                                              std::to_string(column_) + ": " + what);
  }

  bool atEnd() const { return pos_ >= text_.size(); }
  char peek() const { return atEnd() ? '\0' : text_[pos_]; }

  void advance() {
    if (text_[pos_] == '\n') {
      ++line_;
      column_ = 1;
    } else {
      ++column_;
    }
    ++pos_;
  }

  void skipWhitespace() {
    while (!atEnd() && (peek() == ' ' || peek() == '\t' || peek() == '\n' || peek() == '\r'))
      advance();
  }

  // Describes the character at the cursor for "expected X, found Y".
  std::string found() const {
    if (atEnd())
      return "the end of the document";
    unsigned char c = static_cast<unsigned char>(peek());
    if (c >= 0x20 && c < 0x7f)
      return std::string("'") + static_cast<char>(c) + "'";
    char buffer[16];
    std::snprintf(buffer, sizeof buffer, "byte 0x%02x", c);
    return buffer;
  }

  Status parseValue(JsonValue &value, int depth) {
    if (depth > kMaxDepth)
      return error("values nested deeper than " + std::to_string(kMaxDepth) + " levels");
    value.location_ = {line_, column_};
    char c = peek();
    if (c == '{')
      return parseObject(value, depth);
    if (c == '[')
      return parseArray(value, depth);
    if (c == '"') {
      value.kind_ = JsonValue::Kind::String;
      return parseString(value.stringValue_);
    }
    if (c == '-' || (c >= '0' && c <= '9'))
      return parseNumber(value);
    if (matchWord("true")) {
      value.kind_ = JsonValue::Kind::Bool;
      value.boolValue_ = true;
      return Status::success();
    }
    if (matchWord("false")) {
      value.kind_ = JsonValue::Kind::Bool;
      value.boolValue_ = false;
      return Status::success();
    }
    if (matchWord("null")) {
      value.kind_ = JsonValue::Kind::Null;
      return Status::success();
    }
    return error("expected a value (object, array, string, number, true, false or "
                 "null), found " +
                 found());
  }

  bool matchWord(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word)
      return false;
    for (size_t i = 0; i < word.size(); ++i)
      advance();
    return true;
  }

  Status parseObject(JsonValue &value, int depth) {
    value.kind_ = JsonValue::Kind::Object;
    advance(); // '{'
    skipWhitespace();
    if (peek() == '}') {
      advance();
      return Status::success();
    }
    while (true) {
      if (peek() != '"')
        return error("expected a string key in the object, found " + found());
      SourceLocation keyLocation{line_, column_};
      std::string key;
      if (Status status = parseString(key); !status.ok())
        return status;
      for (const JsonValue::Member &member : value.members_)
        if (member.first == key)
          return Status::error(SA_ERROR_BUNDLE,
                               fileName_ + ":" + std::to_string(keyLocation.line) + ":" +
                                   std::to_string(keyLocation.column) + ": duplicate key \"" + key +
                                   "\" (first at line " +
                                   std::to_string(member.second.location_.line) + ")");
      skipWhitespace();
      if (peek() != ':')
        return error("expected ':' after the object key, found " + found());
      advance();
      skipWhitespace();
      value.members_.emplace_back(std::move(key), JsonValue());
      if (Status status = parseValue(value.members_.back().second, depth + 1); !status.ok())
        return status;
      skipWhitespace();
      if (peek() == ',') {
        advance();
        skipWhitespace();
        if (peek() == '}')
          return error("trailing ',' before '}'");
        continue;
      }
      if (peek() == '}') {
        advance();
        return Status::success();
      }
      return error("expected ',' or '}' after the object member, found " + found());
    }
  }

  Status parseArray(JsonValue &value, int depth) {
    value.kind_ = JsonValue::Kind::Array;
    advance(); // '['
    skipWhitespace();
    if (peek() == ']') {
      advance();
      return Status::success();
    }
    while (true) {
      value.elements_.emplace_back();
      if (Status status = parseValue(value.elements_.back(), depth + 1); !status.ok())
        return status;
      skipWhitespace();
      if (peek() == ',') {
        advance();
        skipWhitespace();
        if (peek() == ']')
          return error("trailing ',' before ']'");
        continue;
      }
      if (peek() == ']') {
        advance();
        return Status::success();
      }
      return error("expected ',' or ']' after the array element, found " + found());
    }
  }

  Status parseHex4(uint32_t &codePoint) {
    codePoint = 0;
    for (int i = 0; i < 4; ++i) {
      char c = peek();
      uint32_t digit;
      if (c >= '0' && c <= '9')
        digit = c - '0';
      else if (c >= 'a' && c <= 'f')
        digit = c - 'a' + 10;
      else if (c >= 'A' && c <= 'F')
        digit = c - 'A' + 10;
      else
        return error("expected 4 hexadecimal digits after \\u, found " + found());
      codePoint = codePoint * 16 + digit;
      advance();
    }
    return Status::success();
  }

  static void appendUtf8(std::string &out, uint32_t codePoint) {
    if (codePoint < 0x80) {
      out += static_cast<char>(codePoint);
    } else if (codePoint < 0x800) {
      out += static_cast<char>(0xC0 | (codePoint >> 6));
      out += static_cast<char>(0x80 | (codePoint & 0x3F));
    } else if (codePoint < 0x10000) {
      out += static_cast<char>(0xE0 | (codePoint >> 12));
      out += static_cast<char>(0x80 | ((codePoint >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (codePoint & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (codePoint >> 18));
      out += static_cast<char>(0x80 | ((codePoint >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((codePoint >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (codePoint & 0x3F));
    }
  }

  // Copies one UTF-8 encoded character, rejecting overlong forms,
  // surrogates and truncated sequences.
  Status copyUtf8Character(std::string &out) {
    unsigned char lead = static_cast<unsigned char>(peek());
    int length;
    uint32_t codePoint;
    if (lead >= 0xC2 && lead <= 0xDF) {
      length = 2;
      codePoint = lead & 0x1F;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
      length = 3;
      codePoint = lead & 0x0F;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      length = 4;
      codePoint = lead & 0x07;
    } else {
      return error("invalid UTF-8 in string: " + found());
    }
    if (pos_ + length > text_.size())
      return error("truncated UTF-8 sequence in string");
    for (int i = 1; i < length; ++i) {
      unsigned char next = static_cast<unsigned char>(text_[pos_ + i]);
      if ((next & 0xC0) != 0x80)
        return error("invalid UTF-8 continuation byte in string");
      codePoint = (codePoint << 6) | (next & 0x3F);
    }
    static const uint32_t kMinimum[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (codePoint < kMinimum[length] || codePoint > 0x10FFFF ||
        (codePoint >= 0xD800 && codePoint <= 0xDFFF))
      return error("invalid UTF-8 sequence in string");
    out.append(text_.substr(pos_, length));
    pos_ += length;
    column_ += 1;
    return Status::success();
  }

  Status parseString(std::string &out) {
    advance(); // opening quote
    while (true) {
      if (atEnd())
        return error("unterminated string");
      unsigned char c = static_cast<unsigned char>(peek());
      if (c == '"') {
        advance();
        return Status::success();
      }
      if (c < 0x20)
        return error("control character " + found() +
                     " in string (write it as an escape sequence)");
      if (c >= 0x80) {
        if (Status status = copyUtf8Character(out); !status.ok())
          return status;
        continue;
      }
      if (c != '\\') {
        out += static_cast<char>(c);
        advance();
        continue;
      }
      advance(); // backslash
      char escape = peek();
      switch (escape) {
      case '"':
      case '\\':
      case '/':
        out += escape;
        break;
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'n':
        out += '\n';
        break;
      case 'r':
        out += '\r';
        break;
      case 't':
        out += '\t';
        break;
      case 'u': {
        advance();
        uint32_t codePoint;
        if (Status status = parseHex4(codePoint); !status.ok())
          return status;
        if (codePoint >= 0xDC00 && codePoint <= 0xDFFF)
          return error("unpaired low surrogate in \\u escape");
        if (codePoint >= 0xD800 && codePoint <= 0xDBFF) {
          if (!matchWord("\\u"))
            return error("high surrogate not followed by a \\u low surrogate");
          uint32_t low;
          if (Status status = parseHex4(low); !status.ok())
            return status;
          if (low < 0xDC00 || low > 0xDFFF)
            return error("high surrogate not followed by a low surrogate");
          codePoint = 0x10000 + ((codePoint - 0xD800) << 10) + (low - 0xDC00);
        }
        appendUtf8(out, codePoint);
        continue;
      }
      default:
        return error("invalid escape sequence '\\" + std::string(1, escape) + "'");
      }
      advance();
    }
  }

  bool isDigit() const { return peek() >= '0' && peek() <= '9'; }

  Status parseNumber(JsonValue &value) {
    size_t start = pos_;
    bool integral = true;
    if (peek() == '-')
      advance();
    if (peek() == '0') {
      advance();
      if (isDigit())
        return error("leading zeros are not allowed in numbers");
    } else if (isDigit()) {
      while (isDigit())
        advance();
    } else {
      return error("expected a digit, found " + found());
    }
    if (peek() == '.') {
      integral = false;
      advance();
      if (!isDigit())
        return error("expected a digit after the decimal point, found " + found());
      while (isDigit())
        advance();
    }
    if (peek() == 'e' || peek() == 'E') {
      integral = false;
      advance();
      if (peek() == '+' || peek() == '-')
        advance();
      if (!isDigit())
        return error("expected a digit in the exponent, found " + found());
      while (isDigit())
        advance();
    }
    // from_chars, unlike strtod, ignores the process locale.
    std::string_view literal = text_.substr(start, pos_ - start);
    const char *begin = literal.data();
    const char *end = begin + literal.size();
    std::from_chars_result parsed;
    if (integral) {
      value.kind_ = JsonValue::Kind::Integer;
      parsed = std::from_chars(begin, end, value.integerValue_);
    } else {
      value.kind_ = JsonValue::Kind::Number;
      parsed = std::from_chars(begin, end, value.numberValue_);
    }
    if (parsed.ec != std::errc() || parsed.ptr != end)
      return Status::error(SA_ERROR_BUNDLE, fileName_ + ":" + std::to_string(value.location_.line) +
                                                ":" + std::to_string(value.location_.column) +
                                                ": number " + std::string(literal) +
                                                " is out of range");
    return Status::success();
  }

  std::string_view text_;
  const std::string &fileName_;
  size_t pos_ = 0;
  int line_ = 1;
  int column_ = 1;
};

Status parseJson(std::string_view text, const std::string &fileName, JsonValue &result) {
  result = JsonValue();
  return JsonParser(text, fileName).parseDocument(result);
}

} // namespace sparse_attn::runtime
