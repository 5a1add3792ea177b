// Strings from manifests (labels, tensor names, metadata) shown to people: in a terminal,
// a CI log, a pull request comment or the catalog page. A publisher's config is not
// trusted to be harmless: an escape sequence in a label would retitle or clear the
// reviewer's terminal, and a bidirectional override would make text read differently from
// the bytes a reviewer approves. So every such string goes through display_text first.
#pragma once

#include <string>
#include <string_view>

namespace modelcast {

// `raw` with every control character (C0, DEL, C1) and invalid UTF-8 byte shown as
// "\xNN", and every bidirectional control, zero-width or line/paragraph separator
// character shown as "\u{XXXX}". Printable UTF-8 passes unchanged.
std::string display_text(std::string_view raw);

// At most `max_bytes` bytes of `text`, cut before a character boundary (never inside a
// UTF-8 sequence), with "..." appended when something was cut.
std::string truncate_utf8(const std::string& text, size_t max_bytes);

}  // namespace modelcast
