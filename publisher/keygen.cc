#include "keygen.h"

#include <unistd.h>

#include "modelcast/fs.h"
#include "modelcast/signing.h"

namespace modelcast {

Result<KeygenResult> generate_key_files(const std::string& private_path) {
  KeygenResult r;
  r.private_path = private_path;
  r.public_path = private_path + ".pub";
  // Check both before writing either, so a refusal leaves nothing behind.
  for (const auto& p : {r.private_path, r.public_path})
    if (path_exists(p)) return error(StatusCode::kExists, p + ": already exists; refusing to overwrite");
  MC_ASSIGN_OR_RETURN(PrivateKey key, PrivateKey::generate());
  r.key_id = key.public_key().key_id();
  // umask could widen nothing here: 0600 is the most a umask leaves of 0600.
  MC_RETURN_IF_ERROR(write_new_file(r.private_path, key.to_pem(), 0600));
  Status s = write_new_file(r.public_path, key.public_key().to_pem(), 0644);
  if (!s.ok()) {
    ::unlink(r.private_path.c_str());
    return s;
  }
  return r;
}

}  // namespace modelcast
