// What one update downloads, read from either format of the manifest (FORMAT.md "Format 2").
//
// The fetcher asks for the format 2 document first and, on HTTP 404 (a tree written by an
// older publisher), for the format 1 one; it never mixes the two in one update. Either
// becomes a FetchPlan: the manifest as the rest of the update uses it (one stored form per
// file: url, encoding, stored_size) plus the parts of files stored in parts.
//
// The blob choice lives here and only here: a file is fetched through the first blob
// whose encoding this fetcher decodes (identity, zstd, xform); unknown encodings are
// skipped. Ways that need content the device already has (deltas) are kept beside it and
// tried first (delta_fetch.h). Private to the library.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "modelcast/manifest_v2.h"
#include "modelcast/signed_manifest.h"
#include "modelcast/signed_manifest_v2.h"

namespace modelcast {

// True for the blob encodings this fetcher decodes: "identity", "zstd", "xform".
bool fetcher_decodes_blob(const std::string& encoding);
// The first blob of `file` this fetcher decodes; nullptr when there is none.
const BlobV2* choose_blob(const FileEntryV2& file);

struct FetchPlan {
  int format = 1;  // which document it was read from
  // The manifest as the update uses it: each file's url/encoding/stored_size are those of
  // the chosen blob (url empty when the blob is stored as parts).
  SignedManifest view;
  // Parts of each file (by content SHA-256) whose chosen blob is stored as parts.
  std::map<std::string, std::vector<BlobPart>> parts;
  // Deltas of each file (by content SHA-256) that lists some (format 2 only); tried before
  // the chosen blob when the cache holds a base (delta_fetch.h).
  std::map<std::string, std::vector<DeltaV2>> deltas;
  // Set when some file has no blob this fetcher decodes: the version is unsupported.
  std::string unsupported;
  // Format 2 only: the release a device outside this version's rollout installs instead.
  std::optional<RolloutFallback> rollout_fallback;
};

FetchPlan plan_from_v1(SignedManifest sm);
FetchPlan plan_from_v2(const SignedManifestV2& sm);

// A manifest kept in the cache (either format, as verified when installed) as the format
// 1 values open() reports: files, config, requirements.
Result<SignedManifest> parse_cached_manifest(std::string_view bytes);

}  // namespace modelcast
