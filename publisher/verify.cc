#include "verify.h"

#include <algorithm>
#include <ctime>
#include <functional>
#include <map>
#include <optional>
#include <set>

#include "keyset.h"
#include "modelcast/blob_check.h"
#include "git_repo.h"
#include "locked_tree.h"
#include "modelcast/fs.h"
#include "modelcast/names.h"
#include "modelcast/sha256.h"
#include "modelcast/signed_manifest.h"
#include "modelcast/signed_manifest_v2.h"
#include "tree.h"

namespace modelcast {

namespace {

struct BlobRef {
  std::string encoding;
  std::string sha256;
  uint64_t size = 0;
  uint64_t stored_size = 0;
  std::string named_by;  // first manifest naming it, for messages
};

class Verifier {
 public:
  // `committed` says whether a tree-relative path is in the last commit (true for every
  // path of a tree without git history).
  Verifier(const Tree& tree, std::vector<PublicKey> keys, int64_t now, std::function<bool(const std::string&)> committed,
           VerifyReport* report)
      : tree_(tree), keys_(std::move(keys)), now_(now), committed_(std::move(committed)), report_(report) {}

  void stream(const StreamFiles& s) {
    std::map<uint64_t, std::string> versioned_text;
    for (uint64_t v : s.versions) {
      std::string rel = TreeLayout::versioned_manifest(s.model, s.channel, s.platform, v);
      auto m = load(rel, s, v);
      if (m) versioned_text[v] = m->second;
      std::string rel2 = TreeLayout::versioned_manifest_v2(s.model, s.channel, s.platform, v);
      if (!tree_.fs().exists(tree_.path(rel2))) continue;
      auto m2 = load_v2(rel2, s, v);
      if (m && m2) check_formats_agree(rel, m->first, rel2, *m2);
    }
    std::string current_rel = TreeLayout::current_manifest(s.model, s.channel, s.platform);
    if (!s.has_current) {
      problem(current_rel + ": missing, but versions " + std::to_string(s.versions.front()) + ".." +
              std::to_string(s.versions.back()) + " exist");
      return;
    }
    auto current = load(current_rel, s, 0);
    if (!current) return;
    const Manifest& m = current->first;
    uint64_t newest = s.versions.empty() ? 0 : s.versions.back();
    if (m.version < newest && only_left_by_a_crash(s, m.version)) {
      report_->warnings.push_back(TreeLayout::versioned_manifest(s.model, s.channel, s.platform, newest) +
                                  ": not committed, left by an interrupted publish; devices see version " +
                                  std::to_string(m.version) + " until the next publish commits it");
    } else if (m.version < newest) {
      problem(current_rel + ": version went down: current is " + std::to_string(m.version) + " but version " +
              std::to_string(newest) + " was published");
    } else if (m.version > newest) {
      problem(current_rel + ": version " + std::to_string(m.version) + " has no versioned copy " +
              TreeLayout::versioned_manifest(s.model, s.channel, s.platform, m.version));
    } else if (versioned_text.count(newest) && versioned_text[newest] != current->second) {
      problem(current_rel + ": differs from " + TreeLayout::versioned_manifest(s.model, s.channel, s.platform, newest) +
              " although both say version " + std::to_string(newest));
    }
    auto expires = parse_timestamp(m.expires_at, "expires_at");
    if (expires.ok() && *expires <= now_)
      report_->warnings.push_back(current_rel + ": expired at " + m.expires_at + "; devices will not update until a new publish");
  }

  void blobs() {
    // Parts and deltas: each file's own bytes have the size and SHA-256 named.
    for (const auto& [url, ref] : stored_) {
      ++report_->blobs;
      report_->blob_bytes += ref.size;
      auto digest = sha256_file(tree_.fs(), tree_.path(url));
      if (!digest.ok()) problem(url + " (named by " + ref.named_by + "): " + strip_root(digest.status().message()));
      else if (digest->size != ref.size || (!ref.sha256.empty() && digest->sha256 != ref.sha256))
        problem(url + " (named by " + ref.named_by + "): has " + std::to_string(digest->size) + " bytes with SHA-256 " +
                digest->sha256 + ", not " + std::to_string(ref.size) + " bytes with " + ref.sha256);
    }
    for (const auto& [url, ref] : blobs_) {
      ++report_->blobs;
      report_->blob_bytes += ref.stored_size;
      Status s = check_blob(tree_.fs(), tree_.path(url), BlobCheck{ref.encoding, ref.sha256, ref.size, ref.stored_size});
      if (s.ok()) continue;
      std::string message = s.message();
      std::string prefix = tree_.path(url) + ": ";
      if (message.compare(0, prefix.size(), prefix) == 0) message = message.substr(prefix.size());
      problem(url + " (named by " + ref.named_by + "): " + message);
    }
    auto files = list_blob_files(tree_.root(), tree_.fs());
    if (!files.ok()) {
      problem(files.status().message());
      return;
    }
    for (const auto& rel : *files) {
      if (blobs_.count(rel)) continue;  // checked above, links included
      // Static hosts do not serve links: one would be pushed and then be missing online.
      auto info = tree_.fs().lstat(tree_.path(rel));
      if (info.ok() && info->type == FileType::kSymlink) problem(rel + ": a symlink, not a regular file; store the file itself");
      else report_->orphans.push_back(rel);
    }
  }

