#include "Json.h"

#include <gtest/gtest.h>

using namespace sparse_attn::runtime;

namespace {

JsonValue parseOk(const std::string &text) {
  JsonValue value;
  Status status = parseJson(text, "doc.json", value);
  EXPECT_TRUE(status.ok()) << status.message();
  return value;
}

std::string parseError(const std::string &text) {
  JsonValue value;
  Status status = parseJson(text, "doc.json", value);
  EXPECT_FALSE(status.ok()) << "parsed: " << text;
  EXPECT_EQ(status.code(), SA_ERROR_BUNDLE);
  return status.message();
}

TEST(Json, ParsesEveryKindOfValue) {
  JsonValue value = parseOk(R"( {"a": [1, -2, 3.5, -0.25e2, 1E3, true, false, null],
                                 "b": {"nested": "text"}, "c": []} )");
  ASSERT_EQ(value.kind(), JsonValue::Kind::Object);
  const JsonValue &a = *value.find("a");
  ASSERT_EQ(a.elements().size(), 8u);
  EXPECT_EQ(a.elements()[0].kind(), JsonValue::Kind::Integer);
  EXPECT_EQ(a.elements()[0].asInteger(), 1);
  EXPECT_EQ(a.elements()[1].asInteger(), -2);
  EXPECT_EQ(a.elements()[2].kind(), JsonValue::Kind::Number);
  EXPECT_DOUBLE_EQ(a.elements()[2].asDouble(), 3.5);
  EXPECT_DOUBLE_EQ(a.elements()[3].asDouble(), -25.0);
  EXPECT_EQ(a.elements()[4].kind(), JsonValue::Kind::Number);
  EXPECT_DOUBLE_EQ(a.elements()[4].asDouble(), 1000.0);
  EXPECT_TRUE(a.elements()[5].asBool());
  EXPECT_FALSE(a.elements()[6].asBool());
  EXPECT_EQ(a.elements()[7].kind(), JsonValue::Kind::Null);
  EXPECT_EQ(value.find("b")->find("nested")->asString(), "text");
  EXPECT_TRUE(value.find("c")->elements().empty());
  EXPECT_EQ(value.find("missing"), nullptr);
}

TEST(Json, KeepsMemberOrderAndLocations) {
  JsonValue value = parseOk("{\n  \"z\": 1,\n  \"a\":\n    [2]\n}");
  ASSERT_EQ(value.members().size(), 2u);
  EXPECT_EQ(value.members()[0].first, "z");
  EXPECT_EQ(value.members()[1].first, "a");
  EXPECT_EQ(value.location().line, 1);
  EXPECT_EQ(value.find("z")->location().line, 2);
  EXPECT_EQ(value.find("z")->location().column, 8);
  EXPECT_EQ(value.find("a")->location().line, 4);
  EXPECT_EQ(value.find("a")->location().column, 5);
}

TEST(Json, DecodesEscapesAndUnicode) {
  JsonValue value = parseOk(R"(["\"\\\/\b\f\n\r\t", "\u0041\u00e9\u20ac", "\ud83d\ude00", "é€😀"])");
  EXPECT_EQ(value.elements()[0].asString(), "\"\\/\b\f\n\r\t");
  EXPECT_EQ(value.elements()[1].asString(), "A\xc3\xa9\xe2\x82\xac");
  EXPECT_EQ(value.elements()[2].asString(), "\xf0\x9f\x98\x80");
  EXPECT_EQ(value.elements()[3].asString(), "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
}

TEST(Json, IntegerLimits) {
  JsonValue value = parseOk("[9223372036854775807, -9223372036854775808]");
  EXPECT_EQ(value.elements()[0].asInteger(), INT64_MAX);
  EXPECT_EQ(value.elements()[1].asInteger(), INT64_MIN);
}

struct MalformedCase {
  const char *text;
  const char *message; // the exact message, file name included
};

class MalformedJson : public ::testing::TestWithParam<MalformedCase> {};

TEST_P(MalformedJson, ReportsWhereAndWhat) {
  EXPECT_EQ(parseError(GetParam().text), GetParam().message);
}

