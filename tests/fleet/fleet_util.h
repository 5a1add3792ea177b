// Helpers for the fleet tests: a tree made by the real `modelcast` publisher CLI (a git
// repository) with the real selfie-segmentation TFLite models, served by nginx behind the
// fault proxy, and devices that are `modelcast-fetch` processes with a cache each.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "fetch_test_util.h"
#include "modelcast/canonical_json.h"

namespace modelcast::testing {

// The real models from scripts/fetch-testdata (MODELCAST_TESTDATA or <repo>/.testdata).
std::string selfie_model(const std::string& file);
bool have_selfie_models();

// `modelcast init` + `modelcast keygen` in a fresh folder; publish() configures and
// publishes one model file as model.tflite, one git commit each.
class PublishedTree {
 public:
  PublishedTree(std::string publisher_cli, std::string root);
  bool init(std::string* error);
  // `modelcast config init` for the file, then `modelcast publish`; the manifest's mtime
  // is moved ahead so nginx's ETag changes even within the same second.
  bool publish(const std::string& model_file, const std::string& platform, std::string* error);
  const std::string& tree() const { return tree_; }
  std::string pubkey() const { return key_ + ".pub"; }
  std::string manifest_url(const std::string& platform) const { return "/manifests/selfie/stable/" + platform + ".json"; }
  std::string versioned_manifest_url(const std::string& platform, uint64_t v) const {
    return "/manifests/selfie/stable/" + platform + "/" + std::to_string(v) + ".json";
  }

 private:
  std::string cli_, root_, tree_, key_;
};

// One `modelcast-fetch update --json` run.
struct DeviceUpdate {
  int exit_code = -1;
  Json json;  // null when the output was not one JSON object
  std::string err;
};
DeviceUpdate run_device_update(const std::vector<std::string>& argv);

// Runs fn(0..n-1) on `workers` threads.
void parallel_for(int n, int workers, const std::function<void(int)>& fn);

// `modelcast-fetch open --verify --json` succeeds and every file it lists hashes (here,
// independently) to its SHA-256. Sets the active version.
bool cache_holds_verified_model(const std::string& fetch_cli, const std::string& cache, uint64_t* version,
                                std::string* problem);

}  // namespace modelcast::testing
