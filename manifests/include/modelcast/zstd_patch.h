// The `zstd-patch` delta encoding (FORMAT.md, "Encodings"): one zstd frame compressed with
// the base content as reference prefix, so the parts of the new file that the old one
// already holds cost a few bytes each (what `zstd --patch-from` makes).
//
// Both directions memory-map their files instead of reading them in: the base is the
// prefix, and the device decodes straight into a map of the output file, so zstd needs no
// window buffer of its own and the heap stays small (a few MiB of tables) whatever the
// model size. Mapped pages are page cache; the decoder drops them from its resident set as
// it goes. The encoder is publisher-side (modelcast_xform_encoder); the decoder is in the
// device's format library. Functions are thread-compatible.
#pragma once

#include <cstdint>
#include <string>

#include "modelcast/status.h"

namespace modelcast {

// The largest window a zstd-patch frame may declare (2 GiB): the window must span the base
// and the output, so base + target above 2^31 bytes gets no zstd-patch delta.
constexpr int kZstdPatchMaxWindowLog = 31;

// Writes the patch that turns base_path's content into target_path's to out_path (created
// or truncated; not synced): level 3, long-distance matching, content size and checksum in
// the frame. Returns the bytes written. kInvalidArgument when the two files together need
// a window above 2^kZstdPatchMaxWindowLog.
Result<uint64_t> zstd_patch_encode_file(const std::string& target_path, const std::string& base_path,
                                        const std::string& out_path);

struct ZstdPatchApplied {
  uint64_t size = 0;
  std::string sha256;  // lowercase hex of the output
};

// Decodes the patch at patch_path against base_path into out_path (created or truncated,
// sized to expected_size, synced before returning). Refuses, before writing, a frame that
// declares a content size other than expected_size or a window above 2^31; output beyond
// expected_size is never written (kHashMismatch: a delta bomb). Other refusals: kNotFound
// for a missing base or patch, kCorruption for bytes that do not decode (including a wrong
// content checksum, a truncated frame, bytes after the frame), kHashMismatch for a result
// of another size or, when expected_sha256 is not empty, another SHA-256. On any error
// out_path is removed.
Result<ZstdPatchApplied> zstd_patch_apply_file(const std::string& patch_path, const std::string& base_path,
                                               uint64_t expected_size, const std::string& expected_sha256,
                                               const std::string& out_path);

}  // namespace modelcast
