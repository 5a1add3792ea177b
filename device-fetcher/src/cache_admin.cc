#include "modelcast/cache_admin.h"

#include <algorithm>
#include <set>

#include "cache.h"
#include "modelcast/fs.h"
#include "modelcast/names.h"

namespace modelcast {

namespace {

std::vector<std::string> subfolders(FileSystem& fs, const std::string& dir) {
  std::vector<std::string> names;
  if (auto all = fs.list_dir(dir); all.ok())
    for (const auto& name : *all)
      if (name[0] != '.') names.push_back(name);
  return names;
}

}  // namespace

Result<std::vector<CachedModel>> list_cached_models(const std::string& cache_dir) {
  if (cache_dir.empty()) return error(StatusCode::kInvalidArgument, "cache folder: must not be empty");
  FileSystem& fs = *posix_file_system();
  std::vector<CachedModel> out;
  for (const auto& name : subfolders(fs, cache_dir + "/models")) {
    if (!check_name(name, "model").ok()) continue;  // not ours
    ModelPaths paths{cache_dir, name};
    CachedModel m;
    m.model = name;
    std::set<std::string> counted;
    for (uint64_t v : list_versions(fs, paths)) {
      auto opened = load_version(fs, paths, v, {});
      if (!opened.ok()) continue;
      m.versions.push_back(v);
      for (const auto& f : opened->files)
        if (counted.insert(f.sha256).second) m.bytes += f.size;
    }
    auto active = open_model(fs, paths, {});
    m.active_version = active.ok() ? active->version : 0;
    out.push_back(std::move(m));
  }
  return out;
}

Status remove_cached_model(const std::string& cache_dir, const std::string& model, bool wait_for_lock) {
  if (cache_dir.empty()) return error(StatusCode::kInvalidArgument, "cache folder: must not be empty");
  MC_RETURN_IF_ERROR(check_name(model, "model"));
  ModelPaths paths{cache_dir, model};
  FileSystem& fs = *posix_file_system();
  if (!fs.exists(paths.model_dir())) return error(StatusCode::kNotFound, model + ": not in the cache " + cache_dir);
  MC_ASSIGN_OR_RETURN(FileLock lock, fs.lock(paths.lock_path(), wait_for_lock));
  // `current` first: from that instant readers see no model, never a half-removed one.
  MC_RETURN_IF_ERROR(fs.remove_all(paths.current_link()));
  MC_RETURN_IF_ERROR(fs.remove_all(paths.model_dir()));
  MC_RETURN_IF_ERROR(fs.sync_dir(cache_dir + "/models"));
  return gc_blobs(fs, CacheBlobStore{cache_dir});
}

}  // namespace modelcast
