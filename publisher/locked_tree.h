// A tree opened for a command that changes it (publish, refresh, gc).
//
// Opening takes the tree lock, then makes sure nothing is left uncommitted: files an
// interrupted command wrote are committed first (one "recover" commit), and a human's
// uncommitted edits to the tree's own files are refused, naming the paths. A command
// records the paths it is about to write or remove (a journal in the .git folder) before
// touching any, and commits exactly those paths; whatever it leaves when interrupted is
// then recognised as its own by the next command.
//
// Only paths the journal names are recovered by a command; anything else is refused, however
// well it is signed. Without a journal (a crash of an older publisher) nothing is
// recovered automatically: `modelcast recover` (recover.h) shows, then commits, the
// changed paths that prove themselves: a manifest that parses, is signed by a key the tree
// trusts and is stored where its fields say, a key file whose content has the id in its
// name, a blob such a manifest names. Deleted or rewritten blobs, rewritten versioned
// manifests and unsigned manifests never do, and neither does a current manifest whose
// version is not higher than the committed one's (a rollback or a hand edit), journal or not.
#pragma once

#include <memory>
#include <optional>
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

// Paths that differ from HEAD, sorted by whether recovery would commit them. With a
// `journal`, only the paths it names may be ours; without one, none, or with
// `prove_without_journal` those that prove themselves. Used by `verify` too.
struct UncommittedChanges {
  std::vector<GitPathStatus> ours;    // to commit
  std::vector<GitPathStatus> foreign; // a human's edits: refuse
  std::vector<GitPathStatus> orphans; // untracked blobs no changed manifest names: left alone
};
Result<UncommittedChanges> classify_uncommitted(const GitRepo& repo, const Tree& tree,
                                                const std::optional<std::vector<std::string>>& journal,
                                                bool prove_without_journal);
// "PATH (added|modified|deleted)".
std::string describe(const GitPathStatus& change);
// The paths an interrupted command recorded (.git/modelcast/journal); none when it left no journal.
Result<std::optional<std::vector<std::string>>> read_recovery_journal(const GitRepo& repo, FileSystem& fs);

// What recovery would do with the uncommitted changes of a tree.
struct RecoveryPlan {
  bool has_journal = false;
  UncommittedChanges changes;
  // No journal, changes refused: `modelcast recover` would take every one of them.
  bool recover_command_would_take = false;
};

class LockedTree {
 public:
  // Whether opening commits what an interrupted command left (every command), or leaves it
  // to the caller (`modelcast recover`).
  enum class OnOpen { kRecover, kLeaveToCaller };
  // `command` names the caller in messages ("publish", "refresh", "gc"). Every read and
  // write of the tree, the journal and the lock goes through `fs` (it must outlive this).
  static Result<LockedTree> open(const std::string& tree_dir, bool wait_for_lock, const std::string& command,
                                 FileSystem& fs = *posix_file_system(), OnOpen on_open = OnOpen::kRecover);

  LockedTree(LockedTree&&) noexcept;
  LockedTree& operator=(LockedTree&&) noexcept;
  ~LockedTree();

  GitRepo& repo() { return repo_; }
  Tree& tree() { return tree_; }
  // .git/modelcast/tmp: temporaries on the tree's file system, removed by the next command.
  std::string tmp_dir() const { return work_dir_ + "/tmp"; }
  // The commit that took in an interrupted command's files while opening; "" when none.
  const std::string& recovered_commit() const { return recovered_commit_; }

  // What recovery would commit and refuse. With the journal, an interrupted version is
  // first made current (unless `dry_run`); `without_journal` proves changes without one.
  Result<RecoveryPlan> plan_recovery(bool without_journal, bool dry_run = false);
  // The one-line refusal of a plan's foreign changes, naming `command`; ok when it has none.
  Status refuse_foreign(const RecoveryPlan& plan, const std::string& command) const;
  // Commits a plan's own changes ("recover: ..."); returns the commit, "" when there are none.
  Result<std::string> commit_recovery(const RecoveryPlan& plan);

  // Records tree-relative `paths` the command is about to write or remove (fsynced).
  Status record(const std::vector<std::string>& paths);
  // Commits `paths` as they are on disk (present: added or replaced; absent: removed; blobs
  // already in HEAD are not re-read), then clears the journal.
  Result<std::string> commit(const std::vector<std::string>& paths, const std::string& message);

 private:
  LockedTree(GitRepo repo, Tree tree, FileLock lock, std::string work_dir);

  GitRepo repo_;
  Tree tree_;
  FileLock lock_;
  std::string work_dir_;
  std::string recovered_commit_;
};

}  // namespace modelcast
