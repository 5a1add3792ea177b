#include "keyset.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <optional>

#include "modelcast/encoding.h"
#include "modelcast/fs.h"
#include "modelcast/names.h"
#include "modelcast/signed_manifest_v2.h"

namespace modelcast {

namespace {

Status usage(const std::string& message) { return error(StatusCode::kInvalidArgument, message); }

std::string short_id(const std::string& id) { return id.substr(0, 16) + "…"; }

// A key to revoke: a key id, or a public key file.
Result<std::string> key_id_of(const std::string& arg) {
  if (is_lower_hex(arg, 64)) return arg;
  auto key = PublicKey::from_pem_file(arg);
  if (!key.ok()) return key.status().with_context("--revoke " + arg + " (a key id or a public key file)");
  return key->key_id();
}

bool in_set(const KeySet& set, const std::string& id) {
  return std::any_of(set.keys.begin(), set.keys.end(), [&](const PublicKey& k) { return k.key_id() == id; });
}

// Would a device holding `set` accept the stream's current manifest?
bool manifest_accepted(const Tree& tree, const StreamFiles& s, const KeySet& set) {
  auto text = read_file(tree.path(TreeLayout::current_manifest(s.model, s.channel, s.platform)), kMaxManifestBytes);
  if (!text.ok()) return true;  // nothing a device could accept or refuse
  auto sm = parse_signed_manifest(*text);
  return !sm.ok() || verify_with_key_set(*sm, set).ok();
}

}  // namespace

std::string key_set_statement_path(uint64_t version) { return "keys/keyset/" + std::to_string(version) + ".json"; }

Result<KeySet> tree_key_set(const Tree& tree) {
  if (path_exists(tree.path(kKeySetCurrent))) {
    MC_ASSIGN_OR_RETURN(std::string text, read_file(tree.path(kKeySetCurrent), kMaxKeySetBytes));
    auto statement = parse_key_set_statement(text);
    if (!statement.ok()) return statement.status().with_context(tree.path(kKeySetCurrent));
    return statement->set;
  }
  KeySet set;
  for (const auto& id : tree.settings().trusted_keys) {
    auto key = PublicKey::from_pem_file(tree.path(TreeLayout::key_file(id)));
    if (!key.ok()) return key.status().with_context("trusted key " + short_id(id));
    set.keys.push_back(std::move(key).value());
  }
  return set;
}

Status name_key_set(const Tree& tree, ManifestV2* m) {
  MC_ASSIGN_OR_RETURN(KeySet set, tree_key_set(tree));
  // Never lower: a key change names the statement it is about to write.
  if (set.version > m->keyset_version.value_or(0)) m->keyset_version = set.version;
  return OkStatus();
}

namespace {

// "<n>.json" with n a decimal number from 1, no leading zero.
std::optional<uint64_t> statement_number(const std::string& name) {
  const size_t digits = name.size() - std::min<size_t>(name.size(), 5);
  if (digits == 0 || digits > 18 || name.compare(digits, 5, ".json") != 0 || name[0] == '0') return std::nullopt;
  for (size_t i = 0; i < digits; ++i)
    if (name[i] < '0' || name[i] > '9') return std::nullopt;
  return std::stoull(name.substr(0, digits));
}

// The newest statement, after checking each one against the one before it.
Result<KeySet> walk_statements(const Tree& tree, std::vector<std::string>* problems) {
  auto names = tree.fs().list_dir(tree.path("keys/keyset"));
  if (!names.ok()) return names.status().with_context("keys/keyset");
  uint64_t newest = 0;
  for (const auto& name : *names) {
    if (auto n = statement_number(name)) newest = std::max(newest, *n);
    else problems->push_back("keys/keyset/" + name + ": not a key-set statement name (<n>.json)");
  }
  // Set 0: every key the tree trusts, threshold 1 (the widest set a device could pin).
  KeySet previous;
  for (const auto& id : tree.settings().trusted_keys) {
    auto key = PublicKey::from_pem_file(tree.path(TreeLayout::key_file(id)));
    if (key.ok()) previous.keys.push_back(std::move(key).value());
  }
  std::string newest_text;
  for (uint64_t n = 1; n <= newest; ++n) {
    const std::string rel = key_set_statement_path(n);
    auto text = tree.fs().read_file(tree.path(rel), kMaxKeySetBytes);
    if (!text.ok()) return text.status().with_context(rel + " (statements must be numbered 1, 2, 3, ... without gaps)");
    auto statement = parse_key_set_statement(*text);
    if (!statement.ok()) return statement.status().with_context(rel);
    if (n == 1) previous.revoked.clear();
    Status follows = check_key_set_successor(previous, *statement);
    if (!follows.ok()) problems->push_back(rel + ": " + follows.message());
    previous = statement->set;
    newest_text = std::move(text).value();
  }
  auto current = tree.fs().read_file(tree.path(kKeySetCurrent), kMaxKeySetBytes);
  if (!current.ok() || *current != newest_text)
    problems->push_back(std::string(kKeySetCurrent) + ": is not a copy of the newest statement " +
                        key_set_statement_path(newest));
  return previous;
}

}  // namespace

std::vector<std::string> key_set_problems(const Tree& tree) {
  std::vector<std::string> problems;
  if (!tree.fs().exists(tree.path(kKeySetCurrent))) return problems;
  auto set = walk_statements(tree, &problems);
  if (!set.ok()) {
    problems.push_back(set.status().message());
    return problems;
  }
  // Devices that followed the statements check every current manifest against this set.
  for (const std::string root : {"", "v2/"}) {
    std::vector<std::string> ignored;
    auto streams = list_streams(tree.path(root), &ignored, tree.fs());
    if (!streams.ok()) continue;  // no format 2 folder
    for (const auto& s : *streams) {
      if (!s.has_current) continue;
      const std::string rel = root + TreeLayout::current_manifest(s.model, s.channel, s.platform);
      auto text = tree.fs().read_file(tree.path(rel), kMaxManifestBytes);
      if (!text.ok()) continue;  // verify names unreadable manifests already
      Status accepted = OkStatus();
      if (root[0]) {
        auto parsed = parse_signed_manifest_v2(*text);
        if (parsed.ok()) accepted = verify_signatures(*parsed, set->signing_keys(), set->threshold);
      } else {
        auto parsed = parse_signed_manifest(*text);
        if (parsed.ok()) accepted = verify_with_key_set(*parsed, *set);
      }
      if (!accepted.ok())
        problems.push_back(rel + ": devices holding key set " + std::to_string(set->version) + " refuse it: " +
                           accepted.message());
    }
  }
  return problems;
}

namespace {

Status check_signers_trusted(const Tree& tree, const std::vector<PrivateKey>& keys, UntrustedSigners rule) {
  const auto& trusted = tree.settings().trusted_keys;
  if (rule == UntrustedSigners::kTrust || (rule == UntrustedSigners::kTrustFirstKey && trusted.empty())) return OkStatus();
  for (const auto& k : keys) {
    const std::string& id = k.public_key().key_id();
    if (std::find(trusted.begin(), trusted.end(), id) != trusted.end()) continue;
    std::string message = "--key " + short_id(id) + " is not trusted by " + tree.root() + " (" + kSettingsFile +
                          " trusted_keys), so devices would refuse what it signs; sign with a key the tree trusts, or "
                          "add this one first with `modelcast key add " + tree.root() + " KEY.pub --key TRUSTED_KEY`";
    if (rule == UntrustedSigners::kTrustFirstKey) message += " (or publish --trust-new-key)";
    return error(StatusCode::kSignature, message);
  }
  return OkStatus();
}

}  // namespace

Status check_signers_before_lock(const std::string& tree_dir, const std::vector<PrivateKey>& keys, UntrustedSigners rule,
                                 FileSystem& fs) {
  auto tree = Tree::open(tree_dir, fs);
  if (!tree.ok()) return OkStatus();
  return check_manifest_signers(*tree, keys, rule);
}

Status check_manifest_signers(const Tree& tree, const std::vector<PrivateKey>& keys, UntrustedSigners rule) {
  if (!path_exists(tree.path(kKeySetCurrent))) return check_signers_trusted(tree, keys, rule);
  MC_ASSIGN_OR_RETURN(KeySet set, tree_key_set(tree));
  size_t counted = 0;
  for (const auto& k : keys) {
    const std::string& id = k.public_key().key_id();
    if (set.is_revoked(id))
      return error(StatusCode::kSignature, "--key " + short_id(id) + " is revoked (key set " + std::to_string(set.version) +
                                               "); devices refuse what it signs");
    if (!in_set(set, id))
      return error(StatusCode::kSignature, "--key " + short_id(id) + " is not in key set " + std::to_string(set.version) +
                                               "; `modelcast key add` it first");
    ++counted;
  }
  if (counted < set.threshold)
    return error(StatusCode::kSignature, std::to_string(counted) + " signing key(s) given, key set " +
                                             std::to_string(set.version) + " requires " + std::to_string(set.threshold));
  return OkStatus();
}

Status check_key_change_options(const KeyChangeOptions& o) {
  MC_RETURN_IF_ERROR(check_signing_options(o.signing));
  if (o.add.empty() && o.revoke.empty()) return usage("key: nothing to add or revoke");
  if (o.threshold < 0 || o.threshold > static_cast<int>(kMaxKeySetKeys))
    return usage("--threshold: must be 1 to " + std::to_string(kMaxKeySetKeys));
  return OkStatus();
}

Result<KeyChangeResult> change_key_set(const KeyChangeOptions& o) {
  MC_RETURN_IF_ERROR(check_key_change_options(o));
  MC_ASSIGN_OR_RETURN(std::vector<PrivateKey> signers, load_signing_keys(o.signing.key_paths, o.signing.tree));
  MC_ASSIGN_OR_RETURN(TreeSession session, TreeSession::open(o.signing.tree, o.signing.wait_for_lock, "key"));
  Tree& tree = session.tree();
  MC_ASSIGN_OR_RETURN(KeySet current, tree_key_set(tree));

  KeySet next = current;
  next.version = current.version + 1;
  std::vector<std::string> what;
  for (const auto& path : o.add) {
    auto key = PublicKey::from_pem_file(path);
    if (!key.ok()) return key.status().with_context("--add " + path);
    if (next.is_revoked(key->key_id()))
      return usage("--add " + path + ": key " + short_id(key->key_id()) + " was revoked and cannot come back");
    if (in_set(next, key->key_id())) return usage("--add " + path + ": key " + short_id(key->key_id()) + " is already in the key set");
    what.push_back("add " + short_id(key->key_id()));
    next.keys.push_back(std::move(key).value());
  }
  for (const auto& arg : o.revoke) {
    MC_ASSIGN_OR_RETURN(std::string id, key_id_of(arg));
    if (!in_set(next, id)) return usage("--revoke " + arg + ": key " + short_id(id) + " is not in the key set");
    next.keys.erase(std::remove_if(next.keys.begin(), next.keys.end(), [&](const PublicKey& k) { return k.key_id() == id; }),
                    next.keys.end());
    next.revoked.insert(id);
    what.push_back("revoke " + short_id(id));
  }
  if (next.keys.empty()) return usage("key: the key set would have no key left; add one in the same command");
  if (next.keys.size() > kMaxKeySetKeys) return usage("key: a key set holds at most " + std::to_string(kMaxKeySetKeys) + " keys");
  if (o.threshold > 0) next.threshold = static_cast<size_t>(o.threshold);
  if (next.threshold > next.keys.size())
    return usage("key: threshold " + std::to_string(next.threshold) + " exceeds the " + std::to_string(next.keys.size()) +
                 " keys left; pass --threshold");

  // Statement n+1 counts only signatures by set n's non-revoked keys.
  std::vector<const PrivateKey*> statement_signers;
  for (const auto& k : signers)
    if (in_set(current, k.public_key().key_id()) && !current.is_revoked(k.public_key().key_id()))
      statement_signers.push_back(&k);
  if (statement_signers.size() < current.threshold)
    return error(StatusCode::kSignature, "key: " + std::to_string(statement_signers.size()) + " of the --key signers are in key set " +
                                             std::to_string(current.version) + ", whose threshold is " +
                                             std::to_string(current.threshold) + "; the statement would be refused by devices");

  // Manifests devices would refuse under the new set are re-signed by the signers that
  // remain in it; checked before anything is written.
  std::vector<PrivateKey> manifest_signers;
  for (const auto& k : signers)
    if (in_set(next, k.public_key().key_id())) manifest_signers.push_back(k);
  // After a revocation every current manifest is re-signed, so that each names the new
  // statement: a device holding the statement a manifest names asks for no other, and
  // would otherwise not learn of the revocation from manifests that are still valid.
  const bool revokes = next.revoked.size() > current.revoked.size();
  std::vector<StreamName> to_resign;
  MC_ASSIGN_OR_RETURN(auto streams, list_streams(tree.root(), nullptr));
  for (const auto& s : streams) {
    if (!s.has_current || (!revokes && manifest_accepted(tree, s, next))) continue;
    to_resign.push_back({s.model, s.channel, s.platform});
    if (manifest_signers.size() < next.threshold)
      return error(StatusCode::kSignature, to_resign.back().text() + ": its manifest must be re-signed under key set " +
                                               std::to_string(next.version) + ", but fewer than " +
                                               std::to_string(next.threshold) + " of the --key signers are in it");
  }

  const int64_t now = o.signing.now ? o.signing.now : static_cast<int64_t>(std::time(nullptr));
  MC_ASSIGN_OR_RETURN(std::string text, sign_key_set(next, format_timestamp(now), statement_signers));
  KeyChangeResult result;
  result.version = next.version;
  result.set = next;
  result.statement_path = key_set_statement_path(next.version);
  for (const auto& stream : to_resign) {
    MC_ASSIGN_OR_RETURN(ManifestV2 content, session.current_content(stream));
    content.keyset_version = next.version;  // signed under the statement written with it
    // The signers were checked against the new set above; the tree still holds the old one.
    MC_ASSIGN_OR_RETURN(NextVersionResult resigned,
                        prepare_next_version(session, content, manifest_signers, o.signing, /*check_signers=*/false));
    result.resigned.push_back(std::move(resigned));
  }

  std::vector<std::string> paths = {result.statement_path, kKeySetCurrent, kSettingsFile};
  for (const auto& k : next.keys) paths.push_back(TreeLayout::key_file(k.key_id()));
  for (const auto& r : result.resigned) paths.insert(paths.end(), r.paths.begin(), r.paths.end());
  auto write = [&]() -> Status {
    MC_RETURN_IF_ERROR(make_dirs(tree.path("keys/keyset")));
    MC_RETURN_IF_ERROR(write_new_file(tree.path(result.statement_path), text, 0644));
    MC_RETURN_IF_ERROR(write_file_atomic(tree.path(kKeySetCurrent), text));
    // The publisher trusts every key the set holds (verify checks older manifests too, so
    // revoked keys stay listed there; devices refuse them by the statement).
    auto& trusted = tree.mutable_settings().trusted_keys;
    for (const auto& k : next.keys) {
      const std::string rel = TreeLayout::key_file(k.key_id());
      if (!path_exists(tree.path(rel))) MC_RETURN_IF_ERROR(write_file_atomic(tree.path(rel), k.to_pem()));
      if (std::find(trusted.begin(), trusted.end(), k.key_id()) == trusted.end()) trusted.push_back(k.key_id());
    }
    MC_RETURN_IF_ERROR(tree.save_settings());
    for (const auto& r : result.resigned) MC_RETURN_IF_ERROR(write_prepared_version(session, r));
    return OkStatus();
  };

  result.message = "key set " + std::to_string(next.version) + ": ";
  for (size_t i = 0; i < what.size(); ++i) result.message += (i ? ", " : "") + what[i];
  result.message += " (" + std::to_string(next.keys.size()) + " keys, threshold " + std::to_string(next.threshold) + ")";
  std::string body = "keyset: " + std::to_string(next.version) + "\nthreshold: " + std::to_string(next.threshold) + "\n";
  for (const auto& k : next.keys) body += "key: " + k.key_id() + "\n";
  for (const auto& id : next.revoked) body += "revoked: " + id + "\n";
  for (const auto* k : statement_signers) body += "signed-by: " + k->public_key().key_id() + "\n";
  for (const auto& r : result.resigned) body += "re-signed: " + r.stream.text() + " as version " + std::to_string(r.version) + "\n";
  MC_ASSIGN_OR_RETURN(result.commit, record_write_commit(session, paths, write, format_timestamp(now), result.message + "\n\n" + body));
  return result;
}

}  // namespace modelcast
