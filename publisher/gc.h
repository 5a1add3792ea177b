// `modelcast gc`: removes from a tree what no device can still need, against a host's
// site size limit. Kept: for each stream, the current manifest, its newest N versions and
// every version published within the grace period (a device may still hold a cached
// manifest naming them), plus everything those manifests name: blobs, parts, deltas, and
// a rollout's fallback version. Everything else under blobs/, parts/, deltas/ and the
// versioned manifests is removed, in one commit. A manifest that cannot be read is kept.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "modelcast/status.h"

namespace modelcast {

constexpr int kDefaultGcKeep = 3;
constexpr int kDefaultGcGraceDays = 7;

struct GcOptions {
  std::string tree;
  int keep = kDefaultGcKeep;  // newest versions kept per stream, at least 1
  int grace_days = kDefaultGcGraceDays;
  bool dry_run = false;  // report only: no lock, nothing written
  bool wait_for_lock = true;
  int64_t now = 0;  // unix seconds; 0: the current time
};

struct GcResult {
  std::vector<std::string> removed;  // tree-relative, sorted
  size_t manifests_removed = 0;
  size_t files_removed = 0;  // blobs, parts and deltas
  uint64_t bytes_freed = 0;
  size_t manifests_kept = 0;
  std::vector<std::string> warnings;  // manifests kept because they could not be read
  std::string commit;                 // empty for a dry run or when nothing was removed
};

Status check_gc_options(const GcOptions& options);
Result<GcResult> gc(const GcOptions& options);

}  // namespace modelcast
