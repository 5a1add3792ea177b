// The format 2 document in its envelope: the same envelope, signatures, canonical form and
// expiry as format 1 (signed_manifest.h), with a `signed` of schema modelcast/manifest/2.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "modelcast/manifest_v2.h"
#include "modelcast/signed_manifest.h"

namespace modelcast {

struct SignedManifestV2 {
  ManifestV2 manifest;
  Json signed_json;  // the `signed` object as received
  std::vector<SignatureEntry> signatures;
};

// Parses (at most kMaxManifestBytes) and validates; no signature or expiry check.
Result<SignedManifestV2> parse_signed_manifest_v2(std::string_view bytes);
Status verify_signatures(const SignedManifestV2& m, const std::vector<PublicKey>& trusted, size_t threshold);
// kExpired when now >= expires_at.
Status check_fresh(const ManifestV2& m, int64_t now_unix);
// Signs `manifest` with every key; returns the pretty envelope text written to disk.
Result<std::string> sign_manifest_v2(const ManifestV2& manifest, const std::vector<const PrivateKey*>& keys);

}  // namespace modelcast
