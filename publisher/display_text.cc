#include "display_text.h"

#include <cstdio>

#include "modelcast/utf8.h"

namespace modelcast {

namespace {

uint32_t code_point(std::string_view s, size_t i, size_t n) {
  auto b = [&](size_t k) { return static_cast<uint32_t>(static_cast<unsigned char>(s[i + k])); };
  if (n == 1) return b(0);
  if (n == 2) return ((b(0) & 0x1F) << 6) | (b(1) & 0x3F);
  if (n == 3) return ((b(0) & 0x0F) << 12) | ((b(1) & 0x3F) << 6) | (b(2) & 0x3F);
  return ((b(0) & 0x07) << 18) | ((b(1) & 0x3F) << 12) | ((b(2) & 0x3F) << 6) | (b(3) & 0x3F);
}

// Characters that change how the text around them is ordered or broken without showing
// themselves: bidi marks, embeddings, overrides and isolates, zero-width characters,
// line and paragraph separators, the byte-order mark.
bool is_invisible_control(uint32_t cp) {
  return cp == 0x061C || cp == 0x180E || (cp >= 0x200B && cp <= 0x200F) || (cp >= 0x2028 && cp <= 0x202E) ||
         (cp >= 0x2060 && cp <= 0x2069) || cp == 0xFEFF;
}

}  // namespace

std::string display_text(std::string_view raw) {
  std::string out;
  out.reserve(raw.size());
  for (size_t i = 0; i < raw.size();) {
    size_t n = utf8_sequence(raw, i);
    uint32_t cp = n == 0 ? 0 : code_point(raw, i, n);
    char escaped[16];
    if (n == 0 || cp < 0x20 || cp == 0x7F) {
      std::snprintf(escaped, sizeof escaped, "\\x%02x", static_cast<unsigned char>(raw[i]));
      out += escaped;
      ++i;
    } else if ((cp >= 0x80 && cp <= 0x9F) || is_invisible_control(cp)) {
      std::snprintf(escaped, sizeof escaped, "\\u{%04X}", static_cast<unsigned>(cp));
      out += escaped;
      i += n;
    } else {
      out.append(raw.data() + i, n);
      i += n;
    }
  }
  return out;
}

std::string truncate_utf8(const std::string& text, size_t max_bytes) {
  if (text.size() <= max_bytes) return text;
  size_t end = 0;
  for (size_t i = 0; i < text.size();) {
    size_t n = utf8_sequence(text, i);
    if (n == 0) n = 1;  // a stray byte counts as one character
    if (i + n > max_bytes) break;
    i += n;
    end = i;
  }
  return text.substr(0, end) + "...";
}

}  // namespace modelcast
