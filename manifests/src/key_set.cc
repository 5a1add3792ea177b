#include "modelcast/key_set.h"

#include <algorithm>

#include "modelcast/encoding.h"
#include "modelcast/names.h"

namespace modelcast {

namespace {

Status corrupt(const std::string& field, const std::string& problem) {
  return error(StatusCode::kCorruption, "key set: " + field + ": " + problem);
}

Json set_to_json(const KeySet& set, const std::string& published_at) {
  Json keys = Json::array();
  std::vector<const PublicKey*> sorted;
  for (const auto& k : set.keys) sorted.push_back(&k);
  std::sort(sorted.begin(), sorted.end(), [](const PublicKey* a, const PublicKey* b) { return a->key_id() < b->key_id(); });
  for (const auto* k : sorted) keys.push_back({{"keyid", k->key_id()}, {"public_key", base64_encode(k->raw())}});
  return {{"schema", kKeySetSchema},
          {"version", set.version},
          {"published_at", published_at},
          {"keys", keys},
          {"threshold", set.threshold},
          {"revoked", std::vector<std::string>(set.revoked.begin(), set.revoked.end())}};
}

Result<KeySet> set_from_json(const Json& s, std::string* published_at) {
  if (!s.is_object()) return corrupt("signed", "must be an object");
  if (!s.contains("schema") || s.at("schema") != kKeySetSchema)
    return corrupt("signed.schema", std::string("unknown schema (expected \"") + kKeySetSchema + "\")");
  static const std::set<std::string> kMembers = {"schema", "version", "published_at", "keys", "threshold", "revoked"};
  for (auto it = s.begin(); it != s.end(); ++it)
    if (!kMembers.count(it.key())) return corrupt("signed." + it.key(), "unknown field");
  for (const auto& m : kMembers)
    if (!s.contains(m)) return corrupt("signed." + m, "missing");
  KeySet set;
  const Json& v = s.at("version");
  if (!v.is_number_unsigned() || v.get<uint64_t>() < 1 || v.get<uint64_t>() > static_cast<uint64_t>(kMaxSafeInteger))
    return corrupt("signed.version", "must be an integer from 1 to 2^53-1");
  set.version = v.get<uint64_t>();
  if (!s.at("published_at").is_string()) return corrupt("signed.published_at", "must be a timestamp string");
  *published_at = s.at("published_at").get<std::string>();
  MC_RETURN_IF_ERROR(parse_timestamp(*published_at, "key set: signed.published_at").status());
  const Json& keys = s.at("keys");
  if (!keys.is_array() || keys.empty() || keys.size() > kMaxKeySetKeys)
    return corrupt("signed.keys", "must be an array of 1 to " + std::to_string(kMaxKeySetKeys) + " keys");
  std::set<std::string> ids;
  for (size_t i = 0; i < keys.size(); ++i) {
    const std::string where = "signed.keys[" + std::to_string(i) + "]";
    const Json& k = keys[i];
    if (!k.is_object() || k.size() != 2 || !k.contains("keyid") || !k.contains("public_key") || !k.at("keyid").is_string() ||
        !k.at("public_key").is_string())
      return corrupt(where, "must be {\"keyid\": string, \"public_key\": string}");
    auto raw = base64_decode(k.at("public_key").get<std::string>());
    if (!raw || raw->size() != 32) return corrupt(where + ".public_key", "must be the base64 of a 32-byte Ed25519 key");
    auto key = PublicKey::from_raw(*raw);
    if (!key.ok()) return corrupt(where + ".public_key", key.status().message());
    if (key->key_id() != k.at("keyid").get<std::string>())
      return corrupt(where + ".keyid", "is not the SHA-256 of the public key");
    if (!ids.insert(key->key_id()).second) return corrupt(where, "key listed twice");
    set.keys.push_back(std::move(key).value());
  }
  const Json& t = s.at("threshold");
  if (!t.is_number_unsigned() || t.get<uint64_t>() < 1 || t.get<uint64_t>() > keys.size())
    return corrupt("signed.threshold", "must be an integer from 1 to the number of keys (" + std::to_string(keys.size()) + ")");
  set.threshold = t.get<size_t>();
  const Json& r = s.at("revoked");
  if (!r.is_array() || r.size() > kMaxRevokedKeys)
    return corrupt("signed.revoked", "must be an array of at most " + std::to_string(kMaxRevokedKeys) + " key ids");
  for (size_t i = 0; i < r.size(); ++i) {
    const std::string where = "signed.revoked[" + std::to_string(i) + "]";
    if (!r[i].is_string() || !is_lower_hex(r[i].get<std::string>(), 64)) return corrupt(where, "must be 64 lowercase hex digits");
    if (ids.count(r[i].get<std::string>())) return corrupt(where, "a revoked key cannot also be in keys");
    if (!set.revoked.insert(r[i].get<std::string>()).second) return corrupt(where, "listed twice");
  }
  return set;
}

}  // namespace

std::vector<PublicKey> KeySet::signing_keys() const {
  std::vector<PublicKey> out;
  for (const auto& k : keys)
    if (!is_revoked(k.key_id())) out.push_back(k);
  return out;
}

Result<KeySetStatement> parse_key_set_statement(std::string_view bytes) {
  // The envelope is the manifest's: {"signed", "signatures"} with the same rules.
  MC_ASSIGN_OR_RETURN(Json doc, parse_json_strict(bytes, kMaxKeySetBytes, "key set"));
  if (!doc.is_object() || doc.size() != 2 || !doc.contains("signed") || !doc.contains("signatures"))
    return corrupt("envelope", "must be exactly {\"signed\": {...}, \"signatures\": [...]}");
  KeySetStatement out;
  MC_ASSIGN_OR_RETURN(out.set, set_from_json(doc.at("signed"), &out.published_at));
  const Json& sigs = doc.at("signatures");
  if (!sigs.is_array() || sigs.empty() || sigs.size() > kMaxSignatures)
    return error(StatusCode::kSignature, "key set: signatures: must be 1 to " + std::to_string(kMaxSignatures) + " entries");
  for (size_t i = 0; i < sigs.size(); ++i) {
    const std::string where = "signatures[" + std::to_string(i) + "]";
    const Json& s = sigs[i];
    if (!s.is_object() || s.size() != 2 || !s.contains("keyid") || !s.contains("sig") || !s.at("keyid").is_string() ||
        !s.at("sig").is_string())
      return corrupt(where, "must be {\"keyid\": string, \"sig\": string}");
    SignatureEntry e{s.at("keyid").get<std::string>(), s.at("sig").get<std::string>()};
    auto raw = base64_decode(e.sig);
    if (!is_lower_hex(e.keyid, 64) || !raw || raw->size() != 64)
      return corrupt(where, "must hold a 64-hex key id and the base64 of a 64-byte signature");
    out.signatures.push_back(std::move(e));
  }
  out.signed_json = std::move(doc.at("signed"));
  return out;
}

Status check_key_set_successor(const KeySet& previous, const KeySetStatement& next) {
  const std::string what = "key set " + std::to_string(next.set.version);
  if (next.set.version != previous.version + 1)
    return error(StatusCode::kCorruption, what + ": does not follow key set " + std::to_string(previous.version));
  for (const auto& id : previous.revoked)
    if (!next.set.revoked.count(id))
      return error(StatusCode::kSignature, what + ": un-revokes key " + id.substr(0, 16) + "…, which a statement cannot do");
  MC_ASSIGN_OR_RETURN(std::string canonical, canonical_json(next.signed_json));
  std::set<std::string> valid;
  for (const auto& entry : next.signatures) {
    if (previous.is_revoked(entry.keyid)) continue;
    for (const auto& key : previous.keys) {
      if (key.key_id() != entry.keyid) continue;
      auto raw = base64_decode(entry.sig);
      if (!raw || !key.verify(canonical, *raw))
        return error(StatusCode::kSignature, what + ": signature by " + entry.keyid.substr(0, 16) + "… does not match");
      valid.insert(entry.keyid);
    }
  }
  if (valid.size() < previous.threshold)
    return error(StatusCode::kSignature, what + ": signed by " + std::to_string(valid.size()) + " key(s) of key set " +
                                             std::to_string(previous.version) + ", its threshold is " +
                                             std::to_string(previous.threshold));
  return OkStatus();
}

Result<std::string> sign_key_set(const KeySet& set, const std::string& published_at,
                                 const std::vector<const PrivateKey*>& keys) {
  if (keys.empty()) return error(StatusCode::kInvalidArgument, "no signing key");
  Json signed_json = set_to_json(set, published_at);
  std::string ignored;
  MC_RETURN_IF_ERROR(set_from_json(signed_json, &ignored).status());  // what a reader will check
  MC_ASSIGN_OR_RETURN(std::string canonical, canonical_json(signed_json));
  Json sigs = Json::array();
  for (const auto* key : keys)
    sigs.push_back({{"keyid", key->public_key().key_id()}, {"sig", base64_encode(key->sign(canonical))}});
  return pretty_json(Json{{"signed", signed_json}, {"signatures", sigs}});
}

namespace {

// Either format's envelope: the threshold of the set's keys, and a revoked signer named.
template <typename Signed>
Status verify_envelope_with_key_set(const Signed& manifest, const KeySet& set) {
  Status s = verify_signatures(manifest, set.signing_keys(), set.threshold);
  if (s.ok()) return s;
  for (const auto& entry : manifest.signatures)
    if (set.is_revoked(entry.keyid))
      return error(StatusCode::kSignature, "signed by revoked key " + entry.keyid.substr(0, 16) + "… (key set " +
                                               std::to_string(set.version) + "): " + s.message());
  return s;
}

}  // namespace

Status verify_with_key_set(const SignedManifest& manifest, const KeySet& set) {
  return verify_envelope_with_key_set(manifest, set);
}

Status verify_with_key_set(const SignedManifestV2& manifest, const KeySet& set) {
  return verify_envelope_with_key_set(manifest, set);
}

}  // namespace modelcast
