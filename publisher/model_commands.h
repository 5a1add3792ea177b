// `modelcast config init` and `modelcast inspect`: the CLI face of the model readers.
// Each returns the process exit code of DESIGN.md (0 ok, 1 failure) and prints the result
// on stdout (JSON when asked), errors as one "error: ..." line on stderr.
#pragma once

#include <string>
#include <vector>

namespace modelcast {

struct ConfigInitOptions {
  std::string model_file;
  std::string labels_file;            // optional: one label per line
  std::vector<std::string> features;  // optional
};
int run_config_init(const ConfigInitOptions& options);

int run_inspect(const std::string& model_file, bool json);

}  // namespace modelcast
