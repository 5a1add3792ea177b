// Hex and base64 (RFC 4648, with padding) for digests, key ids and signatures.
// Decoders are strict: they reject any character or length a conforming encoder
// would not produce, so one value has exactly one spelling in a signed manifest.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace modelcast {

std::string hex_encode(const uint8_t* data, size_t size);
inline std::string hex_encode(std::string_view bytes) {
  return hex_encode(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
}
// Lowercase hex only.
std::optional<std::string> hex_decode(std::string_view hex);
bool is_lower_hex(std::string_view s, size_t length);

std::string base64_encode(std::string_view bytes);
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace modelcast
