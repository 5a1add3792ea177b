// RFC 8785 (JCS) canonical form and the strict reader it relies on.
#include <doctest/doctest.h>

#include <string>

#include "modelcast/canonical_json.h"
#include "test_support.h"

using namespace modelcast;
using modelcast::testing::contains;

namespace {

std::string canon_of_text(const std::string& text) {
  auto doc = parse_json_strict(text, 1 << 20, "test");
  REQUIRE_MESSAGE(doc.ok(), doc.status().message());
  auto c = canonical_json(doc.value());
  REQUIRE_MESSAGE(c.ok(), c.status().message());
  return c.value();
}

Status canon_error(const std::string& text) {
  auto doc = parse_json_strict(text, 1 << 20, "test");
  REQUIRE_MESSAGE(doc.ok(), doc.status().message());
  return canonical_json(doc.value()).status();
}

Status parse_error(const std::string& text, size_t max_bytes = 1 << 20) {
  return parse_json_strict(text, max_bytes, "doc.json").status();
}

}  // namespace

TEST_CASE("canonical form sorts a supplementary-plane key before a U+E000 key, by UTF-16 code units") {
  // U+1F600 is D83D DE00 in UTF-16, which sorts below E000 although its code point is larger.
  CHECK(canon_of_text("{\"\xEE\x80\x80\": 1, \"\xF0\x9F\x98\x80\": 2}") == "{\"\xF0\x9F\x98\x80\":2,\"\xEE\x80\x80\":1}");
}

TEST_CASE("canonical form orders the keys of the RFC 8785 sorting example exactly as the RFC does") {
  // RFC 8785 section 3.2.3: the properties "\u20ac", "\r", "\ufb33", "1", "\ud83d\ude00",
  // "\u0080", "\u00f6" come out in the order \r, 1, \u0080, \u00f6, \u20ac, \ud83d\ude00, \ufb33.
  std::string in = R"({"\u20ac":"Euro Sign","\r":"Carriage Return","\ufb33":"Hebrew Letter Dalet With Dagesh",)"
                   R"("1":"One","\ud83d\ude00":"Emoji: Grinning Face","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis"})";
  std::string expected =
      "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\xC2\x80\":\"Control\",\"\xC3\xB6\":\"Latin Small Letter O With Diaeresis\","
      "\"\xE2\x82\xAC\":\"Euro Sign\",\"\xF0\x9F\x98\x80\":\"Emoji: Grinning Face\",\"\xEF\xAC\xB3\":\"Hebrew Letter Dalet With Dagesh\"}";
  CHECK(canon_of_text(in) == expected);
}

TEST_CASE("canonical form sorts keys by code unit, not numerically and not case-insensitively") {
  CHECK(canon_of_text(R"({"b":1,"a":2,"B":3,"10":4,"9":5,"":6,"aa":7})") == R"({"":6,"10":4,"9":5,"B":3,"a":2,"aa":7,"b":1})");
}

TEST_CASE("canonical form sorts nested objects, keeps array order and drops all whitespace") {
  CHECK(canon_of_text(" { \"z\" : [ 3 , 1 , { \"y\" : null , \"x\" : true } ] ,\n\t\"a\" : false } ") ==
        R"({"a":false,"z":[3,1,{"x":true,"y":null}]})");
  CHECK(canon_of_text("[]") == "[]");
  CHECK(canon_of_text("{}") == "{}");
  CHECK(canon_of_text("\"text\"") == "\"text\"");
}

TEST_CASE("canonical form uses the short escapes and lowercase \\u00xx for other control characters only") {
  std::string in = R"("\" \\ \/ \b \f \n \r \t \u0000 \u0001 \u001f \u001F \u007f \u00e9 \u2028 \ud83d\ude00 <>&'")";
  std::string expected = "\"\\\" \\\\ / \\b \\f \\n \\r \\t \\u0000 \\u0001 \\u001f \\u001f \x7f \xC3\xA9 \xE2\x80\xA8 \xF0\x9F\x98\x80 <>&'\"";
  CHECK(canon_of_text(in) == expected);
}

