// `modelcast config init` and `modelcast inspect`: the CLI face of the model readers.
// Each returns the process exit code of publisher/README.md (0 ok, 1 failure) and prints the result
// on stdout (JSON when asked), errors as one "error: ..." line on stderr.
#pragma once

#include <string>
#include <vector>

#include "modelcast/canonical_json.h"
#include "modelcast/model_info.h"
#include "modelcast/status.h"

namespace modelcast {

struct ConfigInitOptions {
  std::string model_file;             // a model file, or a model folder (SavedModel, .mlpackage)
  std::string labels_file;            // optional: one label per line
  std::vector<std::string> features;  // optional
  // Optional: the model outputs to keep, by name (a GraphDef's outputs are only
  // candidates); every name must be one of the model's.
  std::vector<std::string> outputs;
};
int run_config_init(const ConfigInitOptions& options);

int run_inspect(const std::string& model_file, bool json);

// The values behind the two commands, for callers that want them without stdout: the
// config run_config_init prints (already accepted by config_from_json and
// check_config_fits), and the object `inspect --json` prints.
Result<Json> config_init_json(const ConfigInitOptions& options);
Json inspect_to_json(const std::string& model_file, const ModelInfo& model);

}  // namespace modelcast
