#include "modelcast/rollout.h"

#include "modelcast/sha256.h"

namespace modelcast {

int rollout_bucket(const std::string& device_id, const std::string& model) {
  Sha256 h;
  h.update("modelcast-rollout\n" + model + "\n" + device_id);
  Digest d = h.finish();
  uint64_t x = 0;
  for (int i = 0; i < 8; ++i) x = (x << 8) | d[static_cast<size_t>(i)];
  return static_cast<int>(x % 100);
}

bool rollout_admits(const std::string& device_id, const std::string& model, int percent) {
  if (percent >= 100) return true;
  if (device_id.empty()) return false;
  return rollout_bucket(device_id, model) < percent;
}

}  // namespace modelcast
