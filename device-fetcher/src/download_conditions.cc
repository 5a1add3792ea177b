#include "download_conditions.h"

namespace modelcast {

std::string deferral_message(const DownloadConditions& conditions, bool network_metered, uint64_t bytes_needed) {
  if (bytes_needed == 0) return "";  // everything is in the cache already: nothing to move
  if (network_metered && !conditions.allow_metered)
    return "needs " + std::to_string(bytes_needed) + " bytes and the app allows no download on a metered network";
  if (conditions.max_update_bytes > 0 && bytes_needed > conditions.max_update_bytes)
    return "needs " + std::to_string(bytes_needed) + " bytes, more than the app's limit of " +
           std::to_string(conditions.max_update_bytes) + " bytes per update";
  return "";
}

}  // namespace modelcast
