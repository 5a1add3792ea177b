// The git repository behind a tree, through libgit2. This is the only file that sees
// git2.h; the rest of the publisher deals in hex object ids and tree-relative paths.
//
// A publish becomes exactly one commit built from the previous commit's tree plus the
// paths it changed (never a rescan of the working tree). Large blobs are streamed into
// the object database as zlib "stored" streams (level 0): their bytes are already zstd or
// incompressible, so deflate could only spend time. A GitRepo is not thread-safe; callers hold the tree lock.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "modelcast/file_system.h"
#include "modelcast/status.h"

namespace modelcast {

// One path to add, replace or remove in the next commit.
struct GitChange {
  std::string path;  // tree-relative, '/'-separated
  std::string blob_id;  // the blob already written; ignored when `remove`
  bool remove = false;
};

// One path whose working-tree file differs from HEAD (staged or not), as `git status` sees it.
struct GitPathStatus {
  char status = 'M';  // 'A' not in HEAD (untracked or staged new), 'D' missing on disk, 'M' modified
  std::string path;
};

// One entry of a tree-to-tree comparison.
struct GitDelta {
  char status = 'M';    // 'A' added, 'D' deleted, 'M' modified (renames are not detected)
  std::string path;
  std::string old_blob;  // empty when added
  std::string new_blob;  // empty when deleted
};

class GitRepo {
 public:
  // Creates a new repository (branch "main") in `workdir`, creating folders as needed.
  // The object files we write ourselves (streamed blobs) and the files we read go through
  // `fs` (null: the real disk), which must outlive the GitRepo; libgit2 writes its refs,
  // index and small objects on the real disk, fsynced.
  static Result<GitRepo> init(const std::string& workdir, FileSystem* fs = nullptr);
  static Result<GitRepo> open(const std::string& workdir, FileSystem* fs = nullptr);

  GitRepo(GitRepo&&) noexcept;
  GitRepo& operator=(GitRepo&&) noexcept;
  ~GitRepo();

  // This checkout's own .git folder, with a trailing '/' (a linked worktree's private
  // folder under .git/worktrees/; the lock and temporaries of a tree live there).
  std::string git_dir() const;
  // HEAD's commit id, or "" when the repository has no commit yet.
  Result<std::string> head() const;
  // A revision expression ("HEAD~1", a branch, an id) peeled to a commit id.
  Result<std::string> resolve_commit(const std::string& rev) const;
  // The blob id at `path` in `commit`'s tree, or "" when the path is absent (or commit is "").
  Result<std::string> blob_at(const std::string& commit, const std::string& path) const;
  Result<std::string> read_blob(const std::string& blob_id, size_t max_bytes) const;

  Result<std::string> write_blob(std::string_view data);
  // Streams a file into the object database in fixed-size chunks.
  Result<std::string> write_blob_from_file(const std::string& path);

  // Commit ids from `commit` back along first parents, newest first, at most `limit`.
  Result<std::vector<std::string>> first_parent_history(const std::string& commit, size_t limit) const;

  // Paths under `prefix` that differ between two commits ("" for commit_a: the empty tree).
  Result<std::vector<GitDelta>> diff(const std::string& commit_a, const std::string& commit_b, const std::string& prefix) const;

  // Paths under `prefixes` (folders end in '/', anything else is one file) whose file on
  // disk differs from HEAD, sorted. Ignored files count too: a tree has no ignore rules of its own.
  Result<std::vector<GitPathStatus>> changed_paths(const std::vector<std::string>& prefixes) const;

  // Commits HEAD's tree plus `changes` on the current branch and updates the index entries
  // of those paths (stat data from the working tree, so `git status` stays clean). A first
  // commit (an unborn branch, e.g. a new orphan branch) resets the index to exactly its tree.
  Result<std::string> commit(const std::vector<GitChange>& changes, const std::string& message);

 private:
  struct Impl;
  explicit GitRepo(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace modelcast
