// Fuzz target: read_onnx_buffer, the ONNX reader behind `modelcast config init` and
// `modelcast inspect` (publisher side; the models come from users and CI artifacts).
//
// What it proves, for any bytes: the reader returns kCorruption or a ModelInfo, never
// crashes, loops or aborts under ASan + UBSan (protobuf's recursion and size limits hold);
// every string it returns survives nlohmann's strict UTF-8 dump, so inspect --json cannot
// throw; and a config describing exactly the model it read fits that model.
#include <cstdint>
#include <cstdlib>
#include <set>
#include <string>

#include "model_inspect.h"
#include "modelcast/manifest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace modelcast;
  Result<ModelInfo> r = read_onnx_buffer(data, size, "fuzz.onnx");
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
  if (!check_config_fits(config, *r, "fuzz.onnx").is_ok()) {
    std::set<std::string> in, out;
    for (const auto& t : r->inputs) in.insert(t.name);
    for (const auto& t : r->outputs) out.insert(t.name);
    if (in.size() == r->inputs.size() && out.size() == r->outputs.size()) std::abort();
  }
  return 0;
}
