#include "modelcast/command_names.h"

#include <algorithm>
#include <numeric>

#include "modelcast/utf8.h"

namespace modelcast {
namespace {

// Levenshtein distance, one row at a time: command names are short.
size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  std::iota(row.begin(), row.end(), size_t{0});
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

}  // namespace

bool is_unknown_command(std::string_view word, const std::vector<std::string>& commands) {
  if (word.empty() || word[0] == '-') return false;
  return std::find(commands.begin(), commands.end(), word) == commands.end();
}

std::string unknown_command_message(std::string_view word, const std::vector<std::string>& commands) {
  std::string message = "unknown command '" + printable_text(word) + "'";
  const std::string* closest = nullptr;
  size_t best = 3;  // suggest only within two edits
  for (const auto& c : commands) {
    size_t d = edit_distance(word, c);
    if (d < best) best = d, closest = &c;
  }
  if (closest) message += " (did you mean '" + *closest + "'?)";
  std::string list;
  for (const auto& c : commands) list += (list.empty() ? "" : ", ") + c;
  return message + "; the commands are " + list;
}

}  // namespace modelcast
