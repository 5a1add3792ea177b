// The table of readers a device can afford, and the helpers every sniff and dispatch
// shares. Order matters only where two rows could both say yes: content before names.

#include <algorithm>
#include <cctype>
#include <memory>

#include "modelcast/file_system.h"
#include "modelcast/model_readers.h"

namespace modelcast {

extern const ModelReader kTfliteReader;
extern const ModelReader kGraphdefReader;
extern const ModelReader kSavedmodelReader;
extern const ModelReader kMlmodelReader;
extern const ModelReader kMlpackageReader;

const ModelReaders& device_model_readers() {
  static const ModelReaders kReaders = {
      &kTfliteReader,
      &kGraphdefReader,
      &kSavedmodelReader,
      &kMlmodelReader,
      &kMlpackageReader,
  };
  return kReaders;
}

const ModelReader* claiming_reader(const ModelReaders& readers, const SniffInput& in) {
  for (const ModelReader* r : readers)
    if (r->sniff(in) == Sniff::kYes) return r;
  return nullptr;
}

Result<std::string> read_model_head(const std::string& path) {
  MC_ASSIGN_OR_RETURN(std::unique_ptr<ReadableFile> file, posix_file_system()->open_readable(path));
  std::string head(kModelHeadBytes, '\0');
  size_t got = 0;
  while (got < head.size()) {
    MC_ASSIGN_OR_RETURN(size_t r, file->read(&head[got], head.size() - got));
    if (r == 0) break;
    got += r;
  }
  head.resize(got);
  return head;
}

std::string model_extension(std::string_view name) {
  size_t slash = name.find_last_of('/');
  size_t dot = name.find_last_of('.');
  if (dot == std::string_view::npos || (slash != std::string_view::npos && dot < slash)) return std::string();
  std::string ext(name.substr(dot + 1));
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext;
}

}  // namespace modelcast
