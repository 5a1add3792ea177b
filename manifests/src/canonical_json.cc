#include "modelcast/canonical_json.h"

#include <algorithm>
#include <set>
#include <vector>

#include "modelcast/utf8.h"

namespace modelcast {

namespace {

// Depth check on raw bytes before building a DOM: cheap, and keeps a hostile
// "[[[[..." from ever reaching a recursive structure.
bool nesting_within(std::string_view text, size_t max_depth) {
  size_t depth = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    else if (c == '[' || c == '{') {
      if (++depth > max_depth) return false;
    } else if ((c == ']' || c == '}') && depth > 0) --depth;
  }
  return true;
}

// UTF-16 code units of a UTF-8 string, for JCS key order (input is valid UTF-8).
std::u16string to_utf16(const std::string& s) {
  std::u16string out;
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    uint32_t cp;
    size_t len;
    if (c < 0x80) { cp = c; len = 1; }
    else if ((c >> 5) == 6) { cp = c & 0x1f; len = 2; }
    else if ((c >> 4) == 14) { cp = c & 0x0f; len = 3; }
    else { cp = c & 0x07; len = 4; }
    for (size_t k = 1; k < len && i + k < s.size(); ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3f);
    i += len;
    if (cp >= 0x10000) {
      cp -= 0x10000;
      out.push_back(static_cast<char16_t>(0xd800 + (cp >> 10)));
      out.push_back(static_cast<char16_t>(0xdc00 + (cp & 0x3ff)));
    } else {
      out.push_back(static_cast<char16_t>(cp));
    }
  }
  return out;
}

// RFC 6901: '~' and '/' inside a key are escaped so the pointer names one place.
std::string pointer_token(const std::string& key) {
  std::string out;
  for (char c : key) {
    if (c == '~') out += "~0";
    else if (c == '/') out += "~1";
    else out.push_back(c);
  }
  return out;
}

void append_string(std::string& out, const std::string& s) {
  static const char kHex[] = "0123456789abcdef";
  out.push_back('"');
  for (char ch : s) {
    unsigned char c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out.push_back(kHex[c >> 4]);
          out.push_back(kHex[c & 15]);
        } else {
          out.push_back(ch);
        }
    }
  }
  out.push_back('"');
}

Status append_canonical(std::string& out, const Json& v, const std::string& pointer) {
  switch (v.type()) {
    case Json::value_t::null: out += "null"; return OkStatus();
    case Json::value_t::boolean: out += v.get<bool>() ? "true" : "false"; return OkStatus();
    case Json::value_t::number_integer: {
      int64_t n = v.get<int64_t>();
      if (n > kMaxSafeInteger || n < -kMaxSafeInteger)
        return error(StatusCode::kCorruption, (pointer.empty() ? "/" : pointer) + ": integer outside ±(2^53-1)");
      out += std::to_string(n);
      return OkStatus();
    }
    case Json::value_t::number_unsigned: {
      uint64_t n = v.get<uint64_t>();
      if (n > static_cast<uint64_t>(kMaxSafeInteger))
        return error(StatusCode::kCorruption, (pointer.empty() ? "/" : pointer) + ": integer outside ±(2^53-1)");
      out += std::to_string(n);
      return OkStatus();
    }
    case Json::value_t::number_float:
      return error(StatusCode::kCorruption,
                   (pointer.empty() ? "/" : pointer) + ": floating-point numbers are not allowed (use an integer or a string)");
    case Json::value_t::string:
      if (!is_valid_utf8(v.get_ref<const std::string&>()))
        return error(StatusCode::kCorruption, (pointer.empty() ? "/" : pointer) + ": string is not valid UTF-8");
      append_string(out, v.get_ref<const std::string&>());
      return OkStatus();
    case Json::value_t::array: {
      out.push_back('[');
      for (size_t i = 0; i < v.size(); ++i) {
        if (i) out.push_back(',');
        MC_RETURN_IF_ERROR(append_canonical(out, v[i], pointer + "/" + std::to_string(i)));
      }
      out.push_back(']');
      return OkStatus();
    }
    case Json::value_t::object: {
      std::vector<std::pair<std::u16string, const std::string*>> keys;
      for (auto it = v.begin(); it != v.end(); ++it) {
        if (!is_valid_utf8(it.key()))
          return error(StatusCode::kCorruption, (pointer.empty() ? "/" : pointer) + ": key is not valid UTF-8");
        keys.emplace_back(to_utf16(it.key()), &it.key());
      }
      std::sort(keys.begin(), keys.end());
      out.push_back('{');
      bool first = true;
      for (const auto& k : keys) {
        if (!first) out.push_back(',');
        first = false;
        append_string(out, *k.second);
        out.push_back(':');
        MC_RETURN_IF_ERROR(append_canonical(out, v.at(*k.second), pointer + "/" + pointer_token(*k.second)));
      }
      out.push_back('}');
      return OkStatus();
    }
    default:
      return error(StatusCode::kCorruption, (pointer.empty() ? "/" : pointer) + ": unsupported JSON value");
  }
}

}  // namespace

Result<Json> parse_json_strict(std::string_view text, size_t max_bytes, const std::string& what) {
  if (text.size() > max_bytes)
    return error(StatusCode::kCorruption,
                 what + ": " + std::to_string(text.size()) + " bytes exceeds the limit of " + std::to_string(max_bytes));
  if (!nesting_within(text, kMaxJsonDepth))
    return error(StatusCode::kCorruption, what + ": nesting deeper than " + std::to_string(kMaxJsonDepth));
  std::vector<std::set<std::string>> seen;
  std::string duplicate;
  auto track_keys = [&](int /*depth*/, Json::parse_event_t event, Json& parsed) {
    if (event == Json::parse_event_t::object_start) seen.emplace_back();
    else if (event == Json::parse_event_t::object_end && !seen.empty()) seen.pop_back();
    else if (event == Json::parse_event_t::key && !seen.empty() && duplicate.empty()) {
      const auto& key = parsed.get_ref<const std::string&>();
      if (!seen.back().insert(key).second) duplicate = key;
    }
    return true;
  };
  Json doc;
  try {
    doc = Json::parse(text.begin(), text.end(), track_keys, /*allow_exceptions=*/true, /*ignore_comments=*/false);
  } catch (const Json::exception& e) {
    std::string msg = e.what();
    // nlohmann prefixes "[json.exception.parse_error.101] "; keep the readable part.
    auto pos = msg.find("] ");
    return error(StatusCode::kCorruption, what + ": invalid JSON: " + (pos == std::string::npos ? msg : msg.substr(pos + 2)));
  }
  if (!duplicate.empty()) return error(StatusCode::kCorruption, what + ": duplicate key \"" + duplicate + "\"");
  return doc;
}

Result<std::string> canonical_json(const Json& value) {
  std::string out;
  MC_RETURN_IF_ERROR(append_canonical(out, value, ""));
  return out;
}

std::string pretty_json(const Json& value) {
  // nlohmann's objects are std::map: keys come out sorted, so the output is stable.
  return value.dump(2, ' ', /*ensure_ascii=*/false, Json::error_handler_t::strict) + "\n";
}

}  // namespace modelcast