TEST_CASE("canonical form is a fixed point: canonicalising canonical bytes gives the same bytes") {
  std::string once = canon_of_text(R"({"k":["\u0007",{"b":[],"a":{}}],"\u00e9":-5})");
  CHECK(canon_of_text(once) == once);
}

TEST_CASE("floating-point numbers are rejected naming their JSON pointer") {
  Status s = canon_error(R"({"a":{"b":[1,2.5]}})");
  CHECK(s.code() == StatusCode::kCorruption);
  CHECK(contains(s.message(), "/a/b/1: floating-point numbers are not allowed"));
  CHECK(contains(canon_error("1.0").message(), "/: floating-point"));
  CHECK(contains(canon_error(R"({"v":1e2})").message(), "/v: floating-point"));
  CHECK(contains(canon_error(R"({"v":-0.0})").message(), "/v: floating-point"));
}

TEST_CASE("JSON pointers in canonicalisation errors escape '~' and '/' as RFC 6901 asks") {
  CHECK(contains(canon_error(R"({"a/b":{"m~n":0.5}})").message(), "/a~1b/m~0n: floating-point"));
}

TEST_CASE("integers at plus and minus 2^53-1 are canonical and one beyond is rejected") {
  CHECK(canon_of_text("[9007199254740991,-9007199254740991,0,-0]") == "[9007199254740991,-9007199254740991,0,0]");
  CHECK(contains(canon_error("[9007199254740992]").message(), "/0: integer outside"));
  CHECK(contains(canon_error("[-9007199254740992]").message(), "/0: integer outside"));
  CHECK(contains(canon_error("{\"n\":18446744073709551615}").message(), "/n: integer outside"));
  // Beyond uint64 a JSON parser falls back to a double, which is refused as such.
  CHECK(contains(canon_error("{\"n\":18446744073709551616}").message(), "/n: floating-point"));
}

TEST_CASE("integers built in code are checked the same way as parsed ones") {
  CHECK(canonical_json(Json(int64_t{-9007199254740991})).ok());
  CHECK_FALSE(canonical_json(Json(int64_t{9007199254740992})).ok());
  CHECK_FALSE(canonical_json(Json(uint64_t{9007199254740992})).ok());
}

TEST_CASE("strings that are not valid UTF-8 cannot be canonicalised, whether values or keys") {
  Json bad_value = {{"labels", {"ok", std::string("caf\xE9")}}};  // Latin-1 é
  Status s = canonical_json(bad_value).status();
  CHECK(s.code() == StatusCode::kCorruption);
  CHECK(contains(s.message(), "/labels/1: string is not valid UTF-8"));
  Json bad_key = {{std::string("\xC0\xAF"), 1}};  // overlong '/'
  CHECK(contains(canonical_json(bad_key).status().message(), "key is not valid UTF-8"));
  CHECK_FALSE(canonical_json(Json(std::string("\xED\xA0\x80"))).ok());      // UTF-8-encoded surrogate
  CHECK_FALSE(canonical_json(Json(std::string("\xF4\x90\x80\x80"))).ok());  // above U+10FFFF
  CHECK_FALSE(canonical_json(Json(std::string("\xE2\x82"))).ok());          // truncated
  CHECK(canonical_json(Json(std::string("\xF4\x8F\xBF\xBF"))).ok());        // U+10FFFF itself
}

TEST_CASE("the strict reader rejects invalid UTF-8 and unpaired surrogate escapes") {
  CHECK(contains(parse_error("\"\xFF\"").message(), "ill-formed UTF-8"));
  CHECK(parse_error("\"\xC0\xAF\"").code() == StatusCode::kCorruption);
  CHECK(parse_error("\"\xED\xA0\x80\"").code() == StatusCode::kCorruption);
  CHECK(parse_error("\"\xE2\x82\"").code() == StatusCode::kCorruption);
  CHECK(contains(parse_error(R"("\ud800")").message(), "surrogate"));
  CHECK(contains(parse_error(R"("\udc00")").message(), "surrogate"));
}

