#include "gc.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <map>
#include <optional>
#include <set>

#include "catalog.h"
#include "locked_tree.h"
#include "modelcast/canonical_json.h"
#include "modelcast/encoding.h"
#include "modelcast/file_system.h"
#include "modelcast/fs.h"
#include "modelcast/manifest_v2.h"
#include "modelcast/names.h"
#include "modelcast/signed_manifest.h"
#include "progress.h"
#include "tree.h"

namespace modelcast {

namespace {

// Roots that hold manifests: format 1 documents, and format 2 beside them (same versions).
const char* const kManifestRoots[] = {"", "v2/"};
// Folders of content-addressed files, named by manifests.
const char* const kContentFolders[] = {"blobs", "parts", "deltas"};
// How many refused paths a message names before "and N more".
constexpr size_t kMaxNamedFiles = 10;

// What a manifest names, read from its signed JSON without depending on its format
// version: every "url" under signed.files (blobs, parts, deltas alike), the publish time,
// and a rollout fallback version.
struct Names {
  std::vector<std::string> urls;
  int64_t published_at = 0;
  uint64_t fallback_version = 0;
};

void collect_urls(const Json& v, std::vector<std::string>* out) {
  if (v.is_object()) {
    for (auto it = v.begin(); it != v.end(); ++it) {
      if (it.key() == "url" && it->is_string()) out->push_back(it->get<std::string>());
      else collect_urls(*it, out);
    }
  } else if (v.is_array()) {
    for (const auto& item : v) collect_urls(item, out);
  }
}

Result<Names> read_names(const Tree& tree, const std::string& rel) {
  MC_ASSIGN_OR_RETURN(std::string text, tree.fs().read_file(tree.path(rel), kMaxManifestBytes));
  MC_ASSIGN_OR_RETURN(Json doc, parse_json_strict(text, kMaxManifestBytes, rel));
  if (!doc.is_object() || !doc.contains("signed") || !doc.at("signed").is_object())
    return error(StatusCode::kCorruption, rel + ": signed: missing");
  const Json& s = doc.at("signed");
  Names n;
  if (s.contains("files")) collect_urls(s.at("files"), &n.urls);
  if (!s.contains("published_at") || !s.at("published_at").is_string())
    return error(StatusCode::kCorruption, rel + ": signed.published_at: missing");
  MC_ASSIGN_OR_RETURN(n.published_at, parse_timestamp(s.at("published_at").get<std::string>(), rel + " published_at"));
  if (s.contains("rollout") && s.at("rollout").is_object() && s.at("rollout").contains("fallback")) {
    const Json& fb = s.at("rollout").at("fallback");
    if (fb.is_object() && fb.contains("version") && fb.at("version").is_number_unsigned())
      n.fallback_version = fb.at("version").get<uint64_t>();
  }
  return n;
}

// Every regular file under `folder` (tree-relative), recursively.
Status list_files(const Tree& tree, const std::string& folder, std::vector<std::string>* out) {
  DIR* d = ::opendir(tree.path(folder).c_str());
  if (!d) {
    if (errno == ENOENT) return OkStatus();
    return errno_status(tree.path(folder), errno);
  }
  std::vector<std::string> names;
  while (struct dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  ::closedir(d);
  for (const auto& name : names) {
    const std::string rel = folder + "/" + name;
    struct stat st;
    if (::lstat(tree.path(rel).c_str(), &st) != 0) continue;
    if (S_ISDIR(st.st_mode)) MC_RETURN_IF_ERROR(list_files(tree, rel, out));
    else out->push_back(rel);
  }
  return OkStatus();
}

// A name a publisher gives a stored file: blobs/sha256/<2>/<sha256>[.zst|.xf],
// parts/sha256/<2>/<sha256>, deltas/sha256/<2 of target>/<from>-<target>.zstpatch|.xfd.
// Anything else under those folders was put there by hand, and gc cannot tell whether it
// may go.
bool is_stored_file_name(const std::string& rel) {
  const std::string name = rel.substr(rel.rfind('/') + 1);
  const std::string sha = name.substr(0, 64);
  if (!is_lower_hex(sha, 64)) return false;
  if (rel.compare(0, 6, "blobs/") == 0) {
    for (const char* encoding : {"identity", "zstd", "xform"})
      if (rel == blob_url_for(sha, encoding)) return true;
    return false;
  }
  if (rel.compare(0, 6, "parts/") == 0) return rel == part_url(sha);
  if (name.size() < 130 || name[64] != '-') return false;
  const std::string target = name.substr(65, 64);
  if (!is_lower_hex(target, 64)) return false;
  return rel == delta_url(sha, target, "zstd-patch") || rel == delta_url(sha, target, "xform");
}

struct StreamVersions {
  std::string model, channel, platform;
  std::set<uint64_t> versions;              // in any root
  std::vector<std::string> current_paths;   // one per root that has a current manifest
};

class Collector {
 public:
  Collector(const Tree& tree, const GcOptions& o, int64_t now) : tree_(tree), o_(o), now_(now) {}

  Status run(GcResult* result) {
    std::map<std::string, StreamVersions> streams;
    for (const char* root : kManifestRoots) {
      std::vector<std::string> ignored;
      MC_ASSIGN_OR_RETURN(auto found, list_streams(tree_.path(root), &ignored));
      for (const auto& s : found) {
        StreamVersions& sv = streams[s.model + "/" + s.channel + "/" + s.platform];
        sv.model = s.model;
        sv.channel = s.channel;
        sv.platform = s.platform;
        sv.versions.insert(s.versions.begin(), s.versions.end());
        if (s.has_current) sv.current_paths.push_back(root + TreeLayout::current_manifest(s.model, s.channel, s.platform));
      }
    }
    std::set<std::string> kept_urls;
    for (const auto& [key, sv] : streams) stream(sv, &kept_urls, result);
    std::vector<std::string> unaccounted;
    for (const char* folder : kContentFolders) {
      std::vector<std::string> files;
      MC_RETURN_IF_ERROR(list_files(tree_, folder, &files));
      for (const auto& rel : files) {
        if (!is_stored_file_name(rel)) unaccounted.push_back(rel);
        else if (!kept_urls.count(rel)) remove(rel, result, false);
      }
    }
    if (!unaccounted.empty()) {
      std::sort(unaccounted.begin(), unaccounted.end());
      std::string named;
      for (size_t i = 0; i < unaccounted.size() && i < kMaxNamedFiles; ++i) named += (i ? ", " : "") + unaccounted[i];
      if (unaccounted.size() > kMaxNamedFiles) named += " and " + std::to_string(unaccounted.size() - kMaxNamedFiles) + " more";
      return error(StatusCode::kExists, tree_.root() + ": gc refused: files modelcast did not store: " + named +
                                            "; move them out of blobs/, parts/ and deltas/ (gc removes only what it stored)");
    }
    std::sort(result->removed.begin(), result->removed.end());
    return OkStatus();
  }

 private:
  const std::optional<Names>& names(const std::string& rel, GcResult* result) {
    auto it = cache_.find(rel);
    if (it != cache_.end()) return it->second;
    auto n = read_names(tree_, rel);
    if (!n.ok()) result->warnings.push_back(rel + ": kept, cannot be read: " + n.status().message());
    return cache_[rel] = n.ok() ? std::optional<Names>(std::move(n).value()) : std::nullopt;
  }

  void stream(const StreamVersions& sv, std::set<std::string>* kept_urls, GcResult* result) {
    auto versioned = [&](const char* root, uint64_t v) {
      return root + TreeLayout::versioned_manifest(sv.model, sv.channel, sv.platform, v);
    };
    std::set<uint64_t> keep;
    size_t newest = 0;
    for (auto it = sv.versions.rbegin(); it != sv.versions.rend() && newest < static_cast<size_t>(o_.keep); ++it, ++newest)
      keep.insert(*it);
    // The grace period is the last grace_days before now, excluding its start: with
    // --grace 0 nothing is protected by age, even a version signed this very second.
    const int64_t grace_start = now_ - int64_t{o_.grace_days} * 86400;
    std::vector<uint64_t> fallbacks;
    for (uint64_t v : sv.versions)
      for (const char* root : kManifestRoots) {
        if (!path_exists(tree_.path(versioned(root, v)))) continue;
        const auto& n = names(versioned(root, v), result);
        if (!n || n->published_at > grace_start) keep.insert(v);
      }
    for (const auto& rel : sv.current_paths) {
      const auto& n = names(rel, result);
      if (!n) continue;
      kept_urls->insert(n->urls.begin(), n->urls.end());
      if (n->fallback_version) keep.insert(n->fallback_version);
    }
    // A kept version's rollout fallback is kept too, and so on down (fallbacks only point down).
    for (auto it = sv.versions.rbegin(); it != sv.versions.rend(); ++it) {
      if (!keep.count(*it)) continue;
      for (const char* root : kManifestRoots) {
        if (!path_exists(tree_.path(versioned(root, *it)))) continue;
        const auto& n = names(versioned(root, *it), result);
        if (n && n->fallback_version) keep.insert(n->fallback_version);
      }
    }
    for (uint64_t v : sv.versions)
      for (const char* root : kManifestRoots) {
        const std::string rel = versioned(root, v);
        if (!path_exists(tree_.path(rel))) continue;
        if (!keep.count(v)) {
          remove(rel, result, true);
          continue;
        }
        ++result->manifests_kept;
        const auto& n = names(rel, result);
        if (n) kept_urls->insert(n->urls.begin(), n->urls.end());
      }
  }

  void remove(const std::string& rel, GcResult* result, bool manifest) {
    struct stat st;
    if (::lstat(tree_.path(rel).c_str(), &st) == 0) result->bytes_freed += static_cast<uint64_t>(st.st_size);
    result->removed.push_back(rel);
    ++(manifest ? result->manifests_removed : result->files_removed);
  }

  const Tree& tree_;
  const GcOptions& o_;
  int64_t now_;
  std::map<std::string, std::optional<Names>> cache_;
};

// Removes `rel`, then its folders while they are empty, down to the second level
// (blobs/sha256/ stays, as `init` made it).
Status remove_file(const Tree& tree, const std::string& rel) {
  if (::unlink(tree.path(rel).c_str()) != 0 && errno != ENOENT)
    return errno_status(tree.path(rel), errno);
  std::string dir = rel.substr(0, rel.rfind('/'));
  while (std::count(dir.begin(), dir.end(), '/') >= 2 && ::rmdir(tree.path(dir).c_str()) == 0) dir.resize(dir.rfind('/'));
  return OkStatus();
}

}  // namespace

Status check_gc_options(const GcOptions& o) {
  if (o.tree.empty()) return error(StatusCode::kInvalidArgument, "TREE is required");
  if (o.keep < 1 || o.keep > 1000000) return error(StatusCode::kInvalidArgument, "--keep: must be at least 1");
  if (o.grace_days < 0 || o.grace_days > 3650) return error(StatusCode::kInvalidArgument, "--grace: must be 0 to 3650 days");
  return OkStatus();
}

Result<GcResult> gc(const GcOptions& o) {
  MC_RETURN_IF_ERROR(check_gc_options(o));
  const int64_t now = o.now ? o.now : static_cast<int64_t>(std::time(nullptr));
  GcResult result;
  if (o.dry_run) {
    MC_ASSIGN_OR_RETURN(Tree tree, Tree::open(o.tree));
    MC_RETURN_IF_ERROR(Collector(tree, o, now).run(&result));
    return result;
  }
  MC_ASSIGN_OR_RETURN(LockedTree locked, LockedTree::open(o.tree, o.wait_for_lock, "gc"));
  Tree& tree = locked.tree();
  MC_RETURN_IF_ERROR(Collector(tree, o, now).run(&result));
  if (result.removed.empty()) return result;

  std::vector<std::string> paths = result.removed;
  for (const auto& rel : catalog_file_paths()) paths.push_back(rel);
  MC_RETURN_IF_ERROR(locked.record(paths));
  for (const auto& rel : result.removed) MC_RETURN_IF_ERROR(remove_file(tree, rel));
  std::vector<std::string> warnings;
  MC_RETURN_IF_ERROR(write_catalog(tree.root(), tree.settings().base_url, format_timestamp(now), &warnings).status());
  const std::string title = "gc: remove " + std::to_string(result.manifests_removed) + " manifest(s), " +
                            std::to_string(result.files_removed) + " blob file(s), " + human_size(result.bytes_freed) +
                            " freed (keep newest " + std::to_string(o.keep) + ", grace " + std::to_string(o.grace_days) +
                            " days)";
  std::string body;
  for (const auto& rel : result.removed) body += "removed: " + rel + "\n";
  MC_ASSIGN_OR_RETURN(result.commit, locked.commit(paths, title + "\n\n" + body));
  return result;
}

}  // namespace modelcast
