// `modelcast key add|revoke`: the tree's key-set statements (FORMAT.md, "Key-set
// statements"), and the publisher's side of the key set's rules.
//
// keys/keyset/<n>.json holds statement n (never replaced); keys/keyset.json is a copy of
// the newest. Before the first statement the tree's set (set 0) is the keys its
// modelcast.json trusts, threshold 1: what devices pin. Statement n+1 must be signed by
// the threshold of set n, so the signers given with --key must reach it. Revoking a key
// also re-signs, as the next version, every current manifest that needs the revoked key's
// signature, in the same commit: devices that learn the revocation still have a manifest
// they accept.
#pragma once

#include <string>
#include <vector>

#include "modelcast/key_set.h"
#include "next_version.h"

namespace modelcast {

constexpr const char* kKeySetCurrent = "keys/keyset.json";
std::string key_set_statement_path(uint64_t version);  // keys/keyset/<n>.json

// The tree's current key set: the newest statement, or set 0.
Result<KeySet> tree_key_set(const Tree& tree);

// Names the tree's newest key-set statement in a format 2 document about to be signed
// (FORMAT.md `keyset_version`), so devices holding an older set follow the chain to it.
// A tree without statements names none.
Status name_key_set(const Tree& tree, ManifestV2* manifest);

// What a --key the tree does not trust yet gets, before the tree has key-set statements
// (after, only the set counts). Devices pin the tree's keys, so a manifest signed by
// another key would freeze them: it is refused unless the publisher says otherwise.
enum class UntrustedSigners {
  kRefuse,          // rollout, rollback, promote, refresh
  kTrustFirstKey,   // publish: a tree that trusts no key yet trusts the signers of its first publish
  kTrust,           // publish --trust-new-key
};

// Refuses manifest signers the key set does not allow: a key the tree does not trust (as
// `rule` says), a revoked key, a key outside the set (once the tree has statements), or
// fewer signers than its threshold.
Status check_manifest_signers(const Tree& tree, const std::vector<PrivateKey>& keys,
                              UntrustedSigners rule = UntrustedSigners::kRefuse);
// check_manifest_signers on the tree as it is on disk, before the lock is taken: a signing
// command refuses its keys before it writes anything, a recovery commit included. A
// folder that is no tree passes (opening it under the lock names the problem).
Status check_signers_before_lock(const std::string& tree_dir, const std::vector<PrivateKey>& keys,
                                 UntrustedSigners rule = UntrustedSigners::kRefuse,
                                 FileSystem& fs = *posix_file_system());

// What `verify` finds wrong with the key set: a statement that does not follow the one
// before it (statement 1 must be signed by a key the tree trusts), a gap in the numbers,
// keys/keyset.json not being the newest statement, or a current manifest (either format)
// that devices holding the newest set would refuse. Empty when the tree has no statements.
std::vector<std::string> key_set_problems(const Tree& tree);

struct KeyChangeOptions {
  SigningOptions signing;         // --key: signers from the current set
  std::vector<std::string> add;   // public key files (PEM) to add
  std::vector<std::string> revoke;  // key ids or public key files to revoke
  int threshold = 0;              // 0: keep the current threshold
};

struct KeyChangeResult {
  uint64_t version = 0;  // the new statement's number
  KeySet set;
  std::string statement_path;
  std::vector<NextVersionResult> resigned;  // manifests re-signed because of a revocation
  std::string commit;
  std::string message;
};

Status check_key_change_options(const KeyChangeOptions& options);
Result<KeyChangeResult> change_key_set(const KeyChangeOptions& options);

}  // namespace modelcast
