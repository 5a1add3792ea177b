// The layout of a published tree and its settings file, modelcast.json.
//
// Every path the publisher writes is computed here from names already checked by names.h,
// so the rest of the publisher never concatenates user input into a path. Tree settings are
// plain values; reading and writing them is not synchronised (callers hold the tree lock).
#pragma once

#include <string>
#include <vector>

#include "modelcast/canonical_json.h"
#include "modelcast/file_system.h"
#include "modelcast/manifest_v2.h"
#include "modelcast/signing.h"
#include "modelcast/status.h"

namespace modelcast {

constexpr const char* kTreeSchema = "modelcast/tree/1";
constexpr const char* kSettingsFile = "modelcast.json";
constexpr int kDefaultExpiresInDays = 30;

// Static hosts refuse files above a size; a stored blob above the tree's limit is kept
// only as parts (FORMAT.md "Format 2"). 0: no limit.
constexpr uint64_t kGithubPagesMaxFileBytes = 100ull * 1000 * 1000;  // GitHub refuses files over 100 MB
constexpr uint64_t kCloudflarePagesMaxFileBytes = 25ull << 20;     // Cloudflare Pages: 25 MiB per file

// The largest file `host` ("github-pages", "cloudflare-pages", "none") accepts; kInvalidArgument otherwise.
Result<uint64_t> host_max_file_bytes(const std::string& host);

// Settings a tree carries for every publisher that works on it.
struct TreeSettings {
  std::string base_url;                   // where the tree is served; informational for the catalog
  std::vector<std::string> trusted_keys;  // key ids whose keys/<id>.pub may sign manifests
  std::string default_channel = "stable";
  int expires_in_days = kDefaultExpiresInDays;
  std::string host;             // empty: not stated (trees made before hosts were known)
  uint64_t max_file_bytes = 0;  // 0: no limit
};

Result<TreeSettings> settings_from_json(const Json& value, const std::string& where);
Json settings_to_json(const TreeSettings& settings);

// Paths relative to the tree root, '/'-separated (also the paths of the git commit).
struct TreeLayout {
  static std::string current_manifest(const std::string& model, const std::string& channel, const std::string& platform);
  static std::string version_dir(const std::string& model, const std::string& channel, const std::string& platform);
  static std::string versioned_manifest(const std::string& model, const std::string& channel, const std::string& platform,
                                        uint64_t version);
  static std::string key_file(const std::string& key_id);
  // Format 2 documents: the same paths under v2/ (FORMAT.md "Format 2").
  static std::string current_manifest_v2(const std::string& model, const std::string& channel, const std::string& platform);
  static std::string version_dir_v2(const std::string& model, const std::string& channel, const std::string& platform);
  static std::string versioned_manifest_v2(const std::string& model, const std::string& channel, const std::string& platform,
                                           uint64_t version);
};

// A tree on disk: its root folder and its settings.
class Tree {
 public:
  // Fails with kNotFound when `root` has no modelcast.json (not a tree, or not initialised).
  // Every later read and write of the tree goes through `fs`, which must outlive the Tree.
  static Result<Tree> open(const std::string& root, FileSystem& fs = *posix_file_system());

  const std::string& root() const { return root_; }
  FileSystem& fs() const { return *fs_; }
  const TreeSettings& settings() const { return settings_; }
  TreeSettings& mutable_settings() { return settings_; }
  // Absolute (or root-relative) path on disk of a tree-relative path.
  std::string path(const std::string& relative) const { return root_ + "/" + relative; }

  Status save_settings() const;

 private:
  std::string root_;
  FileSystem* fs_ = nullptr;
  TreeSettings settings_;
};

// Writes a signed version of a stream: the immutable versioned manifest (never replacing
// one) and then the current manifest devices read (atomically);
// `model`/`channel`/`platform`/`version` are those `signed_text` states.
// `root` is "" for format 1 documents, "v2/" for format 2 ones (same layout below it).
Status write_manifest_version(const Tree& tree, const std::string& model, const std::string& channel,
                              const std::string& platform, uint64_t version, const std::string& signed_text,
                              const std::string& root = "");

// Tree-relative paths of every stored file a format 2 manifest names: blobs, parts, deltas.
std::vector<std::string> stored_paths(const ManifestV2& m);

// The public keys of keys/<id>.pub for every id the settings trust. A key that is missing,
// unreadable or not the id it is filed under is left out and named in `problems`.
std::vector<PublicKey> load_trusted_keys(const Tree& tree, std::vector<std::string>* problems);

// The manifests of one (model, channel, platform) found on disk.
struct StreamFiles {
  std::string model, channel, platform;
  bool has_current = false;        // manifests/<m>/<c>/<p>.json exists
  std::vector<uint64_t> versions;  // from manifests/<m>/<c>/<p>/<v>.json, ascending
};

// Every stream under TREE/manifests, sorted by (model, channel, platform). Paths that do
// not fit the layout (bad names, non-numeric versions, stray files) go to `stray`.
Result<std::vector<StreamFiles>> list_streams(const std::string& root, std::vector<std::string>* stray,
                                              FileSystem& fs = *posix_file_system());

// The highest version of a stream among its versioned documents of both formats (0: none).
// A command interrupted between the two formats' files leaves a version in format 2 only;
// the next version must be above it.
Result<uint64_t> highest_versioned(const Tree& tree, const std::string& model, const std::string& channel,
                                   const std::string& platform);

// Tree-relative paths of every entry under TREE/blobs/sha256 (files, and anything else
// that is not a two-letter folder), sorted.
Result<std::vector<std::string>> list_blob_files(const std::string& root, FileSystem& fs = *posix_file_system());

// .gitattributes of a tree: git must never rewrite a byte of what devices download. A
// checkout with core.autocrlf=true (Git for Windows' default) would otherwise turn LF into
// CRLF in any blob git takes for text, and the deployed tree would serve corrupted files.
// Blobs, parts and deltas are binary (no conversion, no textual diff or merge); manifests
// and the catalog stay diffable but are never converted either.
constexpr const char* kGitAttributesFile = ".gitattributes";
std::string git_attributes_file();
// True when `text` (a .gitattributes) keeps every file of the tree unconverted.
bool git_attributes_protect_tree(const std::string& text);

// The _headers file static hosts (Netlify, Cloudflare Pages) read: blob URLs never change
// content, so they are cached for a year; manifests and the catalog change on every publish.
std::string cache_headers_file();

}  // namespace modelcast
