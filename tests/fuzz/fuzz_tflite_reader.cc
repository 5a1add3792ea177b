// Fuzz target: read_tflite_buffer, the TFLite reader a device runs on every downloaded
// model before it may become current.
//
// What it proves, for any bytes: the reader returns kCorruption or a ModelInfo, never
// reads outside the buffer, never crashes, loops or aborts (ASan + UBSan); whatever it
// returns is safe to print (every string survives nlohmann's strict UTF-8 dump); and a
// config describing exactly the model it read fits that model, so a reader/checker
// disagreement cannot make a device refuse a good model.
#include <cstdint>
#include <cstdlib>
#include <set>
#include <string>

#include "modelcast/manifest.h"
#include "modelcast/model_info.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace modelcast;
  Result<ModelInfo> r = read_tflite_buffer(data, size, "fuzz.tflite");
  if (!r.ok()) {
    if (r.status().code() != StatusCode::kCorruption) std::abort();
    return 0;
  }
  Json all = {{"metadata", r->metadata}};
  ModelConfig config;
  for (const auto& t : r->inputs) {
    all["names"].push_back(t.name);
    all["dtypes"].push_back(t.dtype);
    config.inputs.push_back({t.name, t.dtype, t.shape, {}});
  }
  for (const auto& t : r->outputs) {
    all["names"].push_back(t.name);
    all["dtypes"].push_back(t.dtype);
    config.outputs.push_back({t.name, t.dtype, t.shape, {}});
  }
  (void)all.dump(-1, ' ', false, Json::error_handler_t::strict);  // throws (aborts) on bad UTF-8
  // Names may repeat in a hostile graph; the first of a name is the one matched, so only
  // require the fit when names are unique.
  if (!check_config_fits(config, *r, "fuzz.tflite").is_ok()) {
    std::set<std::string> in, out;
    for (const auto& t : r->inputs) in.insert(t.name);
    for (const auto& t : r->outputs) out.insert(t.name);
    if (in.size() == r->inputs.size() && out.size() == r->outputs.size()) std::abort();
  }
  return 0;
}
