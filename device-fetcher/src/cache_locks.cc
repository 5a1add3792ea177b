#include "cache_locks.h"

#include <chrono>
#include <thread>

#include "disk_budget.h"

namespace modelcast {

Result<UpdateLocks> lock_for_update(FileSystem& fs, const ModelPaths& paths, bool wait, bool cache_exclusive) {
  UpdateLocks held;
  held.cache_exclusive = cache_exclusive;
  MC_ASSIGN_OR_RETURN(held.cache,
                      cache_exclusive ? fs.lock(paths.lock_path(), wait) : fs.lock_shared(paths.lock_path(), wait));
  // Under the cache's lock, so removing the model (exclusive) cannot delete the folder
  // between its creation here and the lock.
  MC_RETURN_IF_ERROR(check_fixed_folders(fs, paths));
  MC_RETURN_IF_ERROR(fs.make_dirs(paths.model_dir()));
  auto model = fs.lock(paths.model_lock_path(), wait);
  if (!model.ok() && model.status().code() == StatusCode::kBusy)
    return error(StatusCode::kBusy, paths.model + ": another update of this model is running (" +
                                        paths.model_lock_path() + ")");
  MC_ASSIGN_OR_RETURN(held.model, std::move(model));
  return held;
}

Result<FileLock> lock_polling(FileSystem& fs, const std::string& lock_path, const std::function<Status()>& waiting) {
  for (;;) {
    auto held = fs.lock(lock_path, false);
    if (held.ok() || held.status().code() != StatusCode::kBusy) return held;
    if (waiting) MC_RETURN_IF_ERROR(waiting());
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

void tidy_shared_space(FileSystem& fs, const ModelPaths& paths, UpdateLocks held, const TidyNeeds& needs,
                       uint64_t max_cache_bytes) {
  FileLock exclusive;
  if (held.cache_exclusive) {
    exclusive = std::move(held.cache);
  } else {
    held = UpdateLocks();  // a shared flock is not raised in place: let go first
    auto taken = fs.lock(paths.lock_path(), false);
    if (!taken.ok()) return;  // another update runs
    exclusive = std::move(taken).value();
  }
  const CacheBlobStore store{paths.cache_dir};
  if (needs.collect_blobs) (void)gc_blobs(fs, store);
  (void)(needs.installed ? clear_tmp(fs, store) : recover_tmp(fs, store));
  if (needs.installed) (void)trim_to_budget(fs, store, max_cache_bytes);
}

}  // namespace modelcast
