// The key-set statement, `modelcast/keyset/1` (FORMAT.md, "Key-set statements"): which
// keys sign manifests from now on, how many must sign, and which keys are revoked.
//
// Statements are numbered 1, 2, 3, ... and chained: statement N is authentic when at
// least the threshold of set N-1 signed it with keys of set N-1 that are not revoked.
// Set 0 is what the device pins (its keys and threshold). So a device that pins only the
// original key can follow every rotation by walking keys/keyset/1.json, 2.json, ... and
// keeps the highest set it accepted (a replayed older statement cannot undo a revocation).
// Pure functions; nothing here touches the network or the disk.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "modelcast/canonical_json.h"
#include "modelcast/signed_manifest.h"
#include "modelcast/signed_manifest_v2.h"
#include "modelcast/signing.h"
#include "modelcast/status.h"

namespace modelcast {

constexpr const char* kKeySetSchema = "modelcast/keyset/1";
constexpr size_t kMaxKeySetBytes = 64 * 1024;
constexpr size_t kMaxKeySetKeys = 16;
constexpr size_t kMaxRevokedKeys = 1024;

// A set of trusted signing keys: statement `version` (0 for the pinned set).
struct KeySet {
  uint64_t version = 0;
  std::vector<PublicKey> keys;
  size_t threshold = 1;
  std::set<std::string> revoked;  // key ids; never counted as signers again

  // The keys whose signatures count (keys minus revoked).
  std::vector<PublicKey> signing_keys() const;
  bool is_revoked(const std::string& key_id) const { return revoked.count(key_id) > 0; }
};

struct KeySetStatement {
  KeySet set;
  std::string published_at;
  Json signed_json;  // as received
  std::vector<SignatureEntry> signatures;
};

// Parses and validates (at most kMaxKeySetBytes): schema, version >= 1, 1..16 keys whose
// key ids match their public keys, 1 <= threshold <= keys, revoked keys not in `keys`.
Result<KeySetStatement> parse_key_set_statement(std::string_view bytes);

// Statement `next` may follow set `previous`: its version is previous.version + 1, the
// threshold of previous's non-revoked keys signed it, and it revokes everything previous
// revoked (a revocation is forever).
Status check_key_set_successor(const KeySet& previous, const KeySetStatement& next);

// The pretty envelope of a statement signed by every key.
Result<std::string> sign_key_set(const KeySet& set, const std::string& published_at,
                                 const std::vector<const PrivateKey*>& keys);

// verify_signatures against a key set, naming a revoked signer when that is why it fails.
Status verify_with_key_set(const SignedManifest& manifest, const KeySet& set);
Status verify_with_key_set(const SignedManifestV2& manifest, const KeySet& set);

}  // namespace modelcast
