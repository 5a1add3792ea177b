// A model that is a folder on the device: a Core ML .mlpackage and a TensorFlow SavedModel
// published by the real CLI, served by nginx, installed by the real fetcher in the same
// nested layout (hard links of verified blobs), and opened at its root.
#include <sys/stat.h>

#include <filesystem>
#include <map>

#include "fleet_env.h"

using namespace modelcast;
using namespace modelcast::testing;

namespace {

const std::string kTestData = MODELCAST_SOURCE_DIR "/../shared/testdata";
const std::string kMnist = kTestData + "/coreml/mnist.mlpackage";
const std::string kSavedModel = kTestData + "/tf-savedmodel/times_three_float";

// Publish checks the config against the model (and the device checks again): each model
// folder ships with the config `config init` reads from it.
CommandResult publish(FleetEnv& env, const std::string& model, const std::vector<std::string>& files) {
  CommandResult init = FleetEnv::cli({"config", "init", files.front()});
  REQUIRE_MESSAGE(init.exit_code == 0, init.err);
  const std::string config = env.work / ("config-" + model + ".json");
  write_all(config, init.out);
  std::vector<std::string> args = {"publish", env.tree, "--model", model, "--platform", "android-arm64", "--config",
                                   config, "--key", env.key, "--quiet", "--json"};
  args.insert(args.end(), files.begin(), files.end());
  return FleetEnv::cli(args);
}

UpdateResult update(const FleetEnv& env, const std::string& cache, const std::string& model) {
  auto f = Fetcher::create(env.device(cache));
  REQUIRE_MESSAGE(f.ok(), f.status().message());
  return (*f)->update(model);
}

// Every regular file under `dir`, relative, with its bytes.
std::map<std::string, std::string> tree_of(const std::string& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir))
    if (e.is_regular_file()) out[std::filesystem::relative(e.path(), dir).string()] = read_all(e.path().string());
  return out;
}

}  // namespace

TEST_CASE("an .mlpackage is installed as the same folder and opened at its root") {
  FleetEnv env;
  TempDir cache;
  CommandResult p = publish(env, "mnist", {kMnist});
  REQUIRE_MESSAGE(p.exit_code == 0, p.err);
  UpdateResult r = update(env, cache.path(), "mnist");
  REQUIRE_MESSAGE(r.status == UpdateStatus::kUpdated, (r.reason + ": " + r.message));
  CHECK(r.files_downloaded == 4);

  auto opened = open_cached_model(cache.path(), "mnist");
  REQUIRE_MESSAGE(opened.ok(), opened.status().message());
  CHECK(opened->root == opened->path + "/mnist.mlpackage");
  // The folder holds exactly the package, byte for byte.
  CHECK(tree_of(opened->root) == tree_of(kMnist));
  CHECK(tree_of(opened->path).size() == 4);
  // Hard links of the cache's verified blobs, not copies.
  struct stat st;
  REQUIRE(::stat((opened->root + "/Data/com.apple.CoreML/mnist.mlmodel").c_str(), &st) == 0);
  CHECK(st.st_nlink >= 2);

  CommandResult cli = run_command({MODELCAST_FETCH_CLI, "open", "--cache", cache.path(), "--model", "mnist", "--json"});
  REQUIRE_MESSAGE(cli.exit_code == 0, cli.err);
  Json j = Json::parse(cli.out);
  CHECK(j["root"] == opened->root);
  CHECK(j["path"] == opened->path);
  CHECK(j["files"].size() == 4);
}

TEST_CASE("a SavedModel's new weights replace one file; a version with two top-level entries opens at its folder") {
  FleetEnv env;
  TempDir cache;
  const std::string model = env.work / "times_three_float";
  std::filesystem::copy(kSavedModel, model, std::filesystem::copy_options::recursive);
  for (const auto& e : std::filesystem::recursive_directory_iterator(model))
    std::filesystem::permissions(e.path(), std::filesystem::perms::owner_write, std::filesystem::perm_options::add);
  CommandResult p1 = publish(env, "times3", {model});
  REQUIRE_MESSAGE(p1.exit_code == 0, p1.err);
  UpdateResult r1 = update(env, cache.path(), "times3");
  REQUIRE_MESSAGE(r1.status == UpdateStatus::kUpdated, (r1.reason + ": " + r1.message));
  auto v1 = open_cached_model(cache.path(), "times3");
  REQUIRE(v1.ok());
  CHECK(v1->root == v1->path + "/times_three_float");
  CHECK(read_all(v1->root + "/variables/variables.data-00000-of-00001") ==
        read_all(kSavedModel + "/variables/variables.data-00000-of-00001"));

  const std::string new_weights = random_bytes(96, 5);
  write_all(model + "/variables/variables.data-00000-of-00001", new_weights);
  write_all(env.work / "labels.txt", "x\n");
  CommandResult p2 = publish(env, "times3", {model, env.work / "labels.txt"});
  REQUIRE_MESSAGE(p2.exit_code == 0, p2.err);
  UpdateResult r2 = update(env, cache.path(), "times3");
  REQUIRE_MESSAGE(r2.status == UpdateStatus::kUpdated, (r2.reason + ": " + r2.message));
  CHECK(r2.files_downloaded == 2);  // the weights and labels.txt
  CHECK(r2.files_reused == 2);      // saved_model.pb and variables.index
  auto v2 = open_cached_model(cache.path(), "times3");
  REQUIRE(v2.ok());
  CHECK(v2->version == 2);
  CHECK(v2->root == v2->path);  // two top-level entries: the app picks
  CHECK(read_all(v2->path + "/times_three_float/variables/variables.data-00000-of-00001") == new_weights);
  // Version 1 is kept, unchanged, for readers that still hold it.
  CHECK(read_all(v1->root + "/variables/variables.data-00000-of-00001") ==
        read_all(kSavedModel + "/variables/variables.data-00000-of-00001"));
}
