// The one check of a stored blob against what a manifest declares, shared by the
// publisher's `verify` and the fetcher's `open --verify`: the file is a regular file (a
// symlink, FIFO or folder is refused without reading it), has `stored_size` bytes, and
// decodes (per `encoding`) to exactly `size` bytes whose SHA-256 is `sha256`. zstd frames
// are decoded with the window capped at kMaxZstdWindowLog. Streams with fixed buffers, so
// memory does not grow with the blob. Thread-compatible.
#pragma once

#include <cstdint>
#include <string>

#include "modelcast/file_system.h"
#include "modelcast/status.h"

namespace modelcast {

struct BlobCheck {
  std::string encoding = "identity";  // "identity", "zstd" or "xform" (a blob: no base)
  std::string sha256;
  uint64_t size = 0;         // of the content
  uint64_t stored_size = 0;  // of the file as stored
  bool hash = true;          // false: only the type and size are checked (cheap)
};

// OK, or kNotFound ("path: missing"), kInvalidArgument (not a regular file),
// kHashMismatch or kCorruption, each message starting with `path`.
Status check_blob(FileSystem& fs, const std::string& path, const BlobCheck& expected);

}  // namespace modelcast
