#include "modelcast/signed_manifest.h"

#include <set>

#include "modelcast/encoding.h"
#include "modelcast/names.h"

namespace modelcast {

Result<SignedManifest> parse_signed_manifest(std::string_view bytes) {
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
  SignedManifest out;
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
  MC_ASSIGN_OR_RETURN(out.manifest, manifest_from_json(doc.at("signed")));
  out.signed_json = std::move(doc.at("signed"));
  return out;
}

Status verify_signatures(const SignedManifest& m, const std::vector<PublicKey>& trusted, size_t threshold) {
  if (threshold == 0) threshold = 1;
  MC_ASSIGN_OR_RETURN(std::string canonical, canonical_json(m.signed_json));
  std::set<std::string> valid;
  bool known_key_bad_sig = false;
  for (const auto& entry : m.signatures) {
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
                                             (m.signatures.empty() ? std::string("nobody") : m.signatures[0].keyid.substr(0, 16)) +
                                             "…)");
  return error(StatusCode::kSignature, std::to_string(valid.size()) + " valid signature(s), " + std::to_string(threshold) +
                                           " required");
}

Status check_fresh(const Manifest& m, int64_t now_unix) {
  auto expires = parse_timestamp(m.expires_at, "signed.expires_at");
  if (!expires.ok()) return expires.status();
  if (now_unix >= expires.value())
    return error(StatusCode::kExpired, "manifest " + m.model + " v" + std::to_string(m.version) + " expired at " + m.expires_at);
  return OkStatus();
}

Result<std::string> sign_manifest(const Manifest& manifest, const std::vector<const PrivateKey*>& keys) {
  if (keys.empty()) return error(StatusCode::kInvalidArgument, "no signing key");
  Json signed_json = manifest_to_json(manifest);
  // Validate what we are about to sign exactly as a reader will.
  MC_RETURN_IF_ERROR(manifest_from_json(signed_json).status());
  MC_ASSIGN_OR_RETURN(std::string canonical, canonical_json(signed_json));
  Json sigs = Json::array();
  for (const auto* key : keys)
    sigs.push_back({{"keyid", key->public_key().key_id()}, {"sig", base64_encode(key->sign(canonical))}});
  return pretty_json(Json{{"signed", signed_json}, {"signatures", sigs}});
}

}  // namespace modelcast
