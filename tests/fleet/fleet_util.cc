#include "fleet_util.h"

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <thread>

#include "modelcast/sha256.h"

namespace modelcast::testing {

std::string selfie_model(const std::string& file) {
  const char* env = std::getenv("MODELCAST_TESTDATA");
  std::string dir = env != nullptr && *env != '\0' ? std::string(env) : std::string(MODELCAST_SOURCE_DIR) + "/.testdata";
  return dir + "/mediapipe-selfie/package/" + file;
}

bool have_selfie_models() {
  return ::access(selfie_model("selfie_segmentation.tflite").c_str(), R_OK) == 0 &&
         ::access(selfie_model("selfie_segmentation_landscape.tflite").c_str(), R_OK) == 0;
}

PublishedTree::PublishedTree(std::string publisher_cli, std::string root)
    : cli_(std::move(publisher_cli)), root_(std::move(root)), tree_(root_ + "/tree"), key_(root_ + "/publisher.key") {}

bool PublishedTree::init(std::string* error) {
  for (const auto& argv : {std::vector<std::string>{cli_, "init", tree_}, std::vector<std::string>{cli_, "keygen", "--out", key_}}) {
    CommandResult r = run_command(argv);
    if (r.exit_code != 0) {
      *error = argv[1] + ": " + r.err;
      return false;
    }
  }
  return true;
}

bool PublishedTree::publish(const std::string& model_file, const std::string& platform, std::string* error) {
  CommandResult config = run_command({cli_, "config", "init", model_file});
  if (config.exit_code != 0) {
    *error = "config init: " + config.err;
    return false;
  }
  const std::string config_path = root_ + "/config.json";
  write_all(config_path, config.out);
  CommandResult r = run_command({cli_, "publish", tree_, "--model", "selfie", "--platform", platform, "--config", config_path,
                                 "--key", key_, "--quiet", "model.tflite=" + model_file});
  if (r.exit_code != 0) {
    *error = "publish: " + r.err;
    return false;
  }
  touch_later(tree_ + manifest_url(platform), 5);
  touch_later(tree_ + "/v2" + manifest_url(platform), 5);  // what devices read first
  return true;
}

DeviceUpdate run_device_update(const std::vector<std::string>& argv) {
  CommandResult r = run_command(argv);
  DeviceUpdate d;
  d.exit_code = r.exit_code;
  d.err = r.err;
  d.json = Json::parse(r.out, nullptr, false);
  if (d.json.is_discarded() || !d.json.is_object()) d.json = nullptr;
  return d;
}

void parallel_for(int n, int workers, const std::function<void(int)>& fn) {
  std::atomic<int> next{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < workers; ++w)
    threads.emplace_back([&] {
      for (int i; (i = next++) < n;) fn(i);
    });
  for (auto& t : threads) t.join();
}

bool cache_holds_verified_model(const std::string& fetch_cli, const std::string& cache, uint64_t* version,
                                std::string* problem) {
  CommandResult r = run_command({fetch_cli, "open", "--cache", cache, "--model", "selfie", "--verify", "--json"});
  if (r.exit_code != 0) {
    *problem = "open exits " + std::to_string(r.exit_code) + ": " + r.err;
    return false;
  }
  Json j = Json::parse(r.out, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("files") || !j["files"].is_array() || j["files"].empty()) {
    *problem = "open --json printed no file list: " + r.out;
    return false;
  }
  *version = j.value("version", uint64_t{0});
  for (const auto& f : j["files"]) {
    auto digest = sha256_file(f.value("full_path", std::string()));
    if (!digest.ok() || digest->sha256 != f.value("sha256", std::string()) || digest->size != f.value("size", uint64_t{0})) {
      *problem = f.value("full_path", std::string()) + ": content differs from the manifest";
      return false;
    }
  }
  return true;
}

}  // namespace modelcast::testing
