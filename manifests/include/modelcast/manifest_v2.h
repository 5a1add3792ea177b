// Format 2 of the signed manifest (`modelcast/manifest/2`, manifests/FORMAT.md "Format 2")
// as C++ values, its JSON mapping, and the mapping to and from format 1.
//
// Format 2 keeps every format 1 rule except `files` and `rollout`: a file lists the ways
// to get its content (`blobs`: a URL or content-addressed parts) and the ways to build it
// from content a device holds (`deltas`). Entries whose `encoding` this reader does not
// know are skipped, not refused, so later encodings do not break today's devices.
// manifest_v2_from_json is the validator; it names the offending field in every error.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "modelcast/manifest.h"

namespace modelcast {

constexpr const char* kManifestSchemaV2 = "modelcast/manifest/2";
// Declared by every fetcher that reads format 2; a format 1 document requires it when a
// file exists only as parts (an older fetcher then refuses the version cleanly).
constexpr const char* kFormat2Feature = "modelcast-format-2";
constexpr size_t kMaxBlobsPerFile = 4;
constexpr size_t kMaxDeltasPerFile = 16;
constexpr size_t kMinParts = 2;
constexpr size_t kMaxParts = 10000;

// Blob encodings: "identity", "zstd", "xform". Delta encodings: "zstd-patch", "xform".
bool is_known_blob_encoding(const std::string& encoding);
bool is_known_delta_encoding(const std::string& encoding);

// Derived URLs (relative to the tree's base URL).
// blobs/sha256/<h2>/<sha256> + "" (identity) | ".zst" (zstd) | ".xf" (xform)
std::string blob_url_for(const std::string& sha256_hex, const std::string& encoding);
// parts/sha256/<h2 of part>/<part sha256>
std::string part_url(const std::string& part_sha256_hex);
// deltas/sha256/<h2 of target>/<from>-<target> + ".zstpatch" (zstd-patch) | ".xfd" (xform)
std::string delta_url(const std::string& from_sha256_hex, const std::string& target_sha256_hex, const std::string& encoding);
// v2/manifests/<m>/<c>/<p>/<version>.json: where a rollout fallback document lives.
std::string v2_version_manifest_url(const std::string& model, const std::string& channel, const std::string& platform,
                                    uint64_t version);

struct BlobPart {
  std::string sha256;  // of the part's bytes
  uint64_t size = 0;
  std::string url;
};

struct BlobV2 {
  std::string encoding;  // a known blob encoding
  uint64_t stored_size = 0;
  std::string url;              // set when the blob is one file
  std::vector<BlobPart> parts;  // set instead when it is stored in parts (2 to 10,000)
};

struct DeltaV2 {
  std::string from_sha256;  // content the device must hold
  std::string encoding;     // a known delta encoding
  uint64_t stored_size = 0;
  std::string sha256;  // of the delta's bytes as stored; empty only when read from format 1
  std::string url;
};

struct FileEntryV2 {
  std::string path;
  std::string sha256;
  uint64_t size = 0;
  // Known encodings only, in document order; empty when every blob has an unknown encoding
  // (the version is then unsupported on this reader: see FORMAT.md).
  std::vector<BlobV2> blobs;
  std::vector<DeltaV2> deltas;  // known encodings only
};

struct RolloutFallback {
  uint64_t version = 0;  // below the document's version
  std::string sha256;    // of v2/manifests/<m>/<c>/<p>/<version>.json as stored
};

struct RolloutV2 {
  int percent = 100;
  std::optional<RolloutFallback> fallback;
};

struct ManifestV2 {
  std::string schema = kManifestSchemaV2;
  std::string model;
  std::string channel = "stable";
  std::string platform;
  uint64_t version = 0;
  std::string published_at;
  std::string expires_at;
  std::vector<FileEntryV2> files;
  ModelConfig config;
  Requirements requirements;  // "requires" in JSON
  std::optional<RolloutV2> rollout;
  // The key-set statement (keys/keyset/<n>.json) the publisher signed under; absent in a
  // tree without statements. A device holding an older set must follow the chain to it.
  std::optional<uint64_t> keyset_version;
};

Result<ManifestV2> manifest_v2_from_json(const Json& signed_part);
Json manifest_v2_to_json(const ManifestV2& manifest);

// A format 1 manifest as format 2 values (one blob per file; format 1 deltas become
// "zstd-patch" deltas without a sha256): what a fetcher does with a tree written by an
// older publisher.
ManifestV2 manifest_v2_from_v1(const Manifest& v1);

// The format 1 document describing the same version, for fetchers of format 1: each file
// keeps its first "identity" or "zstd" blob; deltas and "xform" blobs are left out; a file
// whose blob exists only as parts gets its derived URL and makes the document require
// kFormat2Feature; a rollout keeps its percent. kInvalidArgument when a file has no
// identity or zstd blob.
Result<Manifest> manifest_v1_from_v2(const ManifestV2& v2);

}  // namespace modelcast
