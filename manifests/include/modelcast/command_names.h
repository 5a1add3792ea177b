// Naming a command-line word that is not a command, for both CLIs: `modelcast publsh`
// says "unknown command 'publsh' (did you mean 'publish'?)" instead of a generic parse
// error, the way git and lg2 name what they did not understand.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace modelcast {

// The one-line message for `word`, suggesting the closest of `commands` when it is at
// most two edits away. `word` is shown through printable_text (it comes from argv).
std::string unknown_command_message(std::string_view word, const std::vector<std::string>& commands);

// True when `word` could be meant as a command: not an option and not one of `commands`.
bool is_unknown_command(std::string_view word, const std::vector<std::string>& commands);

}  // namespace modelcast
