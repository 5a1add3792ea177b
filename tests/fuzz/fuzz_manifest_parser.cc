// Fuzz target: parse_signed_manifest and parse_signed_manifest_v2, the first thing the device fetcher runs on bytes
// from the network (before any signature check, so an attacker controls all of them).
//
// What it proves, for any bytes: the parser returns an error or a manifest, never
// crashes, loops, throws or aborts under ASan + UBSan; and a manifest it accepts is
// stable: its `signed` object has canonical bytes (what signatures cover), and writing
// the parsed manifest back to JSON and reading that again succeeds.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "modelcast/canonical_json.h"
#include "modelcast/signed_manifest.h"
#include "modelcast/signed_manifest_v2.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace modelcast;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  if (Result<SignedManifest> r = parse_signed_manifest(bytes); r.ok()) {
    if (!canonical_json(r->signed_json).ok()) std::abort();
    if (!manifest_from_json(manifest_to_json(r->manifest)).ok()) std::abort();
  }
  if (Result<SignedManifestV2> r = parse_signed_manifest_v2(bytes); r.ok()) {
    if (!canonical_json(r->signed_json).ok()) std::abort();
    // Writing drops skipped entries; a file left without blobs cannot be written back.
    bool every_file_has_a_blob = true;
    for (const auto& f : r->manifest.files) every_file_has_a_blob = every_file_has_a_blob && !f.blobs.empty();
    if (every_file_has_a_blob && !manifest_v2_from_json(manifest_v2_to_json(r->manifest)).ok()) std::abort();
  }
  return 0;
}
