// `modelcast refresh`: re-signs every current manifest that expires within a window as the
// next version with the same content (files, config, requirements, rollout), so devices
// keep updating without the original model files. Devices download only the manifests:
// every file still names the same blob. One commit for all refreshed streams.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "modelcast/status.h"

namespace modelcast {

constexpr int kDefaultRefreshWithinDays = 14;

struct RefreshOptions {
  std::string tree;
  std::vector<std::string> key_paths;  // --key, repeated for a threshold of signatures
  int within_days = kDefaultRefreshWithinDays;
  int expires_in_days = 0;  // 0: the tree's default
  bool wait_for_lock = true;
  int64_t now = 0;  // unix seconds; 0: the current time
};

struct RefreshedStream {
  std::string model, channel, platform;
  uint64_t previous_version = 0;
  uint64_t version = 0;
  std::string previous_expires_at;
  std::string expires_at;
};

struct RefreshResult {
  size_t streams = 0;  // current manifests looked at
  std::vector<RefreshedStream> refreshed;
  std::string key_id;                // the first signer
  std::vector<std::string> key_ids;  // every signer
  std::string commit;   // empty when nothing needed a refresh
  std::string message;  // the commit message's first line
};

// Usage checks (kInvalidArgument): TREE and --key given, day counts in range.
Status check_refresh_options(const RefreshOptions& options);

// Signers devices would refuse are refused (kSignature) before anything is written: a key
// the tree does not trust, a revoked key, or fewer keys than the key set's threshold.
Result<RefreshResult> refresh(const RefreshOptions& options);

}  // namespace modelcast