 private:
  void problem(const std::string& line) { report_->problems.push_back(line); }

  // A publish writes version N+1's file before the current manifest and commits both
  // last: when a crash falls between, the newer files were never committed (never
  // published), and the next publish commits them.
  bool only_left_by_a_crash(const StreamFiles& s, uint64_t current_version) const {
    for (uint64_t v : s.versions)
      if (v > current_version && committed_(TreeLayout::versioned_manifest(s.model, s.channel, s.platform, v))) return false;
    return true;
  }

  std::string strip_root(const std::string& message) const {
    std::string prefix = tree_.root() + "/";
    return message.compare(0, prefix.size(), prefix) == 0 ? message.substr(prefix.size()) : message;
  }

  // Parses, checks identity fields and signature, and records the blobs it names.
  // `version` 0 means the current manifest (any version).
  std::optional<std::pair<Manifest, std::string>> load(const std::string& rel, const StreamFiles& s, uint64_t version) {
    auto text = tree_.fs().read_file(tree_.path(rel), kMaxManifestBytes);
    if (!text.ok()) {
      problem(rel + ": " + strip_root(text.status().message()));
      return std::nullopt;
    }
    ++report_->manifests;
    auto parsed = parse_signed_manifest(*text);
    if (!parsed.ok()) {
      problem(rel + ": " + parsed.status().message());
      return std::nullopt;
    }
    Status sig = verify_signatures(*parsed, keys_, 1);
    if (!sig.ok()) problem(rel + ": " + sig.message());
    const Manifest& m = parsed->manifest;
    if (m.model != s.model || m.channel != s.channel || m.platform != s.platform)
      problem(rel + ": says " + m.model + "/" + m.channel + "/" + m.platform + ", which is not where it is stored");
    if (version != 0 && m.version != version)
      problem(rel + ": says version " + std::to_string(m.version) + " but is stored as version " + std::to_string(version));
    // A format 1 document requiring format 2 may name blobs that exist only as parts (or
    // stands for a version with a minimum OS): the format 2 document lists what is stored.
    const auto& features = m.requirements.features;
    const bool parts_only = std::find(features.begin(), features.end(), kFormat2Feature) != features.end();
    for (const auto& f : m.files) {
      if (parts_only) break;
      auto [it, inserted] = blobs_.insert({f.url, BlobRef{f.encoding, f.sha256, f.size, f.stored_size, rel}});
      if (!inserted && (it->second.size != f.size || it->second.stored_size != f.stored_size))
        problem(rel + ": " + f.url + " has size " + std::to_string(f.size) + "/" + std::to_string(f.stored_size) + " but " +
                it->second.named_by + " says " + std::to_string(it->second.size) + "/" +
                std::to_string(it->second.stored_size));
    }
    return std::make_pair(m, std::move(*text));
  }

  // A versioned format 2 document: parsed, signed, stored where it says; records what it names.
  std::optional<ManifestV2> load_v2(const std::string& rel, const StreamFiles& s, uint64_t version) {
    auto text = tree_.fs().read_file(tree_.path(rel), kMaxManifestBytes);
    if (!text.ok()) {
      problem(rel + ": " + strip_root(text.status().message()));
      return std::nullopt;
    }
    ++report_->manifests;
    auto parsed = parse_signed_manifest_v2(*text);
    if (!parsed.ok()) {
      problem(rel + ": " + parsed.status().message());
      return std::nullopt;
    }
    Status sig = verify_signatures(*parsed, keys_, 1);
    if (!sig.ok()) problem(rel + ": " + sig.message());
    const ManifestV2& m = parsed->manifest;
    if (m.model != s.model || m.channel != s.channel || m.platform != s.platform || m.version != version)
      problem(rel + ": says " + m.model + "/" + m.channel + "/" + m.platform + " version " + std::to_string(m.version) +
              ", which is not where it is stored");
    for (const auto& f : m.files) {
      for (const auto& b : f.blobs) {
        // Every blob file, xform ones too, is decoded and checked against the content.
        if (!b.url.empty()) blobs_.insert({b.url, BlobRef{b.encoding, f.sha256, f.size, b.stored_size, rel}});
        for (const auto& p : b.parts) stored_.insert({p.url, StoredRef{p.sha256, p.size, rel}});
      }
      for (const auto& d : f.deltas) stored_.insert({d.url, StoredRef{d.sha256, d.stored_size, rel}});
    }
    return m;
  }

