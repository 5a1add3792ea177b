// `modelcast keygen`: an Ed25519 key pair for signing manifests.
#pragma once

#include <string>

#include "modelcast/status.h"

namespace modelcast {

struct KeygenResult {
  std::string key_id;
  std::string private_path;
  std::string public_path;  // private_path + ".pub"
};

// Writes the private key (PEM, mode 0600) and KEY.pub. Never overwrites either file
// (kExists), so a lost signing key cannot be replaced by accident.
Result<KeygenResult> generate_key_files(const std::string& private_path);

}  // namespace modelcast
