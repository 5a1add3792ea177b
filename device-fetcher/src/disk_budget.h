// The cache's disk budget (FetcherOptions::max_cache_bytes): what an update needs, and
// making room for it. Room comes first from blobs no version folder links to, then from
// the oldest version folders that are not any model's `current`; an active version is
// never removed. Callers hold the cache's lock exclusively (cache_locks.h). Private to the library.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "download.h"
#include "modelcast/file_system.h"
#include "modelcast/manifest.h"

namespace modelcast {

// Bytes of every regular file under the cache folder, each inode counted once (version
// folders are hard links into blobs/).
uint64_t cache_bytes(FileSystem& fs, const std::string& cache_dir);

// Peak bytes the files to download add to the cache: their decoded sizes plus the largest
// compressed partial, which lives beside its decoded file until the file completes.
uint64_t bytes_needed(const std::vector<const FileEntry*>& to_download, size_t manifest_bytes);

// Frees space until cache_bytes() + need <= max_bytes, never touching the blobs in `keep`
// (the ones the update reuses) or a current version. kIOError with the numbers when even
// then the update cannot fit. max_bytes 0 means no budget.
Status make_room(FileSystem& fs, const CacheBlobStore& store, uint64_t need, uint64_t max_bytes,
                 const std::set<std::string>& keep, const std::string& what);

// After an install: drops the oldest non-current versions (and their blobs) while the cache
// is over the budget.
Status trim_to_budget(FileSystem& fs, const CacheBlobStore& store, uint64_t max_bytes);

}  // namespace modelcast