  // Devices of each format read their own document of a version: both must describe the
  // same release (files by path, SHA-256 and size, config, requirements, dates, rollout),
  // or devices install different content as the same version. How a file is stored
  // (encoding, URL, deltas) may differ: format 1 names only identity and zstd blobs.
  void check_formats_agree(const std::string& rel1, const Manifest& m1, const std::string& rel2, const ManifestV2& m2) {
    auto derived = manifest_v1_from_v2(m2);
    if (!derived.ok()) return problem(rel2 + ": " + derived.status().message());
    auto release = [](Manifest m) {
      for (auto& f : m.files) {
        f.url.clear();
        f.encoding.clear();
        f.stored_size = 0;
        f.deltas.clear();
      }
      return manifest_to_json(m);
    };
    const Json a = release(m1), b = release(*derived);
    std::vector<std::string> differ;
    for (auto it = a.begin(); it != a.end(); ++it)
      if (!b.contains(it.key()) || b.at(it.key()) != *it) differ.push_back(it.key());
    for (auto it = b.begin(); it != b.end(); ++it)
      if (!a.contains(it.key())) differ.push_back(it.key());
    if (differ.empty()) return;
    std::string fields;
    for (size_t i = 0; i < differ.size(); ++i) fields += (i ? ", " : "") + differ[i];
    problem(rel1 + " and " + rel2 + " disagree on " + fields + ", although both are version " + std::to_string(m1.version) +
            " (devices of each format would install different content)");
  }

  // A stored file checked by its own bytes (its content hash is not the file's).
  struct StoredRef {
    std::string sha256;  // of the stored bytes; empty when the document does not say
    uint64_t size = 0;
    std::string named_by;
  };

