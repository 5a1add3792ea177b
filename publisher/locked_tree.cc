#include "locked_tree.h"

#include <cstdio>
#include <optional>
#include <set>

#include "modelcast/signed_manifest.h"
#include "modelcast/signed_manifest_v2.h"
#include "modelcast/signing.h"

namespace modelcast {

namespace {

// Files up to this size are read whole into a git blob; larger ones are streamed.
constexpr uint64_t kSmallFileBytes = 1 << 20;
constexpr size_t kMaxJournalBytes = 16 << 20;
constexpr size_t kMaxNamedPaths = 10;

bool starts_with(const std::string& s, const std::string& prefix) { return s.compare(0, prefix.size(), prefix) == 0; }

// Blobs, parts and deltas: named by their content, written once, never rewritten.
bool is_content_addressed(const std::string& rel) {
  return starts_with(rel, "blobs/") || starts_with(rel, "parts/") || starts_with(rel, "deltas/");
}

bool is_manifest(const std::string& rel) { return starts_with(rel, "manifests/") || starts_with(rel, "v2/manifests/"); }

// Derived or settings files: whatever is on disk is what the next commit should hold.
bool is_tree_file(const std::string& rel) {
  return rel == kSettingsFile || rel == "index.json" || rel == "index.html" || rel == "_headers" || rel == ".nojekyll" ||
         rel == kGitAttributesFile;
}

std::string journal_path(const std::string& work_dir) { return work_dir + "/journal"; }

Result<std::optional<std::vector<std::string>>> read_journal(FileSystem& fs, const std::string& work_dir) {
  std::vector<std::string> out;
  auto text = fs.read_file(journal_path(work_dir), kMaxJournalBytes);
  if (!text.ok()) {
    if (text.status().code() == StatusCode::kNotFound) return std::optional<std::vector<std::string>>();
    return text.status();
  }
  size_t pos = 0;
  while (pos < text->size()) {
    size_t end = text->find('\n', pos);
    if (end == std::string::npos) end = text->size();
    if (end > pos) out.push_back(text->substr(pos, end - pos));
    pos = end + 1;
  }
  return std::optional<std::vector<std::string>>(std::move(out));
}

Status remove_journal(FileSystem& fs, const std::string& work_dir) { return fs.remove_all(journal_path(work_dir)); }

// Every file in the temporaries folder belongs to a command that held the lock and died.
void remove_temporaries(FileSystem& fs, const std::string& tmp_dir) {
  auto names = fs.list_dir(tmp_dir);
  if (!names.ok()) return;
  for (const auto& name : *names) (void)fs.remove_all(tmp_dir + "/" + name);
}

// A signed manifest stored where its own fields say it belongs.
bool stored_where_it_says(const std::string& model, const std::string& channel, const std::string& platform, uint64_t version,
                          const std::string& rel) {
  std::string plain = starts_with(rel, "v2/") ? rel.substr(3) : rel;
  return plain == TreeLayout::current_manifest(model, channel, platform) ||
         plain == TreeLayout::versioned_manifest(model, channel, platform, version);
}

bool is_versioned_manifest_path(const std::string& rel) {
  // manifests/<m>/<c>/<p>/<v>.json has four '/' (five under v2/).
  size_t slashes = 0;
  for (char c : rel) slashes += c == '/';
  return slashes == (starts_with(rel, "v2/") ? 5u : 4u);
}

// True when the manifest at `rel` (format 1, or format 2 under v2/) parses, is signed by
// a trusted key and is stored where its fields say; adds every URL it names to `urls`.
bool signed_manifest_names(const Tree& tree, const std::vector<PublicKey>& keys, const std::string& rel,
                           std::set<std::string>* urls) {
  auto text = tree.fs().read_file(tree.path(rel), kMaxManifestBytes);
  if (!text.ok()) return false;
  if (starts_with(rel, "v2/")) {
    auto parsed = parse_signed_manifest_v2(*text);
    if (!parsed.ok() || !verify_signatures(*parsed, keys, 1).ok()) return false;
    const ManifestV2& m = parsed->manifest;
    if (!stored_where_it_says(m.model, m.channel, m.platform, m.version, rel)) return false;
    for (const auto& f : m.files) {
      for (const auto& b : f.blobs) {
        if (!b.url.empty()) urls->insert(b.url);
        for (const auto& part : b.parts) urls->insert(part.url);
      }
      for (const auto& d : f.deltas) urls->insert(d.url);
    }
    return true;
  }
  auto parsed = parse_signed_manifest(*text);
  if (!parsed.ok() || !verify_signatures(*parsed, keys, 1).ok()) return false;
  const Manifest& m = parsed->manifest;
  if (!stored_where_it_says(m.model, m.channel, m.platform, m.version, rel)) return false;
  for (const auto& f : m.files) {
    urls->insert(f.url);
    for (const auto& d : f.deltas) urls->insert(d.url);
  }
  return true;
}

std::string join_named(const std::vector<GitPathStatus>& changes) {
  std::string out;
  for (size_t i = 0; i < changes.size() && i < kMaxNamedPaths; ++i) out += (i ? ", " : "") + describe(changes[i]);
  if (changes.size() > kMaxNamedPaths) out += " and " + std::to_string(changes.size() - kMaxNamedPaths) + " more";
  return out;
}

// Which stream and version a stored manifest (format 1, or format 2 under v2/) says it is.
struct ManifestIdentity {
  std::string model, channel, platform;
  uint64_t version = 0;
};

Result<ManifestIdentity> identity_of(const std::string& rel, const std::string& text) {
  ManifestIdentity id;
  if (starts_with(rel, "v2/")) {
    MC_ASSIGN_OR_RETURN(SignedManifestV2 parsed, parse_signed_manifest_v2(text));
    const ManifestV2& m = parsed.manifest;
    id = {m.model, m.channel, m.platform, m.version};
  } else {
    MC_ASSIGN_OR_RETURN(SignedManifest parsed, parse_signed_manifest(text));
    const Manifest& m = parsed.manifest;
    id = {m.model, m.channel, m.platform, m.version};
  }
  return id;
}

Result<ManifestIdentity> read_identity(FileSystem& fs, const Tree& tree, const std::string& rel, std::string* text_out) {
  MC_ASSIGN_OR_RETURN(std::string text, fs.read_file(tree.path(rel), kMaxManifestBytes));
  MC_ASSIGN_OR_RETURN(ManifestIdentity id, identity_of(rel, text));
  if (text_out) *text_out = std::move(text);
  return id;
}

// A current manifest changed on disk is committed only when its version is higher than
// the committed one's: every command writes a new version, so a lower one is a rollback
// and the same one a hand edit (devices would never see it: versions only grow).
bool current_version_grows(const GitRepo& repo, const std::string& head, const Tree& tree, const std::string& rel) {
  auto blob = repo.blob_at(head, rel);
  if (!blob.ok()) return false;
  if (blob->empty()) return true;  // not committed yet: nothing to go down from
  auto committed_text = repo.read_blob(*blob, kMaxManifestBytes);
  if (!committed_text.ok()) return false;
  auto committed = identity_of(rel, *committed_text);
  if (!committed.ok()) return true;  // a committed manifest that does not parse: any signed one is better
  auto now = read_identity(tree.fs(), tree, rel, nullptr);
  return now.ok() && now->version > committed->version;
}

// A command writes a version's immutable file before the current manifest. When it died
// between the two (a power cut keeps the first and loses the second), that version is
// whole (signed, its blobs synced before it) and is made current, so what recovery
// commits is a finished publish, never half of one. Only streams whose current manifest
// the journal names are touched.
Status finish_interrupted_versions(FileSystem& fs, const Tree& tree, const std::vector<std::string>& journal) {
  const std::set<std::string> recorded(journal.begin(), journal.end());
  for (const auto& rel : journal) {
    if (!is_manifest(rel) || !is_versioned_manifest_path(rel)) continue;
    std::string text;
    auto id = read_identity(fs, tree, rel, &text);
    if (!id.ok() || !stored_where_it_says(id->model, id->channel, id->platform, id->version, rel)) continue;
    const std::string current =
        (starts_with(rel, "v2/") ? "v2/" : "") + TreeLayout::current_manifest(id->model, id->channel, id->platform);
    if (!recorded.count(current)) continue;
    auto current_id = read_identity(fs, tree, current, nullptr);
    if (current_id.ok() && current_id->version >= id->version) continue;
    MC_RETURN_IF_ERROR(fs.write_file_atomic(tree.path(current), text));
  }
  return OkStatus();
}

}  // namespace

const std::vector<std::string>& tree_own_paths() {
  static const std::vector<std::string> kPaths = {"manifests/", "v2/",        "blobs/",     "parts/",    "deltas/",  "keys/",
                                                  kSettingsFile, "index.json", "index.html", "_headers", ".nojekyll",
                                                  kGitAttributesFile};
  return kPaths;
}

std::string describe(const GitPathStatus& change) {
  const char* what = change.status == 'A' ? "added" : change.status == 'D' ? "deleted" : "modified";
  return change.path + " (" + what + ")";
}

Result<UncommittedChanges> classify_uncommitted(const GitRepo& repo, const Tree& tree,
                                                const std::optional<std::vector<std::string>>& journal,
                                                bool prove_without_journal) {
  UncommittedChanges out;
  MC_ASSIGN_OR_RETURN(auto changed, repo.changed_paths(tree_own_paths()));
  if (changed.empty()) return out;
  MC_ASSIGN_OR_RETURN(std::string head, repo.head());
  std::set<std::string> recorded;
  if (journal) recorded.insert(journal->begin(), journal->end());
  std::vector<std::string> key_problems;
  const std::vector<PublicKey> keys = load_trusted_keys(tree, &key_problems);
  std::set<std::string> named_blobs;
  std::vector<GitPathStatus> blobs;
  for (const auto& c : changed) {
    // With a journal only what it names is ours; without one, nothing, or (for
    // `modelcast recover`) what proves itself below.
    const bool recorded_here = recorded.count(c.path) > 0;
    const bool may_be_ours = journal ? recorded_here : prove_without_journal;
    if (is_content_addressed(c.path)) {
      if (journal && recorded_here) out.ours.push_back(c);
      else if (c.status == 'A') blobs.push_back(c);
      else out.foreign.push_back(c);
      continue;
    }
    if (c.status == 'D') {
      (journal && recorded_here ? out.ours : out.foreign).push_back(c);
      continue;
    }
    if (is_manifest(c.path)) {
      // Even a journalled manifest must be whole and signed (a torn write is not committed),
      // and a current one must have a higher version than the committed one.
      const bool versioned = is_versioned_manifest_path(c.path);
      const bool rewritable = may_be_ours && (c.status == 'A' || !versioned || recorded_here);
      if (rewritable && signed_manifest_names(tree, keys, c.path, &named_blobs) &&
          (versioned || current_version_grows(repo, head, tree, c.path)))
        out.ours.push_back(c);
      else out.foreign.push_back(c);
      continue;
    }
    if (starts_with(c.path, "keys/")) {
      auto key = PublicKey::from_pem_file(tree.path(c.path));
      const bool proven = journal ? recorded_here
                                  : prove_without_journal && c.status == 'A' && key.ok() &&
                                        TreeLayout::key_file(key->key_id()) == c.path;
      (proven ? out.ours : out.foreign).push_back(c);
      continue;
    }
    (may_be_ours && is_tree_file(c.path) ? out.ours : out.foreign).push_back(c);
  }
  // Untracked blobs: a journalled command's own were taken above; the rest are orphans (a
  // command that died before recording its paths), or, when proving without a journal,
  // ours when a manifest recovered with them names them.
  for (const auto& b : blobs)
    (!journal && prove_without_journal && named_blobs.count(b.path) ? out.ours : out.orphans).push_back(b);
  return out;
}

Result<std::optional<std::vector<std::string>>> read_recovery_journal(const GitRepo& repo, FileSystem& fs) {
  return read_journal(fs, repo.git_dir() + "modelcast");
}

LockedTree::LockedTree(GitRepo repo, Tree tree, FileLock lock, std::string work_dir)
    : repo_(std::move(repo)), tree_(std::move(tree)), lock_(std::move(lock)), work_dir_(std::move(work_dir)) {}
LockedTree::LockedTree(LockedTree&&) noexcept = default;
LockedTree& LockedTree::operator=(LockedTree&&) noexcept = default;
LockedTree::~LockedTree() = default;

Result<LockedTree> LockedTree::open(const std::string& tree_dir, bool wait_for_lock, const std::string& command,
                                    FileSystem& fs, OnOpen on_open) {
  MC_RETURN_IF_ERROR(Tree::open(tree_dir, fs).status());
  MC_ASSIGN_OR_RETURN(GitRepo repo, GitRepo::open(tree_dir, &fs));
  const std::string work_dir = repo.git_dir() + "modelcast";
  MC_RETURN_IF_ERROR(fs.make_dirs(work_dir + "/tmp"));
  const std::string lock_path = work_dir + "/lock";
  auto lock = fs.lock(lock_path, false);
  if (!lock.ok() && lock.status().code() == StatusCode::kBusy) {
    if (!wait_for_lock)
      return error(StatusCode::kBusy, tree_dir + ": another modelcast command (publish, refresh or gc) holds the tree lock (" +
                                          lock_path + "); retry later");
    std::fprintf(stderr, "waiting for another modelcast command (publish, refresh or gc) to finish (%s)\n", lock_path.c_str());
    lock = fs.lock(lock_path, true);
  }
  if (!lock.ok()) return lock.status();
  remove_temporaries(fs, work_dir + "/tmp");
  // Re-read under the lock: the command we waited for may have changed the settings.
  MC_ASSIGN_OR_RETURN(Tree tree, Tree::open(tree_dir, fs));
  LockedTree locked(std::move(repo), std::move(tree), std::move(lock).value(), work_dir);
  if (on_open == OnOpen::kRecover) {
    MC_ASSIGN_OR_RETURN(RecoveryPlan plan, locked.plan_recovery(/*without_journal=*/false));
    MC_RETURN_IF_ERROR(locked.refuse_foreign(plan, command));
    MC_RETURN_IF_ERROR(locked.commit_recovery(plan).status());
  }
  return locked;
}

Result<RecoveryPlan> LockedTree::plan_recovery(bool without_journal, bool dry_run) {
  FileSystem& fs = tree_.fs();
  RecoveryPlan plan;
  MC_ASSIGN_OR_RETURN(auto journal, read_journal(fs, work_dir_));
  plan.has_journal = journal.has_value();
  if (journal && !dry_run) MC_RETURN_IF_ERROR(finish_interrupted_versions(fs, tree_, *journal));
  MC_ASSIGN_OR_RETURN(plan.changes, classify_uncommitted(repo_, tree_, journal, without_journal));
  if (!journal && !without_journal && !plan.changes.foreign.empty()) {
    // Would `modelcast recover` take them? Then say so (a hand edit it refuses too).
    MC_ASSIGN_OR_RETURN(UncommittedChanges proven, classify_uncommitted(repo_, tree_, std::nullopt, true));
    plan.recover_command_would_take = proven.foreign.empty();
  }
  return plan;
}

Status LockedTree::refuse_foreign(const RecoveryPlan& plan, const std::string& command) const {
  if (plan.changes.foreign.empty()) return OkStatus();
  std::string hint = "commit or revert them (git -C " + tree_.root() + " status)";
  if (plan.recover_command_would_take)
    hint += ", or, if an older modelcast was interrupted, review `modelcast recover " + tree_.root() + " --dry-run`";
  return error(StatusCode::kExists, tree_.root() + ": " + command + " refused: uncommitted changes modelcast did not make: " +
                                        join_named(plan.changes.foreign) + "; " + hint);
}

Result<std::string> LockedTree::commit_recovery(const RecoveryPlan& plan) {
  FileSystem& fs = tree_.fs();
  if (plan.changes.ours.empty()) {
    MC_RETURN_IF_ERROR(remove_journal(fs, work_dir_));
    return std::string();
  }
  std::vector<std::string> paths;
  std::string body;
  for (const auto& c : plan.changes.ours) {
    paths.push_back(c.path);
    body += describe(c) + "\n";
  }
  // A settings file rewritten by the interrupted command is read again from disk.
  MC_ASSIGN_OR_RETURN(tree_, Tree::open(tree_.root(), fs));
  MC_ASSIGN_OR_RETURN(recovered_commit_,
                      commit(paths, "recover: commit " + std::to_string(paths.size()) +
                                        " file(s) an interrupted modelcast command left uncommitted\n\n" + body));
  std::fprintf(stderr, "committed %zu file(s) an interrupted command left uncommitted (commit %s)\n", paths.size(),
               recovered_commit_.substr(0, 12).c_str());
  return recovered_commit_;
}

Status LockedTree::record(const std::vector<std::string>& paths) {
  std::string text;
  for (const auto& p : paths) text += p + "\n";
  return tree_.fs().write_file_atomic(journal_path(work_dir_), text);
}

Result<std::string> LockedTree::commit(const std::vector<std::string>& paths, const std::string& message) {
  MC_ASSIGN_OR_RETURN(std::string head, repo_.head());
  std::vector<GitChange> changes;
  std::set<std::string> seen;
  for (const auto& rel : paths) {
    if (!seen.insert(rel).second) continue;
    const std::string full = tree_.path(rel);
    auto info = tree_.fs().stat(full);
    if (!info.ok()) {
      if (info.status().code() != StatusCode::kNotFound) return info.status();
      changes.push_back({rel, "", true});
      continue;
    }
    if (is_content_addressed(rel)) {
      MC_ASSIGN_OR_RETURN(std::string committed, repo_.blob_at(head, rel));
      if (!committed.empty()) continue;  // same name, same bytes: already in history
    }
    std::string id;
    if (info->size > kSmallFileBytes) {
      MC_ASSIGN_OR_RETURN(id, repo_.write_blob_from_file(full));
    } else {
      MC_ASSIGN_OR_RETURN(std::string text, tree_.fs().read_file(full, kSmallFileBytes));
      MC_ASSIGN_OR_RETURN(id, repo_.write_blob(text));
    }
    changes.push_back({rel, id, false});
  }
  MC_ASSIGN_OR_RETURN(std::string commit_id, repo_.commit(changes, message));
  MC_RETURN_IF_ERROR(remove_journal(tree_.fs(), work_dir_));
  return commit_id;
}

}  // namespace modelcast
