// `modelcast verify`: everything a device will check, checked over the whole tree before
// it is pushed: every manifest parses and is signed by a trusted key, versions only grow,
// the current manifest is the newest version, and every blob decodes to its size and hash.
//
// Problems are collected, not returned at the first one, so one run lists everything to
// fix. Orphaned blobs (left by an interrupted publish, or awaiting gc) are reported but
// are not problems: blobs are written before manifests by design.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "modelcast/file_system.h"
#include "modelcast/status.h"

namespace modelcast {

struct VerifyOptions {
  std::string tree;
  std::string pubkey_path;  // pin this key instead of the tree's keys/ + trusted ids
  int64_t now = 0;          // for expiry warnings; 0: the file system's clock
  std::shared_ptr<FileSystem> file_system;  // null: posix_file_system()
};

struct VerifyReport {
  std::vector<std::string> problems;  // one line each, naming the file
  std::vector<std::string> warnings;  // e.g. a current manifest past its expiry
  std::vector<std::string> orphans;   // tree-relative blob paths no manifest names
  size_t manifests = 0;
  size_t blobs = 0;
  uint64_t blob_bytes = 0;
  bool ok() const { return problems.empty(); }
};

// Fails only when the tree cannot be read at all; everything else lands in the report.
Result<VerifyReport> verify_tree(const VerifyOptions& options);

}  // namespace modelcast
