// Fuzz target: the JSON of a Core ML .mlpackage, read as its Manifest.json (item paths
// must stay inside Data/) and as both overlays (FeatureDescriptions.json, Metadata.json)
// applied over a model's metadata.
//
// What it proves, for any bytes: kCorruption or an answer, never a crash or an abort
// (ASan + UBSan); a root model path that is accepted never leaves the package; and the
// metadata after the overlays is safe to print.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "modelcast/canonical_json.h"
#include "modelcast/model_readers.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace modelcast;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  Result<MlpackageLayout> layout = read_mlpackage_manifest(text, "Manifest.json");
  if (!layout.ok() && layout.status().code() != StatusCode::kCorruption) std::abort();
  if (layout.ok()) {
    const std::string& p = layout->root_model;
    if (p.empty() || p[0] == '/' || p == ".." || p.rfind("../", 0) == 0 || p.find("/../") != std::string::npos ||
        (p.size() >= 3 && p.compare(p.size() - 3, 3, "/..") == 0))
      std::abort();
  }
  ModelInfo info;
  info.format = "mlpackage";
  Status s = apply_mlpackage_overlays(text, text, info, "fuzz.mlpackage");
  if (!s.ok() && s.code() != StatusCode::kCorruption) std::abort();
  (void)info.metadata.dump(-1, ' ', false, Json::error_handler_t::strict);  // throws (aborts) on bad UTF-8
  return 0;
}