TEST_CASE("the strict reader rejects a key repeated in the same object, at any depth") {
  CHECK(contains(parse_error(R"({"a":1,"a":2})").message(), "doc.json: duplicate key \"a\""));
  CHECK(contains(parse_error(R"({"x":[{"k":1,"k":1}]})").message(), "duplicate key \"k\""));
  CHECK(contains(parse_error(R"({"x":{"deep":{"k":1,"j":2,"k":3}}})").message(), "duplicate key \"k\""));
  // The same key in sibling objects, or in a parent and a child, is fine.
  CHECK(parse_error(R"({"k":{"k":1},"x":[{"k":1},{"k":2}]})").ok());
}

TEST_CASE("the strict reader accepts 64 levels of nesting and rejects 65") {
  auto nest = [](size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); };
  CHECK(parse_error(nest(kMaxJsonDepth)).ok());
  Status s = parse_error(nest(kMaxJsonDepth + 1));
  CHECK(s.code() == StatusCode::kCorruption);
  CHECK(contains(s.message(), "doc.json: nesting deeper than 64"));
  std::string objects;
  for (size_t i = 0; i <= kMaxJsonDepth; ++i) objects += "{\"a\":";
  objects += "1" + std::string(kMaxJsonDepth + 1, '}');
  CHECK(contains(parse_error(objects).message(), "nesting deeper"));
  // Brackets inside strings are text, not nesting.
  CHECK(parse_error("[\"" + std::string(200, '[') + "\\\"" + std::string(200, '{') + "\"]").ok());
}

TEST_CASE("the strict reader enforces the caller's size limit to the byte") {
  std::string doc = "[" + std::string(98, ' ') + "]";  // 100 bytes
  CHECK(parse_error(doc, 100).ok());
  Status s = parse_error(doc + " ", 100);
  CHECK(s.code() == StatusCode::kCorruption);
  CHECK(contains(s.message(), "doc.json: 101 bytes exceeds the limit of 100"));
}

TEST_CASE("the strict reader rejects comments, trailing commas, trailing values and bare words") {
  CHECK_FALSE(parse_error("{\"a\":1 /* c */}").ok());
  CHECK_FALSE(parse_error("{\"a\":1 // c\n}").ok());
  CHECK_FALSE(parse_error("[1,2,]").ok());
  CHECK_FALSE(parse_error("{\"a\":1,}").ok());
  CHECK_FALSE(parse_error("{} {}").ok());
  CHECK_FALSE(parse_error("{'a':1}").ok());
  CHECK_FALSE(parse_error("NaN").ok());
  CHECK_FALSE(parse_error("[Infinity]").ok());
  CHECK_FALSE(parse_error("[01]").ok());
  CHECK_FALSE(parse_error("").ok());
  CHECK(contains(parse_error("[1,2,]").message(), "doc.json: invalid JSON"));
}

TEST_CASE("pretty output is sorted, indented by two spaces, ends in a newline and is stable") {
  auto doc = parse_json_strict(R"({"b":{"d":1,"c":[true,null]},"a":"\u00e9"})", 1 << 20, "t");
  REQUIRE(doc.ok());
  std::string pretty = pretty_json(doc.value());
  CHECK(pretty == "{\n  \"a\": \"\xC3\xA9\",\n  \"b\": {\n    \"c\": [\n      true,\n      null\n    ],\n    \"d\": 1\n  }\n}\n");
  auto again = parse_json_strict(pretty, 1 << 20, "t");
  REQUIRE(again.ok());
  CHECK(pretty_json(again.value()) == pretty);
}
