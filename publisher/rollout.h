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

Result<NextVersionResult> rollout(const RolloutOptions& options);

}  // namespace modelcast
