// The manifest envelope {"signed": {...}, "signatures": [{"keyid", "sig"}]}: reading it
// from untrusted bytes, signing it and verifying it against pinned keys.
//
// Verification is over the RFC 8785 bytes of the `signed` object exactly as received, so
// a reader never re-serialises before checking. Functions are pure and thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "modelcast/manifest.h"
#include "modelcast/signing.h"

namespace modelcast {

constexpr size_t kMaxSignatures = 16;

struct SignatureEntry {
  std::string keyid;  // 64 hex
  std::string sig;    // base64 of 64 bytes
};

struct SignedManifest {
  Manifest manifest;
  Json signed_json;  // the `signed` object as received
  std::vector<SignatureEntry> signatures;
};

// Parses (at most kMaxManifestBytes) and validates the structure and every field.
// Does not check signatures or expiry: see verify_signatures and check_fresh.
Result<SignedManifest> parse_signed_manifest(std::string_view bytes);

// OK when at least `threshold` distinct trusted keys signed the canonical bytes.
Status verify_signatures(const SignedManifest& m, const std::vector<PublicKey>& trusted, size_t threshold);

// kExpired when now >= expires_at.
Status check_fresh(const Manifest& m, int64_t now_unix);

// Signs `manifest` with every key; returns the pretty envelope text written to disk.
Result<std::string> sign_manifest(const Manifest& manifest, const std::vector<const PrivateKey*>& keys);

}  // namespace modelcast
