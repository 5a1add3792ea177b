// `modelcast rollout`: the stream's current content as the next version, offered to a
// percentage of devices (`--halt`: 0 %, no new device). Raising the percentage only adds
// devices, because a device's bucket depends on its id and the model alone
// (FORMAT.md, "Requirements and rollout on the device").
#pragma once

#include "next_version.h"

namespace modelcast {

struct RolloutOptions {
  SigningOptions signing;
  StreamName stream;  // channel empty: the tree's default
  int percent = -1;   // 0..100; 0 is a halt
};

Status check_rollout_options(const RolloutOptions& options);
// "--rollout"/"--percent" must be an integer 0..100; `flag` names it in the error.
Status check_rollout_percent(int percent, const std::string& flag);

// The `rollout` member offering a version to `percent` of devices with `fallback`:
// absent at 100 (every device; a format 1 reader needs nothing else to understand it).
std::optional<RolloutV2> rollout_member(int percent, const std::optional<RolloutFallback>& fallback);

// The release a device outside a new partial rollout gets instead: the stream's current
// version when every device was offered it (no rollout member), else the fallback the
// current version already names (an earlier partial rollout never replaces it). Named by
// the SHA-256 of its format 2 document as stored, so the new document vouches for it.
// None when the stream has no format 2 document yet.
Result<std::optional<RolloutFallback>> fallback_release(const Tree& tree, const StreamName& stream);

Result<NextVersionResult> rollout(const RolloutOptions& options);

}  // namespace modelcast
