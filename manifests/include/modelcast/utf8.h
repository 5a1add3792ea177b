// UTF-8 as RFC 3629 defines it (no overlong forms, no surrogates, nothing above
// U+10FFFF), and making untrusted bytes safe to store, print or put in JSON.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace modelcast {

// Length of the valid UTF-8 sequence starting at s[i] (1 to 4), or 0 when none does.
size_t utf8_sequence(std::string_view s, size_t i);
bool is_valid_utf8(std::string_view s);

// One line of text from bytes a server or a file supplied: valid UTF-8 passes through;
// control characters and bytes that are not valid UTF-8 become "\xNN". Never throws when
// dumped as JSON.
std::string printable_text(std::string_view raw);

// True when every byte is printable ASCII (0x20..0x7E), as an HTTP ETag must be.
bool is_printable_ascii(std::string_view s);

}  // namespace modelcast
