// Listing and removing the models in a device cache (what an app's settings screen
// offers: "downloaded models, 12 MB, remove"). Offline; no keys needed.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "modelcast/status.h"

namespace modelcast {

struct CachedModel {
  std::string model;
  uint64_t active_version = 0;    // 0 when none is usable
  std::vector<uint64_t> versions;  // complete kept version folders, ascending
  uint64_t bytes = 0;             // content of its kept versions (a file shared by versions counts once)
};

// Every model folder in the cache, by name. A cache folder that does not exist yet is empty.
Result<std::vector<CachedModel>> list_cached_models(const std::string& cache_dir);

// Under the cache's lock: removes the model's folder (versions, state, rollback floor),
// then the blobs no other model links to. kNotFound when the model has no folder;
// kBusy when wait_for_lock is false and an update runs. Files already open stay readable.
Status remove_cached_model(const std::string& cache_dir, const std::string& model, bool wait_for_lock = true);

}  // namespace modelcast
