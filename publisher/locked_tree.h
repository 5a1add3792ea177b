// A tree opened for a command that changes it (publish, refresh, gc).
//
// Opening takes the tree lock, then makes sure nothing is left uncommitted: files an
// interrupted command wrote are committed first (one "recover" commit), and a human's
// uncommitted edits to the tree's own files are refused, naming the paths. A command
// records the paths it is about to write or remove (a journal in the .git folder) before
// touching any, and commits exactly those paths; whatever it leaves when interrupted is
// then recognised as its own by the next command.
//
// Without a journal (a crash of an older publisher), a changed path still counts as ours
// when it proves itself: a manifest that parses and is signed by a key the tree trusts, a
// key file whose content has the id in its name, a blob such a manifest names. Deleted or
// rewritten blobs, rewritten versioned manifests and unsigned manifests never do.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "git_repo.h"
#include "modelcast/fs.h"
#include "modelcast/status.h"
#include "tree.h"

namespace modelcast {

// Folders (ending in '/') and files of a tree that modelcast writes; nothing else in the
// checkout (a README, CI files) is its business.
const std::vector<std::string>& tree_own_paths();

// Paths that differ from HEAD and would not be accepted as an interrupted command's own,
// each as "PATH (added|modified|deleted)". Used by `verify` too.
struct UncommittedChanges {
  std::vector<GitPathStatus> ours;    // to commit
  std::vector<GitPathStatus> foreign; // a human's edits: refuse
  std::vector<GitPathStatus> orphans; // untracked blobs no changed manifest names: left alone
};
Result<UncommittedChanges> classify_uncommitted(const GitRepo& repo, const Tree& tree, const std::vector<std::string>& journal);
std::string describe(const GitPathStatus& change);

class LockedTree {
 public:
  // `command` names the caller in messages ("publish", "refresh", "gc"). Every read and
  // write of the tree, the journal and the lock goes through `fs` (it must outlive this).
  static Result<LockedTree> open(const std::string& tree_dir, bool wait_for_lock, const std::string& command,
                                 FileSystem& fs = *posix_file_system());

  LockedTree(LockedTree&&) noexcept;
  LockedTree& operator=(LockedTree&&) noexcept;
  ~LockedTree();

  GitRepo& repo() { return repo_; }
  Tree& tree() { return tree_; }
  // .git/modelcast/tmp: temporaries on the tree's file system, removed by the next command.
  std::string tmp_dir() const { return work_dir_ + "/tmp"; }
  // The commit that took in an interrupted command's files while opening; "" when none.
  const std::string& recovered_commit() const { return recovered_commit_; }

  // Records tree-relative `paths` the command is about to write or remove (fsynced).
  Status record(const std::vector<std::string>& paths);
  // Commits `paths` as they are on disk (present: added or replaced; absent: removed; blobs
  // already in HEAD are not re-read), then clears the journal.
  Result<std::string> commit(const std::vector<std::string>& paths, const std::string& message);

 private:
  LockedTree(GitRepo repo, Tree tree, FileLock lock, std::string work_dir);
  Status recover(const std::string& command);

  GitRepo repo_;
  Tree tree_;
  FileLock lock_;
  std::string work_dir_;
  std::string recovered_commit_;
};

}  // namespace modelcast
