// The locks that let updates of different models run at the same time on one cache, in
// threads or processes. All are advisory flock()s on lock files, taken through the
// FileSystem seam (a lock file is never opened through a symlink):
//
//   lock               the cache's lock. Every update holds it SHARED for its whole run.
//                      It is taken EXCLUSIVE by what deletes files models share: collecting
//                      unlinked blobs, cleaning tmp/, evicting for the disk budget, removing a
//                      model, recover(). An update with a disk budget holds it EXCLUSIVE
//                      throughout: the room it makes must not be filled by another download.
//   models/<m>/lock    EXCLUSIVE by the update of model m: one update per model at a time.
//   tmp/<sha256>.lock  EXCLUSIVE by the one update downloading that blob into
//                      tmp/<sha256>.part; an update of another model needing the same blob
//                      waits for it, then finds the blob stored.
//   key-set.lock       EXCLUSIVE around reading, comparing and writing the stored key set.
//
// Order: the cache's lock, then the model's, then at most one blob lock or the key-set
// lock at a time. Nothing waits for the cache's lock while holding another, and nothing
// holds two blob locks, so no two holders can wait on each other. Private to the library.
#pragma once

#include <cstdint>
#include <functional>

#include "cache.h"
#include "download.h"
#include "modelcast/file_system.h"

namespace modelcast {

struct UpdateLocks {
  FileLock cache;
  FileLock model;
  bool cache_exclusive = false;
};

// The cache's lock (shared; exclusive when `cache_exclusive`), then the model's. With
// wait=false: kBusy when the same model is being updated or an exclusive holder runs (and,
// with `cache_exclusive`, when any update runs). Refuses fixed folders that are links, and
// creates the model's folder for its lock file.
Result<UpdateLocks> lock_for_update(FileSystem& fs, const ModelPaths& paths, bool wait, bool cache_exclusive);

// An exclusive lock another update may hold for a while (a blob's): tries every few
// milliseconds and calls `waiting` in between; its error (a deadline, a cancel) ends the wait.
Result<FileLock> lock_polling(FileSystem& fs, const std::string& lock_path, const std::function<Status()>& waiting);

// What an update leaves for the exclusive clean-up.
struct TidyNeeds {
  bool collect_blobs = false;  // version folders went away, or blobs were stored unused
  bool installed = false;      // no partial download belongs to anything any more
};

// Runs after an update with the cache's lock exclusive: held already, or taken now (after
// letting go of `held`) only when no other update runs. Collects unlinked blobs, cleans
// tmp/ (everything after an install, else what cannot be resumed) and applies the disk
// budget. Skipped while another update runs: the next update to find itself alone, or
// recover(), does it. Failures only leave extra files behind.
void tidy_shared_space(FileSystem& fs, const ModelPaths& paths, UpdateLocks held, const TidyNeeds& needs,
                       uint64_t max_cache_bytes);

}  // namespace modelcast
