#include "modelcast/signed_manifest_v2.h"

#include "envelope.h"

namespace modelcast {

Result<SignedManifestV2> parse_signed_manifest_v2(std::string_view bytes) {
  MC_ASSIGN_OR_RETURN(envelope::Envelope env, envelope::parse(bytes));
  SignedManifestV2 out;
  MC_ASSIGN_OR_RETURN(out.manifest, manifest_v2_from_json(env.signed_json));
  out.signed_json = std::move(env.signed_json);
  out.signatures = std::move(env.signatures);
  return out;
}

Status verify_signatures(const SignedManifestV2& m, const std::vector<PublicKey>& trusted, size_t threshold) {
  return envelope::verify(m.signed_json, m.signatures, trusted, threshold);
}

Status check_fresh(const ManifestV2& m, int64_t now_unix) {
  return envelope::check_fresh(m.expires_at, "manifest " + m.model + " v" + std::to_string(m.version), now_unix);
}

Result<std::string> sign_manifest_v2(const ManifestV2& manifest, const std::vector<const PrivateKey*>& keys) {
  if (keys.empty()) return error(StatusCode::kInvalidArgument, "no signing key");
  Json signed_json = manifest_v2_to_json(manifest);
  // Validate what we are about to sign exactly as a reader will.
  MC_RETURN_IF_ERROR(manifest_v2_from_json(signed_json).status());
  return envelope::sign(signed_json, keys);
}

}  // namespace modelcast
