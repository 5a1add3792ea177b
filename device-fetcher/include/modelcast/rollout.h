// Whether a device takes a staged version (FORMAT.md, "Requirements and rollout on the
// device"). A device's bucket (0..99) depends only on its id and the model, so it is the
// same for every version: raising the percentage only adds devices, and `percent: 0`
// (a halt) admits none.
#pragma once

#include <cstdint>
#include <string>

namespace modelcast {

// Rollout bucket 0..99 of a device for a model.
int rollout_bucket(const std::string& device_id, const std::string& model);

// True when a device with this id takes a version rolled out to `percent` % (absent
// rollout: pass 100). A device without an id joins only at 100 %.
bool rollout_admits(const std::string& device_id, const std::string& model, int percent);

}  // namespace modelcast
