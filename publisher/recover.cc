#include "recover.h"

#include "locked_tree.h"

namespace modelcast {

Result<RecoverResult> recover_tree(const RecoverOptions& o) {
  if (o.tree.empty()) return error(StatusCode::kInvalidArgument, "TREE is required");
  MC_ASSIGN_OR_RETURN(LockedTree locked, LockedTree::open(o.tree, o.wait_for_lock, "recover", *posix_file_system(),
                                                          LockedTree::OnOpen::kLeaveToCaller));
  MC_ASSIGN_OR_RETURN(RecoveryPlan plan, locked.plan_recovery(/*without_journal=*/true, o.dry_run));
  MC_RETURN_IF_ERROR(locked.refuse_foreign(plan, "recover"));
  RecoverResult result;
  result.has_journal = plan.has_journal;
  for (const auto& c : plan.changes.ours) result.files.push_back(describe(c));
  for (const auto& c : plan.changes.orphans) result.orphans.push_back(c.path);
  if (o.dry_run) return result;
  MC_ASSIGN_OR_RETURN(result.commit, locked.commit_recovery(plan));
  return result;
}

}  // namespace modelcast