INSTANTIATE_TEST_SUITE_P(
    Json, MalformedJson,
    ::testing::Values(
        MalformedCase{"", "doc.json:1:1: expected a value (object, array, string, number, true, "
                          "false or null), found the end of the document"},
        MalformedCase{"{\"a\": 1,}", "doc.json:1:9: trailing ',' before '}'"},
        MalformedCase{"[1, 2,\n]", "doc.json:2:1: trailing ',' before ']'"},
        MalformedCase{"{\"a\" 1}", "doc.json:1:6: expected ':' after the object key, found '1'"},
        MalformedCase{"{\"a\": 1 \"b\": 2}",
                      "doc.json:1:9: expected ',' or '}' after the object member, found '\"'"},
        MalformedCase{"[1 2]", "doc.json:1:4: expected ',' or ']' after the array element, "
                               "found '2'"},
        MalformedCase{"{a: 1}", "doc.json:1:2: expected a string key in the object, found 'a'"},
        MalformedCase{"{\"a\": 1,\n \"a\": 2}",
                      "doc.json:2:2: duplicate key \"a\" (first at line 1)"},
        MalformedCase{"\"abc", "doc.json:1:5: unterminated string"},
        MalformedCase{"\"a\tb\"", "doc.json:1:3: control character byte 0x09 in string "
                                  "(write it as an escape sequence)"},
        MalformedCase{"\"\\x\"", "doc.json:1:3: invalid escape sequence '\\x'"},
        MalformedCase{"\"\\u12G4\"",
                      "doc.json:1:6: expected 4 hexadecimal digits after \\u, found 'G'"},
        MalformedCase{"\"\\udc00\"", "doc.json:1:8: unpaired low surrogate in \\u escape"},
        MalformedCase{"\"\\ud800x\"",
                      "doc.json:1:8: high surrogate not followed by a \\u low surrogate"},
        MalformedCase{"\"\\ud800\\u0041\"",
                      "doc.json:1:14: high surrogate not followed by a low surrogate"},
        MalformedCase{"\"\xff\"", "doc.json:1:2: invalid UTF-8 in string: byte 0xff"},
        MalformedCase{"\"\xc0\xaf\"", "doc.json:1:2: invalid UTF-8 in string: byte 0xc0"},
        MalformedCase{"\"\xe0\x80\xaf\"", "doc.json:1:2: invalid UTF-8 sequence in string"},
        MalformedCase{"\"\xed\xa0\x80\"", "doc.json:1:2: invalid UTF-8 sequence in string"},
        MalformedCase{"\"\xe2\x82\"", "doc.json:1:2: invalid UTF-8 continuation byte in string"},
        MalformedCase{"\"\xe2\x82", "doc.json:1:2: truncated UTF-8 sequence in string"},
        MalformedCase{"012", "doc.json:1:2: leading zeros are not allowed in numbers"},
        MalformedCase{"-", "doc.json:1:2: expected a digit, found the end of the document"},
        MalformedCase{"1.", "doc.json:1:3: expected a digit after the decimal point, found the "
                            "end of the document"},
        MalformedCase{"1e+", "doc.json:1:4: expected a digit in the exponent, found the end of "
                             "the document"},
        MalformedCase{"+1", "doc.json:1:1: expected a value (object, array, string, number, "
                            "true, false or null), found '+'"},
        MalformedCase{"9223372036854775808",
                      "doc.json:1:1: number 9223372036854775808 is out of range"},
        MalformedCase{"1e999", "doc.json:1:1: number 1e999 is out of range"},
        MalformedCase{"[NaN]", "doc.json:1:2: expected a value (object, array, string, number, "
                               "true, false or null), found 'N'"},
        MalformedCase{"tru", "doc.json:1:1: expected a value (object, array, string, number, "
                             "true, false or null), found 't'"},
        MalformedCase{"{} {}",
                      "doc.json:1:4: expected the end of the document after the top-level value"},
        MalformedCase{"// comment\n{}", "doc.json:1:1: expected a value (object, array, string, "
                                        "number, true, false or null), found '/'"},
        MalformedCase{"['a']", "doc.json:1:2: expected a value (object, array, string, number, "
                               "true, false or null), found '''"},
        MalformedCase{"\xEF\xBB\xBF{}", "doc.json:1:1: a byte order mark is not allowed"}));

TEST(Json, RejectsDeepNesting) {
  std::string deep(100, '[');
  deep += std::string(100, ']');
  EXPECT_EQ(parseError(deep), "doc.json:1:66: values nested deeper than 64 levels");
  std::string fine(64, '[');
  fine += std::string(64, ']');
  parseOk(fine);
}

} // namespace
