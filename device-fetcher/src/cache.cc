#include "cache.h"

#include <algorithm>
#include <cstring>
#include <initializer_list>
#include <set>

#include "fetch_plan.h"
#include "modelcast/blob_check.h"
#include "modelcast/encoding.h"
#include "modelcast/fs.h"

namespace modelcast {

namespace {

constexpr size_t kMaxStateBytes = 64 * 1024;

// The names in `dir`, none when it cannot be read (absent: nothing to recover there).
std::vector<std::string> list_dir(FileSystem& fs, const std::string& dir) {
  auto names = fs.list_dir(dir);
  return names.ok() ? std::move(names).value() : std::vector<std::string>();
}

bool parse_version(const std::string& s, uint64_t* out) {
  if (s.empty() || s.size() > 16 || s[0] == '0') return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  *out = v;
  return true;
}

bool is_dir(FileSystem& fs, const std::string& path) {
  auto info = fs.lstat(path);
  return info.ok() && info->type == FileType::kDirectory;
}

// "<64 hex><one of suffixes>".
bool blob_tmp_name(const std::string& name, std::initializer_list<const char*> suffixes) {
  for (const char* suffix : suffixes) {
    size_t n = std::strlen(suffix);
    if (name.size() == 64 + n && name.compare(64, n, suffix) == 0 && is_lower_hex(name.substr(0, 64), 64)) return true;
  }
  return false;
}

// Removes every entry of tmp/ but regular files "<64 hex><kept suffix>" (a link is removed,
// never followed).
Status remove_tmp_except(FileSystem& fs, const CacheBlobStore& store, std::initializer_list<const char*> kept_suffixes) {
  for (const auto& name : list_dir(fs, store.tmp_dir())) {
    const std::string path = store.tmp_dir() + "/" + name;
    auto info = fs.lstat(path);
    const bool regular = info.ok() && info->type == FileType::kRegular;
    if (!regular || !blob_tmp_name(name, kept_suffixes)) MC_RETURN_IF_ERROR(fs.remove_all(path));
  }
  return OkStatus();
}

}  // namespace

uint64_t current_version(FileSystem& fs, const ModelPaths& paths) {
  auto link = fs.read_link(paths.current_link());
  if (!link.ok()) return 0;
  const std::string& target = *link;
  const std::string prefix = "versions/";
  uint64_t v = 0;
  if (target.compare(0, prefix.size(), prefix) != 0 || !parse_version(target.substr(prefix.size()), &v)) return 0;
  return v;
}

std::vector<uint64_t> list_versions(FileSystem& fs, const ModelPaths& paths) {
  std::vector<uint64_t> out;
  for (const auto& name : list_dir(fs, paths.versions_dir())) {
    uint64_t v;
    if (parse_version(name, &v) && is_dir(fs, paths.version_dir(v))) out.push_back(v);
  }
  std::sort(out.begin(), out.end());
  return out;
}

namespace {

// Where version v's manifest is: beside the folder, or inside it in the older layout.
std::string manifest_location(FileSystem& fs, const ModelPaths& paths, uint64_t version) {
  const std::string beside = paths.version_manifest(version);
  if (fs.exists(beside)) return beside;
  const std::string legacy = paths.legacy_version_manifest(version);
  return fs.exists(legacy) ? legacy : beside;
}

bool has_manifest(FileSystem& fs, const ModelPaths& paths, uint64_t version) {
  return fs.exists(paths.version_manifest(version)) || fs.exists(paths.legacy_version_manifest(version));
}

// The single top-level folder every file lies in ("mnist.mlpackage" for
// mnist.mlpackage/Manifest.json and mnist.mlpackage/Data/...), or "" when there is none.
std::string single_top_folder(const std::vector<FileEntry>& files) {
  std::string top;
  for (const auto& f : files) {
    const size_t slash = f.path.find('/');
    if (slash == std::string::npos) return std::string();
    const std::string first = f.path.substr(0, slash);
    if (!top.empty() && first != top) return std::string();
    top = first;
  }
  return top;
}

}  // namespace

Result<OpenedModel> load_version(FileSystem& fs, const ModelPaths& paths, uint64_t version, const OpenOptions& options) {
  const std::string dir = paths.version_dir(version);
  const std::string manifest_path = manifest_location(fs, paths, version);
  MC_ASSIGN_OR_RETURN(std::string bytes, fs.read_file(manifest_path, kMaxManifestBytes));
  auto parsed = parse_cached_manifest(bytes);
  if (!parsed.ok()) return parsed.status().with_context(manifest_path);
  SignedManifest& sm = parsed.value();
  if (sm.manifest.model != paths.model || sm.manifest.version != version)
    return error(StatusCode::kCorruption, manifest_path + ": describes " + sm.manifest.model + " v" +
                                              std::to_string(sm.manifest.version));
  OpenedModel out;
  out.model = paths.model;
  out.version = version;
  out.path = dir;
  const std::string top = single_top_folder(sm.manifest.files);
  out.root = top.empty() ? dir : dir + "/" + top;
  for (const auto& f : sm.manifest.files) {
    ModelFile mf{f.path, dir + "/" + f.path, f.sha256, f.size};
    // The cache keeps content decoded: identity, stored_size == size.
    Status checked = check_blob(fs, mf.full_path, BlobCheck{"identity", f.sha256, f.size, f.size, options.verify_hashes});
    if (checked.code() == StatusCode::kNotFound || checked.code() == StatusCode::kInvalidArgument)
      return error(StatusCode::kCorruption, checked.message());
    MC_RETURN_IF_ERROR(checked);
    out.files.push_back(std::move(mf));
  }
  out.config = sm.manifest.config;
  out.config_json = sm.signed_json.at("config");
  out.manifest = std::move(sm.manifest);
  return out;
}

Result<OpenedModel> open_model(FileSystem& fs, const ModelPaths& paths, const OpenOptions& options) {
  uint64_t cur = current_version(fs, paths);
  Status first;
  if (cur > 0) {
    auto m = load_version(fs, paths, cur, options);
    if (m.ok()) return m;
    first = m.status();
  }
  // `current` is damaged (files deleted by someone): the newest complete older version.
  auto versions = list_versions(fs, paths);
  for (auto it = versions.rbegin(); it != versions.rend(); ++it) {
    if (*it == cur || (cur > 0 && *it > cur)) continue;
    auto m = load_version(fs, paths, *it, options);
    if (m.ok()) return m;
  }
  if (!first.ok()) return first;
  return error(StatusCode::kNotFound, "no version of " + paths.model + " in " + paths.cache_dir);
}

Status check_fixed_folders(FileSystem& fs, const ModelPaths& paths) {
  const std::string& c = paths.cache_dir;
  for (const std::string& dir : {c + "/tmp", c + "/blobs", c + "/blobs/sha256", c + "/models", paths.model_dir(),
                                 paths.versions_dir()}) {
    auto info = fs.lstat(dir);
    if (info.ok() && info->type != FileType::kDirectory)
      return error(StatusCode::kIOError, dir + ": not a real folder (a symbolic link or a file); refusing to use this cache");
  }
  return OkStatus();
}

ModelState read_state(FileSystem& fs, const ModelPaths& paths) {
  ModelState s;
  s.active_version = current_version(fs, paths);
  auto bytes = fs.read_file(paths.state_path(), kMaxStateBytes);
  if (!bytes.ok()) return s;
  auto doc = parse_json_strict(bytes.value(), kMaxStateBytes, "state.json");
  if (!doc.ok() || !doc->is_object()) return s;
  const Json& j = doc.value();
  auto u64 = [&](const char* k) -> uint64_t {
    return j.contains(k) && j.at(k).is_number_unsigned() ? j.at(k).get<uint64_t>() : 0;
  };
  auto str = [&](const char* k) -> std::string {
    return j.contains(k) && j.at(k).is_string() ? j.at(k).get<std::string>() : std::string();
  };
  s.highest_seen = u64("highest_seen");
  s.etag = str("etag");
  s.etag_version = u64("etag_version");
  s.last_check = static_cast<int64_t>(u64("last_check"));
  s.last_status = str("last_status");
  s.last_reason = str("last_reason");
  s.last_message = str("last_message");
  s.bad_manifest_sha256 = str("bad_manifest_sha256");
  s.network_failures = u64("network_failures");
  return s;
}

Status write_state(FileSystem& fs, const ModelPaths& paths, const ModelState& s) {
  Json j = {{"highest_seen", s.highest_seen}, {"etag", s.etag},           {"etag_version", s.etag_version},
            {"last_check", s.last_check},     {"last_status", s.last_status}, {"last_reason", s.last_reason},
            {"last_message", s.last_message}, {"network_failures", s.network_failures}};
  if (!s.bad_manifest_sha256.empty()) j["bad_manifest_sha256"] = s.bad_manifest_sha256;
  return fs.write_file_atomic(paths.state_path(), pretty_json(j));
}

namespace {

// `current` lost (deleted) or replaced by something that is not a link: point it at the
// newest complete version instead of treating every version as never activated.
Status repair_current(FileSystem& fs, const ModelPaths& paths) {
  auto info = fs.lstat(paths.current_link());
  const bool present = info.ok();
  if (present && info->type == FileType::kSymlink) return OkStatus();
  if (present) MC_RETURN_IF_ERROR(fs.remove_all(paths.current_link()));
  auto versions = list_versions(fs, paths);
  for (auto it = versions.rbegin(); it != versions.rend(); ++it)
    if (load_version(fs, paths, *it, {}).ok()) return activate_version(fs, paths, *it);
  return OkStatus();
}

}  // namespace

Status recover_model(FileSystem& fs, const ModelPaths& paths) {
  (void)fs.remove_all(paths.model_dir() + "/current.new");
  MC_RETURN_IF_ERROR(repair_current(fs, paths));
  uint64_t cur = current_version(fs, paths);
  bool changed = false;
  std::set<uint64_t> kept;
  std::vector<std::string> manifests;
  for (const auto& name : list_dir(fs, paths.versions_dir())) {
    uint64_t v = 0;
    const size_t dot = name.find('.');
    if (dot != std::string::npos && name.compare(dot, std::string::npos, ".manifest.json") == 0 &&
        parse_version(name.substr(0, dot), &v)) {
      manifests.push_back(name);  // judged once the folders are
      continue;
    }
    bool numbered = parse_version(name, &v);
    bool never_current = numbered && (cur == 0 || v > cur);
    bool incomplete = numbered && !has_manifest(fs, paths, v);
    if (!numbered || never_current || (incomplete && v != cur)) {
      MC_RETURN_IF_ERROR(fs.remove_all(paths.versions_dir() + "/" + name));
      changed = true;
    } else {
      kept.insert(v);
    }
  }
  for (const auto& name : manifests) {
    uint64_t v = 0;
    parse_version(name.substr(0, name.find('.')), &v);
    if (!kept.count(v)) {  // written before a rename that never happened
      MC_RETURN_IF_ERROR(fs.remove_all(paths.versions_dir() + "/" + name));
      changed = true;
    }
  }
  for (const auto& name : list_dir(fs, paths.model_dir())) {
    if (name.find(".tmp.") != std::string::npos) {  // an interrupted state.json write
      MC_RETURN_IF_ERROR(fs.remove_all(paths.model_dir() + "/" + name));
    }
  }
  if (changed) MC_RETURN_IF_ERROR(fs.sync_dir(paths.versions_dir()));
  return OkStatus();
}

Status recover_tmp(FileSystem& fs, const CacheBlobStore& store) { return remove_tmp_except(fs, store, {".part", ".zst.part", ".xf.part"}); }

Status remove_foreign_tmp_entries(FileSystem& fs, const CacheBlobStore& store) {
  return remove_tmp_except(fs, store, {".part", ".zst.part", ".xf.part", ".dec", ".lock", ".delta-out"});
}

Status clear_tmp(FileSystem& fs, const CacheBlobStore& store) {
  for (const auto& name : list_dir(fs, store.tmp_dir())) MC_RETURN_IF_ERROR(fs.remove_all(store.tmp_dir() + "/" + name));
  return OkStatus();
}

Result<std::string> build_version(FileSystem& fs, const CacheBlobStore& store, const ModelPaths& paths,
                                  const SignedManifest& sm, const std::string& manifest_bytes) {
  const uint64_t v = sm.manifest.version;
  const std::string building = paths.building_dir(v);
  const std::string final_dir = paths.version_dir(v);
  MC_RETURN_IF_ERROR(fs.remove_all(building));
  MC_RETURN_IF_ERROR(fs.make_dirs(building));
  std::set<std::string> dirs = {building};
  for (const auto& f : sm.manifest.files) {
    std::string dst = building + "/" + f.path;
    std::string parent = parent_dir(dst);
    if (!dirs.count(parent)) {
      MC_RETURN_IF_ERROR(fs.make_dirs(parent));
      for (std::string d = parent; d.size() > building.size(); d = parent_dir(d)) dirs.insert(d);
    }
    MC_RETURN_IF_ERROR(fs.link(store.blob_path(f.sha256), dst));
  }
  // Deepest first, so each folder's entry in its parent is durable after its content.
  std::vector<std::string> ordered(dirs.begin(), dirs.end());
  std::sort(ordered.begin(), ordered.end(), [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  for (const auto& d : ordered) MC_RETURN_IF_ERROR(fs.sync_dir(d));
  if (fs.exists(final_dir)) MC_RETURN_IF_ERROR(fs.remove_all(final_dir));  // never current (checked by the caller)
  // Beside the folder, before it gets its final name: a complete folder always has one.
  MC_RETURN_IF_ERROR(fs.write_file_atomic(paths.version_manifest(v), manifest_bytes));
  MC_RETURN_IF_ERROR(fs.rename(building, final_dir));
  MC_RETURN_IF_ERROR(fs.sync_dir(paths.versions_dir()));
  return final_dir;
}

Status activate_version(FileSystem& fs, const ModelPaths& paths, uint64_t version) {
  const std::string tmp_link = paths.model_dir() + "/current.new";
  MC_RETURN_IF_ERROR(fs.remove_all(tmp_link));
  MC_RETURN_IF_ERROR(fs.symlink("versions/" + std::to_string(version), tmp_link));
  MC_RETURN_IF_ERROR(fs.rename(tmp_link, paths.current_link()));
  // The swap happened. Should the folder sync fail, a power cut may bring back the old
  // link, which is just as complete: the new version is reported either way.
  (void)fs.sync_dir(paths.model_dir());
  return OkStatus();
}

Status prune_versions(FileSystem& fs, const ModelPaths& paths, size_t keep) {
  if (keep < 1) keep = 1;
  uint64_t cur = current_version(fs, paths);
  if (cur == 0) return OkStatus();
  auto versions = list_versions(fs, paths);
  size_t kept_older = 0;
  bool changed = false;
  for (auto it = versions.rbegin(); it != versions.rend(); ++it) {
    if (*it == cur) continue;
    if (*it < cur && kept_older + 1 < keep) {
      ++kept_older;
      continue;
    }
    MC_RETURN_IF_ERROR(fs.remove_all(paths.version_dir(*it)));
    MC_RETURN_IF_ERROR(fs.remove_all(paths.version_manifest(*it)));
    changed = true;
  }
  if (changed) MC_RETURN_IF_ERROR(fs.sync_dir(paths.versions_dir()));
  return OkStatus();
}

Status gc_blobs(FileSystem& fs, const CacheBlobStore& store) {
  const std::string root = store.cache_dir + "/blobs/sha256";
  for (const auto& prefix : list_dir(fs, root)) {
    const std::string dir = root + "/" + prefix;
    if (!is_dir(fs, dir)) continue;  // a planted link: never look inside
    for (const auto& name : list_dir(fs, dir)) {
      std::string path = dir + "/" + name;
      auto info = fs.lstat(path);
      if (info.ok() && info->type == FileType::kRegular && info->links == 1) MC_RETURN_IF_ERROR(fs.remove_all(path));
    }
  }
  return OkStatus();
}

}  // namespace modelcast
