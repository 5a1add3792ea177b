// Applying a downloaded delta to content the device already holds (FORMAT.md, "Deltas
// (format 2)"): the delta's own bytes are checked first (length and SHA-256), then it is
// decoded against the old file streaming, and the result is checked against the file
// entry's size and SHA-256 before anyone may call it the content.
//
// Memory does not grow with the model: an `xform` delta is decoded in 1 MiB blocks with
// the old file read by pread; a `zstd-patch` delta is decoded into a map of the output
// against a map of the old file (page cache, dropped from the resident set as it goes).
// The old file is never read into memory. Private to the library; thread-compatible.
#pragma once

#include <cstdint>
#include <string>

#include "modelcast/file_system.h"
#include "modelcast/status.h"

namespace modelcast {

struct DeltaToApply {
  std::string encoding;    // "zstd-patch" or "xform"
  std::string delta_path;  // the delta's bytes as downloaded
  uint64_t delta_stored_size = 0;
  std::string delta_sha256;  // of the delta's bytes; empty (a format 1 delta) skips the check
  std::string base_path;     // content the device verified to have the delta's from_sha256
  uint64_t size = 0;         // of the content the delta makes
  std::string sha256;        // of the content the delta makes
};

// Writes the content to out_path, verified and synced. On any error out_path does not
// exist afterwards, and the Status is one line naming the delta: kNotFound (delta or base
// missing), kHashMismatch (delta bytes, a declared or produced size other than `size` — a
// delta bomb stops there — or a result with another SHA-256), kCorruption (bytes that do
// not decode, e.g. an xform width other than 1, 2 or 4), kUnsupportedFeature (an encoding
// this reader does not know), kIOError.
Status apply_delta(FileSystem& fs, const DeltaToApply& delta, const std::string& out_path);

}  // namespace modelcast
