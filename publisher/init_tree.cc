#include "init_tree.h"

#include <dirent.h>
#include <sys/stat.h>

#include <vector>

#include "catalog.h"
#include "git_repo.h"
#include "modelcast/fs.h"
#include "tree.h"

namespace modelcast {

namespace {

// Empty apart from `.git` (a folder, or the file a linked worktree has).
bool is_empty_dir(const std::string& path) {
  DIR* d = ::opendir(path.c_str());
  if (!d) return false;
  bool empty = true;
  while (struct dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name != "." && name != ".." && name != ".git") {
      empty = false;
      break;
    }
  }
  ::closedir(d);
  return empty;
}

// A checkout that already exists (an empty clone, or a linked worktree on a new orphan
// branch, as CI makes for a `models` branch) is adopted when its branch has no commit yet:
// the tree's first commit starts that branch, and its remote stays configured.
Result<GitRepo> open_or_create_repo(const std::string& root) {
  if (!path_exists(root + "/.git")) return GitRepo::init(root);
  MC_ASSIGN_OR_RETURN(GitRepo repo, GitRepo::open(root));
  MC_ASSIGN_OR_RETURN(std::string head, repo.head());
  if (!head.empty())
    return error(StatusCode::kExists, root + ": already a git checkout with commits; init needs a new or empty folder, "
                                             "or a branch without commits (git switch --orphan BRANCH)");
  return repo;
}

}  // namespace

Result<InitResult> init_tree(const InitOptions& options) {
  const std::string& root = options.tree;
  if (path_exists(root + "/" + kSettingsFile))
    return error(StatusCode::kExists, root + ": already a modelcast tree (" + kSettingsFile + " exists)");
  if (path_exists(root)) {
    struct stat st;
    if (::stat(root.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
      return error(StatusCode::kExists, root + ": exists and is not a folder");
    if (!is_empty_dir(root)) return error(StatusCode::kExists, root + ": folder is not empty; init needs a new or empty folder");
  }

  TreeSettings settings;
  settings.base_url = options.base_url;
  if (!options.host.empty()) {
    MC_ASSIGN_OR_RETURN(settings.max_file_bytes, host_max_file_bytes(options.host));
    settings.host = options.host;
  }
  MC_ASSIGN_OR_RETURN(GitRepo repo, open_or_create_repo(root));
  for (const char* dir : {"blobs/sha256", "manifests", "keys"}) MC_RETURN_IF_ERROR(make_dirs(root + "/" + dir));

  std::vector<std::pair<std::string, std::string>> files = {
      {kSettingsFile, pretty_json(settings_to_json(settings))},
      {"_headers", cache_headers_file()},
      {kGitAttributesFile, git_attributes_file()},
      // GitHub Pages would otherwise run Jekyll, which hides files starting with '_'.
      {".nojekyll", ""},
  };
  for (const auto& [rel, text] : files) MC_RETURN_IF_ERROR(write_file_atomic(root + "/" + rel, text));
  MC_ASSIGN_OR_RETURN(auto catalog_files, write_catalog(root, settings.base_url, options.now, nullptr));

  std::vector<GitChange> changes;
  for (const auto& kv : files) {
    MC_ASSIGN_OR_RETURN(std::string id, repo.write_blob(kv.second));
    changes.push_back({kv.first, id, false});
  }
  for (const auto& rel : catalog_files) {
    MC_ASSIGN_OR_RETURN(std::string text, read_file(root + "/" + rel, 64 << 20));
    MC_ASSIGN_OR_RETURN(std::string id, repo.write_blob(text));
    changes.push_back({rel, id, false});
  }
  InitResult result;
  MC_ASSIGN_OR_RETURN(result.commit, repo.commit(changes, "init modelcast tree"));
  return result;
}

}  // namespace modelcast
