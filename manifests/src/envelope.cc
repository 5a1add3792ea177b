#include "envelope.h"

#include <set>

#include "modelcast/encoding.h"
#include "modelcast/names.h"

namespace modelcast::envelope {

Result<Envelope> parse(std::string_view bytes) {
  MC_ASSIGN_OR_RETURN(Json doc, parse_json_strict(bytes, kMaxManifestBytes, "manifest"));
  if (!doc.is_object()) return error(StatusCode::kCorruption, "manifest: must be a JSON object");
  if (!doc.contains("signed")) return error(StatusCode::kCorruption, "signed: missing");
  if (!doc.contains("signatures")) return error(StatusCode::kSignature, "signatures: missing (unsigned manifest)");
  for (auto it = doc.begin(); it != doc.end(); ++it)
    if (it.key() != "signed" && it.key() != "signatures")
      return error(StatusCode::kCorruption, it.key() + ": unknown field in the envelope");
  const Json& sigs = doc.at("signatures");
  if (!sigs.is_array()) return error(StatusCode::kCorruption, "signatures: must be an array");
  if (sigs.empty()) return error(StatusCode::kSignature, "signatures: empty (unsigned manifest)");
  if (sigs.size() > kMaxSignatures)
    return error(StatusCode::kCorruption, "signatures: more than " + std::to_string(kMaxSignatures) + " entries");
  Envelope out;
  for (size_t i = 0; i < sigs.size(); ++i) {
    std::string where = "signatures[" + std::to_string(i) + "]";
    const Json& s = sigs[i];
    if (!s.is_object() || s.size() != 2 || !s.contains("keyid") || !s.contains("sig") || !s.at("keyid").is_string() ||
        !s.at("sig").is_string())
      return error(StatusCode::kCorruption, where + ": must be {\"keyid\": string, \"sig\": string}");
    SignatureEntry e{s.at("keyid").get<std::string>(), s.at("sig").get<std::string>()};
    if (!is_lower_hex(e.keyid, 64)) return error(StatusCode::kCorruption, where + ".keyid: must be 64 lowercase hex digits");
    auto raw = base64_decode(e.sig);
    if (!raw || raw->size() != 64)
      return error(StatusCode::kCorruption, where + ".sig: must be the base64 of a 64-byte Ed25519 signature");
    out.signatures.push_back(std::move(e));
  }
  out.signed_json = std::move(doc.at("signed"));
  return out;
}

Status verify(const Json& signed_json, const std::vector<SignatureEntry>& signatures, const std::vector<PublicKey>& trusted,
              size_t threshold) {
  if (threshold == 0) threshold = 1;
  MC_ASSIGN_OR_RETURN(std::string canonical, canonical_json(signed_json));
  std::set<std::string> valid;
  bool known_key_bad_sig = false;
  for (const auto& entry : signatures) {
    for (const auto& key : trusted) {
      if (key.key_id() != entry.keyid) continue;
      auto raw = base64_decode(entry.sig);
      if (raw && key.verify(canonical, *raw)) valid.insert(entry.keyid);
      else known_key_bad_sig = true;
    }
  }
  if (valid.size() >= threshold) return OkStatus();
  if (known_key_bad_sig) return error(StatusCode::kSignature, "signature does not match the manifest's content");
  if (valid.empty())
    return error(StatusCode::kSignature, "no signature by a trusted key (signed by " +
                                             (signatures.empty() ? std::string("nobody") : signatures[0].keyid.substr(0, 16)) +
                                             "…)");
  return error(StatusCode::kSignature, std::to_string(valid.size()) + " valid signature(s), " + std::to_string(threshold) +
                                           " required");
}

Status check_fresh(const std::string& expires_at, const std::string& what, int64_t now_unix) {
  auto expires = parse_timestamp(expires_at, "signed.expires_at");
  if (!expires.ok()) return expires.status();
  if (now_unix >= expires.value())
    return error(StatusCode::kExpired, what + " expired at " + expires_at);
  return OkStatus();
}

Result<std::string> sign(const Json& signed_json, const std::vector<const PrivateKey*>& keys) {
  if (keys.empty()) return error(StatusCode::kInvalidArgument, "no signing key");
  MC_ASSIGN_OR_RETURN(std::string canonical, canonical_json(signed_json));
  Json sigs = Json::array();
  for (const auto* key : keys)
    sigs.push_back({{"keyid", key->public_key().key_id()}, {"sig", base64_encode(key->sign(canonical))}});
  return pretty_json(Json{{"signed", signed_json}, {"signatures", sigs}});
}

}  // namespace modelcast::envelope
