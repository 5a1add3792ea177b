// Strict JSON reading and RFC 8785 (JCS) canonical serialisation.
//
// Signed manifests are verified over canonical bytes, so two readers must never disagree
// about what a document says: the strict reader refuses duplicate keys, invalid UTF-8,
// nesting deeper than kMaxJsonDepth and inputs larger than the caller's limit; the
// canonicaliser refuses floating-point numbers and integers outside ±(2^53-1), which is
// what lets JCS reduce to sorted keys and minimal string escapes. Pure functions.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "modelcast/status.h"

namespace modelcast {

using Json = nlohmann::json;

constexpr size_t kMaxJsonDepth = 64;
constexpr int64_t kMaxSafeInteger = 9007199254740991;  // 2^53 - 1, exact in every JSON reader

// `what` names the document in errors ("manifest", "config.json").
Result<Json> parse_json_strict(std::string_view text, size_t max_bytes, const std::string& what);

// RFC 8785 bytes of `value`; fails naming the JSON pointer (RFC 6901) of a float, an
// unsafe integer, or a string or key that is not valid UTF-8.
Result<std::string> canonical_json(const Json& value);

// What goes to disk for review: sorted keys, two-space indent, trailing newline, stable.
std::string pretty_json(const Json& value);

}  // namespace modelcast
