// The envelope both manifest formats share, {"signed": {...}, "signatures": [...]}
// (internal to the library): reading it from untrusted bytes, checking signatures over
// the canonical bytes of `signed` as received, and writing it.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "modelcast/canonical_json.h"
#include "modelcast/signed_manifest.h"

namespace modelcast::envelope {

struct Envelope {
  Json signed_json;
  std::vector<SignatureEntry> signatures;
};

// Parses at most kMaxManifestBytes and checks the envelope; `signed` is not validated.
Result<Envelope> parse(std::string_view bytes);

Status verify(const Json& signed_json, const std::vector<SignatureEntry>& signatures,
              const std::vector<PublicKey>& trusted, size_t threshold);

Status check_fresh(const std::string& expires_at, const std::string& what, int64_t now_unix);

// The pretty envelope text of `signed_json` signed by every key.
Result<std::string> sign(const Json& signed_json, const std::vector<const PrivateKey*>& keys);

}  // namespace modelcast::envelope
