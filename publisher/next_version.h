// Writing the next version of a stream from a manifest the tree already holds: what
// `rollout`, `rollback`, `promote` and `key revoke` share. None of them reads a model file:
// they take a published version's files (blobs already in the tree), change what the
// command is about (rollout, channel), date and sign it as version N+1, and commit it.
//
// Writes go through LockedTree: every path is recorded in the journal before the first
// write, so an interrupted command is committed by the next one, and the order is
// publish's: versioned manifest (never replaced), current manifest, keys and settings,
// catalog, then one commit.
//
// Every version is written in both formats (FORMAT.md "Format 2"): the commands work on
// the format 2 document, which alone knows a file stored as parts, and the format 1
// document of the same version number is derived from it.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "locked_tree.h"
#include "modelcast/signed_manifest.h"
#include "modelcast/signed_manifest_v2.h"
#include "modelcast/signing.h"

namespace modelcast {

// One (model, channel, platform).
struct StreamName {
  std::string model, channel, platform;
  std::string text() const { return model + " (" + channel + "/" + platform + ")"; }
};

// A tree opened under its lock for one command, with reads of its streams.
class TreeSession {
 public:
  // `command` names the caller in messages ("rollout", "key revoke", ...).
  static Result<TreeSession> open(const std::string& tree_dir, bool wait_for_lock, const std::string& command);

  Tree& tree() { return locked_.tree(); }
  LockedTree& locked() { return locked_; }
  // Highest version of a stream on disk (current or versioned file); 0 when none.
  Result<uint64_t> last_version(const StreamName& s);
  // The current manifest; kNotFound when the stream has none.
  Result<SignedManifest> current(const StreamName& s);
  // manifests/<m>/<c>/<p>/<v>.json; kNotFound when absent.
  Result<SignedManifest> versioned(const StreamName& s, uint64_t version);
  // What a new version starts from: the format 2 document (v2/manifests/...), or the
  // format 1 one as format 2 values when the stream was written by an older publisher;
  // kNotFound when the stream has neither.
  Result<ManifestV2> current_content(const StreamName& s);
  Result<ManifestV2> versioned_content(const StreamName& s, uint64_t version);

 private:
  explicit TreeSession(LockedTree locked) : locked_(std::move(locked)) {}
  LockedTree locked_;
};

// --key K1 --key K2 ...: every key must load; the same key twice, or a key inside the tree
// (it would be published), is refused; a key others can read is warned about.
Result<std::vector<PrivateKey>> load_signing_keys(const std::vector<std::string>& paths, const std::string& tree_root,
                                                  FileSystem& fs = *posix_file_system());

// Writes keys/<id>.pub of each key and trusts its id in modelcast.json.
Status record_signing_keys(Tree& tree, const std::vector<PrivateKey>& keys);
// The paths record_signing_keys may write: each keys/<id>.pub and modelcast.json.
std::vector<std::string> signing_key_paths(const std::vector<PrivateKey>& keys);

// Options every version-writing command takes besides its own.
struct SigningOptions {
  std::string tree;
  std::vector<std::string> key_paths;
  int expires_in_days = 0;  // 0: the tree's default
  bool wait_for_lock = true;
  int64_t now = 0;  // unix seconds; 0: the current time
};

// Usage checks shared by the commands (exit 2 on failure).
Status check_signing_options(const SigningOptions& o);

struct NextVersionResult {
  bool unchanged = false;  // nothing to write: the stream already says this
  StreamName stream;
  uint64_t version = 0;           // written (or current when unchanged)
  uint64_t previous_version = 0;  // 0 when the stream had none
  std::string manifest_path;      // tree-relative
  std::string versioned_path;
  std::vector<std::string> key_ids;
  std::string commit;
  std::string message;  // the commit's title
  ManifestV2 manifest_v2;  // as signed
  Manifest manifest;       // the format 1 document derived from it, as signed
  std::string signed_text_v2;
  std::string signed_text;
  std::vector<std::string> paths;  // what writing it changes: both formats' manifests and stored files
};

// Signs `next` (its model, channel, platform, files, config, requires, rollout as the
// caller set them) as version last+1 of its stream with fresh dates, in both formats.
// Writes nothing; the files' blobs or parts must be in the tree and (unless the caller
// checked them against a key set it is about to publish) the signers allowed by the
// tree's key set.
Result<NextVersionResult> prepare_next_version(TreeSession& session, ManifestV2 next, const std::vector<PrivateKey>& keys,
                                               const SigningOptions& options, bool check_signers = true);
// Writes a prepared version's manifests, format 2 first (after LockedTree::record of its paths).
Status write_prepared_version(TreeSession& session, const NextVersionResult& prepared);

// Records `paths` plus the catalog, runs `write`, rewrites the catalog dated
// `published_at`, and commits everything with `message`.
Result<std::string> record_write_commit(TreeSession& session, std::vector<std::string> paths,
                                        const std::function<Status()>& write, const std::string& published_at,
                                        const std::string& message);

// prepare + write + commit of one version, its title made from the new version number.
using TitleFor = std::function<std::string(uint64_t version)>;
Result<NextVersionResult> write_next_version(TreeSession& session, ManifestV2 next, const std::vector<PrivateKey>& keys,
                                             const SigningOptions& options, const TitleFor& title);

// The commit body of a new version: stream, version, expiry, rollout, signers, files.
std::string version_commit_body(const Manifest& m, const std::vector<std::string>& key_ids);

// Files, config and requirements equal (dates, version, encodings, rollout not compared).
bool same_content(const ManifestV2& a, const ManifestV2& b);

// The format 2 document at `rel` under v2/, or the format 1 document at `rel` as format 2
// values when the tree has no format 2 document there (written by an older publisher):
// the content of a version, with what only format 2 states (a minimum OS).
Result<ManifestV2> read_content(const Tree& tree, const std::string& rel);

}  // namespace modelcast
