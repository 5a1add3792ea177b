// What every model-reader fuzz target asserts about a reader's answer, in one place:
// only kCorruption on failure; on success, every string survives nlohmann's strict UTF-8
// dump, and a config describing exactly the model read fits that model. Aborts otherwise.
#pragma once

#include <cstdlib>
#include <set>
#include <string>

#include "modelcast/manifest.h"
#include "modelcast/model_info.h"

namespace modelcast {

inline int check_reader_result(const Result<ModelInfo>& r, const char* what) {
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
  if (!check_config_fits(config, *r, what).ok()) {
    std::set<std::string> in, out;
    for (const auto& t : r->inputs) in.insert(t.name);
    for (const auto& t : r->outputs) out.insert(t.name);
    if (in.size() == r->inputs.size() && out.size() == r->outputs.size()) std::abort();
  }
  return 0;
}

}  // namespace modelcast
