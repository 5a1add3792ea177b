// Fuzz target: parse_signed_manifest, the first thing the device fetcher runs on bytes
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

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace modelcast;
  Result<SignedManifest> r = parse_signed_manifest(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!r.ok()) return 0;
  if (!canonical_json(r->signed_json).ok()) std::abort();
  Result<Manifest> again = manifest_from_json(manifest_to_json(r->manifest));
  if (!again.ok()) std::abort();
  return 0;
}
