// `modelcast recover TREE [--dry-run]`: commits what an interrupted modelcast command left
// uncommitted, after showing it.
//
// Every command recovers by itself the paths its journal names (locked_tree.h). A tree
// without a journal (an older publisher died, or someone reset the branch) is recovered
// only here, on purpose: `--dry-run` lists the changed files that prove themselves (signed
// by a trusted key, stored where they say, a current version higher than the committed
// one, blobs such a manifest names) and commits nothing; without it they are committed in
// one `recover: ...` commit. Anything else is refused by name, as every command refuses it.
#pragma once

#include <string>
#include <vector>

#include "modelcast/status.h"

namespace modelcast {

struct RecoverOptions {
  std::string tree;
  bool dry_run = false;
  bool wait_for_lock = true;
};

struct RecoverResult {
  bool has_journal = false;       // an interrupted command recorded its paths
  std::vector<std::string> files;  // "PATH (added|modified|deleted)", committed or (dry run) to commit
  std::vector<std::string> orphans;  // untracked blobs nothing names: left for gc
  std::string commit;              // empty for a dry run or when there was nothing to commit
};

Result<RecoverResult> recover_tree(const RecoverOptions& options);

}  // namespace modelcast
