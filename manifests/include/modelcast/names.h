// The naming rules of the tree: model, channel, platform and feature names, file paths
// inside a model, blob URLs, timestamps and app versions.
//
// Every name that becomes part of a path on the publisher or on a device passes through
// here first, so traversal ("..", "/", NUL, control characters) is refused in one place.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "modelcast/status.h"

namespace modelcast {

constexpr size_t kMaxNameLength = 64;
constexpr size_t kMaxFilePathLength = 255;
constexpr size_t kMaxFilePathDepth = 8;

// [A-Za-z0-9][A-Za-z0-9._-]{0,63}; `field` names the value in the error.
Status check_name(std::string_view value, const std::string& field);
// Relative path of at most kMaxFilePathDepth '/'-separated segments and kMaxFilePathLength
// bytes; each segment uses the name characters [A-Za-z0-9._-] (any first character, any
// length) and is never "", "." or "..".
Status check_file_path(std::string_view path, const std::string& field);

// "blobs/sha256/<2 hex>/<64 hex>" plus ".zst" for zstd-encoded blobs.
std::string blob_url(const std::string& sha256_hex, bool zstd);

// Strict RFC 3339 UTC with seconds: "2026-11-26T06:00:00Z".
Result<int64_t> parse_timestamp(std::string_view text, const std::string& field);
std::string format_timestamp(int64_t unix_seconds);

// App versions are 1 to 4 dot-separated integers ("2", "2.10.1").
Status check_app_version(std::string_view version, const std::string& field);
// <0, 0, >0 like strcmp; both must pass check_app_version.
int compare_app_versions(std::string_view a, std::string_view b);

}  // namespace modelcast
