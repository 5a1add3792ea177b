// `modelcast promote`: the newest version of one channel (e.g. beta) becomes the next
// version of another (e.g. stable) of the same model and platform, with the same blobs:
// nothing is read from model files and nothing new is stored or committed but manifests.
#pragma once

#include "next_version.h"

namespace modelcast {

struct PromoteOptions {
  SigningOptions signing;
  std::string model;
  std::string platform;
  // "CHANNEL" or "CHANNEL/PLATFORM"; a platform other than --platform is refused, since a
  // model built for one platform must not be offered to another.
  std::string from;
  std::string to;
  int rollout_percent = 100;
};

Status check_promote_options(const PromoteOptions& options);

Result<NextVersionResult> promote(const PromoteOptions& options);

}  // namespace modelcast
