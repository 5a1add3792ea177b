// `modelcast rollback`: version N's content republished as the next version. Devices move
// "back" by moving forward, so rollback protection (never accept a lower version) holds,
// and a device whose cache still holds N's blobs downloads only the manifest.
#pragma once

#include "next_version.h"

namespace modelcast {

struct RollbackOptions {
  SigningOptions signing;
  StreamName stream;  // channel empty: the tree's default
  uint64_t to_version = 0;
};

Status check_rollback_options(const RollbackOptions& options);

// Refuses (tree unchanged) a version that does not exist, one that is the current
// version, and one whose blobs are no longer in the tree (garbage-collected).
Result<NextVersionResult> rollback(const RollbackOptions& options);

}  // namespace modelcast
