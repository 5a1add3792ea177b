#include "disk_budget.h"

#include <algorithm>
#include <functional>
#include <utility>

#include "cache.h"

namespace modelcast {

namespace {

// Names in `dir`, none when it cannot be listed (a missing folder holds nothing).
std::vector<std::string> entries(FileSystem& fs, const std::string& dir) {
  auto names = fs.list_dir(dir);
  return names.ok() ? std::move(names).value() : std::vector<std::string>{};
}

// The cache is one file system, so an inode number identifies a file across its links.
using Inodes = std::set<uint64_t>;

void add_file(FileSystem& fs, const std::string& path, Inodes& seen, uint64_t& total) {
  auto info = fs.lstat(path);
  if (!info.ok()) return;
  if (info->type == FileType::kDirectory) {
    for (const auto& name : entries(fs, path)) add_file(fs, path + "/" + name, seen, total);
  } else if (info->type == FileType::kRegular && seen.insert(info->inode).second) {
    total += info->size;
  }
}

// What no eviction can free: every model's current version, the blobs the update reuses,
// and everything that is neither a blob nor a version folder (state, partial downloads).
uint64_t retained_bytes(FileSystem& fs, const std::string& cache_dir, const std::set<std::string>& keep) {
  Inodes seen;
  uint64_t total = 0;
  for (const auto& top : entries(fs, cache_dir))
    if (top != "blobs" && top != "models") add_file(fs, cache_dir + "/" + top, seen, total);
  for (const auto& model : entries(fs, cache_dir + "/models")) {
    ModelPaths paths{cache_dir, model};
    for (const auto& name : entries(fs, paths.model_dir()))
      if (name != "versions") add_file(fs, paths.model_dir() + "/" + name, seen, total);
    if (uint64_t cur = current_version(fs, paths)) {
      add_file(fs, paths.version_dir(cur), seen, total);
      add_file(fs, paths.version_manifest(cur), seen, total);
    }
  }
  for (const auto& sha : keep)
    if (sha.size() == 64) add_file(fs, CacheBlobStore{cache_dir}.blob_path(sha), seen, total);
  return total;
}

// Blobs with no link from a version folder, except those the update will reuse.
Status drop_unreferenced_blobs(FileSystem& fs, const CacheBlobStore& store, const std::set<std::string>& keep) {
  const std::string root = store.cache_dir + "/blobs/sha256";
  for (const auto& prefix : entries(fs, root))
    for (const auto& name : entries(fs, root + "/" + prefix)) {
      std::string path = root + "/" + prefix + "/" + name;
      if (keep.count(name)) continue;
      auto info = fs.lstat(path);
      if (!info.ok() || info->type != FileType::kRegular || info->links != 1) continue;
      MC_RETURN_IF_ERROR(fs.remove_all(path));
    }
  return OkStatus();
}

struct Removable {
  uint64_t version;
  ModelPaths paths;
};

// Version folders that are not their model's `current`, oldest version first.
std::vector<Removable> removable_versions(FileSystem& fs, const std::string& cache_dir) {
  std::vector<Removable> out;
  for (const auto& model : entries(fs, cache_dir + "/models")) {
    ModelPaths paths{cache_dir, model};
    const uint64_t cur = current_version(fs, paths);
    for (uint64_t v : list_versions(fs, paths))
      if (v != cur) out.push_back({v, paths});
  }
  std::stable_sort(out.begin(), out.end(), [](const Removable& a, const Removable& b) { return a.version < b.version; });
  return out;
}

// Removes unreferenced blobs, then old versions one by one, until `fits` holds.
Status free_until(FileSystem& fs, const CacheBlobStore& store, const std::set<std::string>& keep,
                  const std::function<bool()>& fits) {
  MC_RETURN_IF_ERROR(drop_unreferenced_blobs(fs, store, keep));
  for (const auto& r : removable_versions(fs, store.cache_dir)) {
    if (fits()) break;
    MC_RETURN_IF_ERROR(fs.remove_all(r.paths.version_dir(r.version)));
    MC_RETURN_IF_ERROR(fs.remove_all(r.paths.version_manifest(r.version)));
    MC_RETURN_IF_ERROR(fs.sync_dir(r.paths.versions_dir()));
    MC_RETURN_IF_ERROR(drop_unreferenced_blobs(fs, store, keep));
  }
  return OkStatus();
}

}  // namespace

uint64_t cache_bytes(FileSystem& fs, const std::string& cache_dir) {
  Inodes seen;
  uint64_t total = 0;
  add_file(fs, cache_dir, seen, total);
  return total;
}

uint64_t bytes_needed(const std::vector<const FileEntry*>& to_download, size_t manifest_bytes) {
  uint64_t total = manifest_bytes, largest_partial = 0;
  for (const FileEntry* f : to_download) {
    total += f->size;
    if (f->encoding != "identity") largest_partial = std::max(largest_partial, f->stored_size);
  }
  return total + largest_partial;
}

Status make_room(FileSystem& fs, const CacheBlobStore& store, uint64_t need, uint64_t max_bytes,
                 const std::set<std::string>& keep, const std::string& what) {
  if (max_bytes == 0) return OkStatus();
  auto fits = [&] { return cache_bytes(fs, store.cache_dir) + need <= max_bytes; };
  if (fits()) return OkStatus();
  // Refuse before removing anything when even a cache of active versions would not do.
  const uint64_t floor = retained_bytes(fs, store.cache_dir, keep);
  if (floor + need > max_bytes)
    return error(StatusCode::kIOError, what + " needs " + std::to_string(need) + " more bytes, but the active versions and " +
                                           "cache state take " + std::to_string(floor) + " bytes and max_cache_bytes is " +
                                           std::to_string(max_bytes));
  MC_RETURN_IF_ERROR(free_until(fs, store, keep, fits));
  if (fits()) return OkStatus();
  return error(StatusCode::kIOError, what + " needs " + std::to_string(need) + " more bytes, but the cache holds " +
                                         std::to_string(cache_bytes(fs, store.cache_dir)) + " bytes after eviction and " +
                                         "max_cache_bytes is " + std::to_string(max_bytes));
}

Status trim_to_budget(FileSystem& fs, const CacheBlobStore& store, uint64_t max_bytes) {
  if (max_bytes == 0) return OkStatus();
  auto fits = [&] { return cache_bytes(fs, store.cache_dir) <= max_bytes; };
  if (fits()) return OkStatus();
  return free_until(fs, store, {}, fits);
}

}  // namespace modelcast
