// `modelcast publish`: a new signed version of one (model, channel, platform), or nothing
// when the files, config and requirements equal the current version's.
//
// Order of writes is what makes a crash at any point harmless: blobs (fsynced) first, then
// the immutable versioned manifest, then the current manifest, then the catalog, then one
// git commit. A crash leaves at worst orphaned blobs and uncommitted files that the next
// publish, refresh or gc commits first (see locked_tree.h, which also holds the lock that
// serialises them).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "modelcast/file_system.h"
#include "modelcast/manifest.h"
#include "modelcast/status.h"
#include "source_files.h"

namespace modelcast {

struct PublishOptions {
  std::string tree;
  std::string model;
  std::string platform;
  std::string channel;  // empty: the tree's default ("stable")
  std::string config_path;
  std::vector<std::string> key_paths;  // every key signs (a device may require a threshold)
  // A --key the tree does not trust yet is refused (devices pin the tree's keys) unless
  // this is set; it is then trusted. A tree that trusts no key yet trusts its first signers.
  bool trust_new_key = false;
  std::optional<int> rollout_percent;  // offer the new version to this share of devices
  int expires_in_days = 0;  // 0: the tree's default (30)
  // Unchanged content is re-signed as a new version when the current manifest expires
  // within this many days, so a scheduled CI job keeps devices from freezing. 0: never.
  int refresh_within_days = 0;
  std::string min_app_version;
  // requires.min_os_version of the format 2 document: the oldest OS version of --platform
  // that runs the model (the format 1 document then requires kFormat2Feature).
  std::string min_os_version;
  std::string runtime;
  std::optional<std::vector<std::string>> features;  // requires.features; default: config.features
  // "FILE" (published under its base name), "PATH=FILE" (published as PATH), "DIR" (every
  // regular file under it, at <DIR's name>/...) or "PATH=DIR" (source_files.h).
  std::vector<std::string> files;
  std::string path_prefix;  // folder inside the model for every FILE or DIR given without PATH=
  // Deltas from the contents of the previous N versions, and xform blobs, in the format 2
  // document (issue 13); 0 builds none. At most kMaxDeltasPerFile.
  int deltas = 2;
  bool wait_for_lock = true;
  bool show_progress = true;
  int64_t now = 0;  // unix seconds; 0: the file system's clock
  // Every read and write of the tree (not git's own refs and index) goes through it;
  // null: posix_file_system().
  std::shared_ptr<FileSystem> file_system;
};

struct PublishResult {
  bool unchanged = false;
  bool refreshed = false;         // same content, new version with a later expiry
  uint64_t version = 0;           // the new version, or the current one when unchanged
  uint64_t previous_version = 0;  // 0 for a first publish
  std::string channel;
  std::string manifest_path;      // tree-relative current manifest
  std::string versioned_path;
  std::vector<FileEntry> files;
  std::vector<std::string> blobs_created;  // tree-relative
  std::string key_id;                 // the first --key
  std::vector<std::string> key_ids;   // every signer
  std::string commit;   // empty when unchanged
  std::string message;  // the commit message's first line
};

// Usage checks: names, paths, versions, day counts, and the FILE arguments, whose folders
// are listed (nothing is read). Errors are kInvalidArgument (exit code 2). Fills
// `resolved` with the files to publish.
Status check_publish_options(const PublishOptions& options, std::vector<SourceFile>* resolved);

Result<PublishResult> publish(const PublishOptions& options);

}  // namespace modelcast