  const Tree& tree_;
  std::map<std::string, StoredRef> stored_;
  std::vector<PublicKey> keys_;
  int64_t now_;
  std::function<bool(const std::string&)> committed_;
  VerifyReport* report_;
  std::map<std::string, BlobRef> blobs_;
};

// Versions only grow in history too: a commit that moved a current manifest to a lower
// version (a rollback attack that also deleted the newer versioned files) is a problem
// even when the working tree is self-consistent. Reads one manifest per change.
void check_history(const Tree& tree, const std::vector<StreamFiles>& streams, VerifyReport* report) {
  constexpr size_t kMaxCommits = 100000;
  auto repo = GitRepo::open(tree.root(), &tree.fs());
  if (!repo.ok()) {
    report->warnings.push_back("version history not checked: " + repo.status().message());
    return;
  }
  auto head = repo->head();
  if (!head.ok() || head->empty()) return;
  auto commits = repo->first_parent_history(*head, kMaxCommits);
  if (!commits.ok()) {
    report->problems.push_back(commits.status().message());
    return;
  }
  for (const auto& s : streams) {
    std::string rel = TreeLayout::current_manifest(s.model, s.channel, s.platform);
    std::string newer_blob, newer_commit;
    uint64_t newer_version = 0;
    for (const auto& commit : *commits) {  // newest first
      auto blob = repo->blob_at(commit, rel);
      if (!blob.ok() || blob->empty()) break;  // the stream did not exist before this commit
      if (*blob == newer_blob) {
        newer_commit = commit;  // the oldest commit holding it is the one that introduced it
        continue;
      }
      auto text = repo->read_blob(*blob, kMaxManifestBytes);
      auto parsed = text.ok() ? parse_signed_manifest(*text) : Result<SignedManifest>(text.status());
      if (!parsed.ok()) {
        report->problems.push_back(rel + " at commit " + commit.substr(0, 12) + ": " + parsed.status().message());
        break;
      }
      uint64_t version = parsed->manifest.version;
      if (!newer_blob.empty() && version > newer_version)
        report->problems.push_back(rel + ": version went down in commit " + newer_commit.substr(0, 12) + ": " +
                                   std::to_string(version) + " -> " + std::to_string(newer_version));
      if (!newer_blob.empty() && version == newer_version)
        report->problems.push_back(rel + ": version " + std::to_string(version) + " changed content in commit " +
                                   newer_commit.substr(0, 12) + " without a new version number");
      newer_blob = *blob;
      newer_commit = commit;
      newer_version = version;
    }
  }
}

// Without "* -text" a checkout with core.autocrlf=true rewrites line endings in blobs git
// takes for text, and the deployed copy serves corrupted files.
void check_git_attributes(const Tree& tree, VerifyReport* report) {
  auto text = tree.fs().read_file(tree.path(kGitAttributesFile), 1 << 20);
  if (!text.ok()) {
    report->problems.push_back(std::string(kGitAttributesFile) +
                               ": missing; a checkout with core.autocrlf=true would rewrite blobs (the next publish adds it)");
    return;
  }
  if (!git_attributes_protect_tree(*text))
    report->problems.push_back(std::string(kGitAttributesFile) +
                               ": has no \"* -text\" line; a checkout with core.autocrlf=true would rewrite blobs");
}

std::vector<PublicKey> trusted_keys(const Tree& tree, const std::string& pinned, VerifyReport* report) {
  std::vector<PublicKey> keys;
  if (!pinned.empty()) {
    auto key = PublicKey::from_pem_file(pinned);
    if (key.ok()) keys.push_back(*key);
    else report->problems.push_back("--pubkey " + pinned + ": " + key.status().message());
    return keys;
  }
  return load_trusted_keys(tree, &report->problems);
}

// What is served is what is committed and pushed: a file on disk that differs from HEAD
// is a problem (unless another problem already names it, or it is an orphaned blob).
void check_committed(const Tree& tree, VerifyReport* report) {
  auto repo = GitRepo::open(tree.root(), &tree.fs());
  if (!repo.ok()) return;  // a copy without .git: nothing to compare with
  auto journal = read_recovery_journal(*repo, tree.fs());
  if (!journal.ok()) {
    report->problems.push_back(journal.status().message());
    return;
  }
  auto changes = classify_uncommitted(*repo, tree, *journal, /*prove_without_journal=*/true);
  if (!changes.ok()) {
    report->problems.push_back(changes.status().message());
    return;
  }
  const std::string who_commits = journal->has_value() ? "the next publish, refresh or gc commits it"
                                                       : "no journal names it: `modelcast recover " + tree.root() +
                                                             " --dry-run` shows what that would commit";
  auto named = [&](const std::string& path) {
    for (const auto& p : report->problems)
      if (p.compare(0, path.size(), path) == 0) return true;
    return false;
  };
  for (const auto& c : changes->ours)
    if (!named(c.path))
      report->problems.push_back(describe(c) + ": not committed; " + who_commits);
  for (const auto& c : changes->foreign)
    if (!named(c.path))
      report->problems.push_back(describe(c) + ": not committed, and not a change modelcast made; commit or revert it");
}

}  // namespace

Result<VerifyReport> verify_tree(const VerifyOptions& options) {
  FileSystem& fs = options.file_system ? *options.file_system : *posix_file_system();
  MC_ASSIGN_OR_RETURN(Tree tree, Tree::open(options.tree, fs));
  // A publish in progress has written version N+1 but not yet the current manifest: wait
  // for it rather than report a version that went down. Copies of a tree without .git,
  // or on read-only media, are verified without the lock.
  std::optional<FileLock> lock;
  auto repo = GitRepo::open(tree.root(), &fs);
  std::string head;
  if (repo.ok()) {
    if (auto h = repo->head(); h.ok()) head = *h;
    std::string work_dir = repo->git_dir() + "modelcast";
    if (fs.make_dirs(work_dir).ok()) {
      auto acquired = fs.lock(work_dir + "/lock", true);
      if (acquired.ok()) lock.emplace(std::move(acquired).value());
    }
  }
  VerifyReport report;
  std::vector<PublicKey> keys = trusted_keys(tree, options.pubkey_path, &report);
  std::vector<std::string> stray;
  MC_ASSIGN_OR_RETURN(auto streams, list_streams(tree.root(), &stray, fs));
  for (const auto& p : stray) report.problems.push_back(p + ": not a manifest of the tree layout");
  check_git_attributes(tree, &report);
  if (options.pubkey_path.empty() && tree.settings().trusted_keys.empty() && !streams.empty())
    report.problems.push_back(std::string(kSettingsFile) + ": no trusted keys; pass --pubkey or publish with a key");
  auto committed = [&](const std::string& rel) {
    if (!repo.ok() || head.empty()) return true;
    auto blob = repo->blob_at(head, rel);
    return !blob.ok() || !blob->empty();
  };
  Verifier verifier(tree, std::move(keys), options.now ? options.now : fs.now_unix(), committed, &report);
  for (const auto& s : streams) verifier.stream(s);
  verifier.blobs();
  for (auto& p : key_set_problems(tree)) report.problems.push_back(std::move(p));
  check_history(tree, streams, &report);
  check_committed(tree, &report);
  return report;
}

}  // namespace modelcast
