// A model that is a folder (a Core ML .mlpackage, a TensorFlow SavedModel) published
// through the real CLI: every regular file under the folder, at its path under the
// folder's name, each file its own blob; verify, diff, gc and the catalog with nested
// paths; links and special files refused.
#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <map>

#include "modelcast/fs.h"
#include "modelcast/signed_manifest.h"
#include "modelcast/signed_manifest_v2.h"
#include "publisher_test_util.h"

using namespace modelcast;
using namespace modelcast::test;

namespace {

const std::string kTestData = MODELCAST_SOURCE_DIR "/../shared/testdata";
const std::string kMnist = kTestData + "/coreml/mnist.mlpackage";
const std::string kSavedModel = kTestData + "/tf-savedmodel/times_three_float";

// publish checks the config against the model it ships (inspect reads a SavedModel's
// signature and a Core ML package's description), so each test publishes with the config
// `config init` writes for its model folder.
std::string config_for(const std::string& dir, const std::string& model_folder) {
  RunResult init = run_cli({"config", "init", model_folder});
  REQUIRE_MESSAGE(init.exit_code == 0, init.err);
  const std::string path = dir + "/config-" + std::to_string(std::hash<std::string>()(model_folder)) + ".json";
  write_text(path, init.out);
  return path;
}

std::vector<std::string> publish_args(const Fixture& f, const std::string& config, const std::string& model,
                                      std::vector<std::string> files) {
  std::vector<std::string> args = {"publish", f.tree, "--model", model, "--platform", "ios", "--config", config,
                                   "--key",   f.key,  "--json",  "--quiet"};
  args.insert(args.end(), files.begin(), files.end());
  return args;
}

std::map<std::string, FileEntry> files_by_path(const std::string& manifest_path) {
  auto sm = parse_signed_manifest(read_text(manifest_path));
  REQUIRE_MESSAGE(sm.ok(), sm.status().message());
  std::map<std::string, FileEntry> out;
  for (const auto& f : sm->manifest.files) out[f.path] = f;
  return out;
}

// A writable copy of a read-only test folder.
std::string copy_folder(const std::string& from, const std::string& to) {
  sh("cp -R " + quote(from) + " " + quote(to) + " && chmod -R u+w " + quote(to));
  return to;
}

}  // namespace

TEST_CASE("a folder is published as every file under it, at its path under the folder's name") {
  TempDir dir;
  Fixture f = make_fixture(dir);
  write_text(dir / "labels.txt", "0\n1\n2\n3\n4\n5\n6\n7\n8\n9\n");
  RunResult r = run_cli(publish_args(f, config_for(dir.path(), kMnist), "mnist", {kMnist, dir / "labels.txt"}));
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  Json out = parse_stdout_json(r);
  CHECK(out["version"] == 1);

  std::map<std::string, FileEntry> files = files_by_path(f.tree + "/manifests/mnist/stable/ios.json");
  std::vector<std::string> paths;
  for (const auto& kv : files) paths.push_back(kv.first);
  CHECK(paths == std::vector<std::string>{"labels.txt", "mnist.mlpackage/Data/com.apple.CoreML/FeatureDescriptions.json",
                                          "mnist.mlpackage/Data/com.apple.CoreML/Metadata.json",
                                          "mnist.mlpackage/Data/com.apple.CoreML/mnist.mlmodel",
                                          "mnist.mlpackage/Manifest.json"});
  // Each file is its own content-addressed blob, with the bytes of the file in the folder.
  const FileEntry& model = files.at("mnist.mlpackage/Data/com.apple.CoreML/mnist.mlmodel");
  CHECK(model.size == 395695);
  CHECK(path_exists(f.tree + "/" + model.url));
  CHECK(model.sha256 == sh_out("sha256sum " + quote(kMnist + "/Data/com.apple.CoreML/mnist.mlmodel") + " | cut -c1-64"));

  // The format 2 document lists the same paths.
  auto v2 = parse_signed_manifest_v2(read_text(f.tree + "/v2/manifests/mnist/stable/ios.json"));
  REQUIRE_MESSAGE(v2.ok(), v2.status().message());
  CHECK(v2->manifest.files.size() == 5);

  RunResult ver = run_cli({"verify", f.tree, "--json"});
  CHECK_MESSAGE(ver.exit_code == 0, ver.err);

  Json index = Json::parse(read_text(f.tree + "/index.json"));
  REQUIRE(index["models"].size() == 1);
  CHECK(index["models"][0]["current"]["files"].size() == 5);
  CHECK(read_text(f.tree + "/index.html").find("mnist.mlpackage/Data/com.apple.CoreML/mnist.mlmodel") != std::string::npos);
}

TEST_CASE("a changed file of a folder is the only new blob; diff and gc name nested paths") {
  TempDir dir;
  Fixture f = make_fixture(dir);
  const std::string model = copy_folder(kSavedModel, dir / "times_three_float");
  const std::string config = config_for(dir.path(), model);
  RunResult r1 = run_cli(publish_args(f, config, "times3", {model}));
  REQUIRE_MESSAGE(r1.exit_code == 0, r1.err);
  std::map<std::string, FileEntry> v1 = files_by_path(f.tree + "/manifests/times3/stable/ios.json");
  CHECK(v1.size() == 3);
  REQUIRE(v1.count("times_three_float/variables/variables.data-00000-of-00001"));
  REQUIRE(v1.count("times_three_float/saved_model.pb"));

  // The same folder again is the same version.
  RunResult same = run_cli(publish_args(f, config, "times3", {model}));
  REQUIRE_MESSAGE(same.exit_code == 0, same.err);
  CHECK(parse_stdout_json(same)["status"] == "unchanged");

  // New weights: one new blob, the other two files shared with version 1.
  write_random(model + "/variables/variables.data-00000-of-00001", 96, 42);
  RunResult r2 = run_cli(publish_args(f, config, "times3", {model}));
  REQUIRE_MESSAGE(r2.exit_code == 0, r2.err);
  Json out2 = parse_stdout_json(r2);
  CHECK(out2["version"] == 2);
  std::map<std::string, FileEntry> v2 = files_by_path(f.tree + "/manifests/times3/stable/ios.json");
  CHECK(v2.at("times_three_float/saved_model.pb").sha256 == v1.at("times_three_float/saved_model.pb").sha256);
  CHECK(v2.at("times_three_float/variables/variables.data-00000-of-00001").sha256 !=
        v1.at("times_three_float/variables/variables.data-00000-of-00001").sha256);
  std::vector<std::string> created;
  for (const auto& b : out2["blobs_created"]) created.push_back(b.get<std::string>());
  CHECK(std::count_if(created.begin(), created.end(),
                      [](const std::string& u) { return u.rfind("blobs/", 0) == 0 && u.find(".xf") == std::string::npos; }) == 1);
  CHECK(read_commit(f.tree, "HEAD").message.find("times_three_float/variables/variables.data-00000-of-00001 ") !=
        std::string::npos);

  RunResult diff = run_cli({"diff", f.tree, "--json"});
  REQUIRE_MESSAGE(diff.exit_code == 0, diff.err);
  Json d = parse_stdout_json(diff);
  REQUIRE(d["manifests"].size() == 1);
  REQUIRE(d["manifests"][0]["files"]["changed"].size() == 1);
  CHECK(d["manifests"][0]["files"]["changed"][0]["path"] == "times_three_float/variables/variables.data-00000-of-00001");

  RunResult ver = run_cli({"verify", f.tree});
  CHECK_MESSAGE(ver.exit_code == 0, ver.err);

  // gc keeping one version removes version 1's weights only.
  RunResult gc = run_cli({"gc", f.tree, "--keep", "1", "--grace", "0", "--json"});
  REQUIRE_MESSAGE(gc.exit_code == 0, gc.err);
  CHECK_FALSE(path_exists(f.tree + "/" + v1.at("times_three_float/variables/variables.data-00000-of-00001").url));
  for (const auto& kv : v2) CHECK_MESSAGE(path_exists(f.tree + "/" + kv.second.url), kv.first);
  RunResult after = run_cli({"verify", f.tree});
  CHECK_MESSAGE(after.exit_code == 0, after.err);
}

TEST_CASE("folders keep working beside files, PATH=DIR and --path-prefix") {
  TempDir dir;
  Fixture f = make_fixture(dir);
  write_text(dir / "labels.txt", "a\nb\n");
  // One model per version (the config describes it); the other folder is plain files.
  sh("mkdir -p " + quote(dir / "docs.bundle/en") + " && cd " + quote(dir / "docs.bundle") +
     " && echo a > a.txt && echo b > b.txt && echo c > en/c.txt && echo d > en/d.txt");
  std::vector<std::string> args = publish_args(
      f, config_for(dir.path(), kSavedModel), "mixed",
      {"tf/model=" + kSavedModel, (dir / "docs.bundle") + "/", dir / "labels.txt", "notes/en.txt=" + (dir / "labels.txt")});
  args.insert(args.end(), {"--path-prefix", "assets"});
  RunResult r = run_cli(args);
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  std::map<std::string, FileEntry> files = files_by_path(f.tree + "/manifests/mixed/stable/ios.json");
  CHECK(files.size() == 9);
  CHECK(files.count("tf/model/variables/variables.index"));
  CHECK(files.count("assets/docs.bundle/en/c.txt"));
  CHECK(files.count("assets/labels.txt"));
  CHECK(files.count("notes/en.txt"));
}

TEST_CASE("publish refuses links, special files, escaping and colliding paths inside folders with one error line") {
  TempDir dir;
  Fixture f = make_fixture(dir);
  const std::string head = read_commit(f.tree, "HEAD").id;
  auto refused = [&](const std::vector<std::string>& files, const std::string& needle) {
    RunResult r = run_cli(publish_args(f, f.config, "bad", files));
    CHECK(r.exit_code == 2);
    CHECK_MESSAGE(r.err.rfind("error: ", 0) == 0, r.err);
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    CHECK_MESSAGE(r.err.find(needle) != std::string::npos, r.err);
  };

  const std::string linked = copy_folder(kSavedModel, dir / "linked");
  REQUIRE(::symlink("/etc/passwd", (linked + "/variables/escape").c_str()) == 0);
  refused({linked}, linked + "/variables/escape: a symbolic link");

  const std::string fifo = copy_folder(kSavedModel, dir / "fifo");
  REQUIRE(::mkfifo((fifo + "/assets.pipe").c_str(), 0600) == 0);
  refused({fifo}, fifo + "/assets.pipe: not a regular file or folder");

  const std::string spaced = copy_folder(kSavedModel, dir / "spaced");
  write_text(spaced + "/my labels.txt", "x\n");
  refused({spaced}, "spaced/my labels.txt");

  const std::string cased = copy_folder(kSavedModel, dir / "cased");
  write_text(cased + "/Saved_Model.pb", "x\n");
  refused({cased}, "differ only in case");

  refused({kSavedModel, kSavedModel}, "given twice");
  write_text(dir / "times_three_float", "x");  // not a folder, but the folder's name
  refused({kSavedModel, "times_three_float/saved_model.pb=" + (dir / "times_three_float")}, "given twice");
  refused({"times_three_float=" + (dir / "times_three_float"), kSavedModel}, "also used as a folder");
  refused({"../up=" + kSavedModel}, "..");

  sh("mkdir -p " + quote(dir / "empty/inner"));
  refused({dir / "empty"}, "a folder with no files");

  std::string deep = dir / "deep";
  for (int i = 0; i < 9; ++i) deep += "/d";
  sh("mkdir -p " + quote(deep));
  write_text(deep + "/f", "x");
  refused({dir / "deep"}, "nested deeper");

  CHECK(read_commit(f.tree, "HEAD").id == head);
}

TEST_CASE("an iOS stream requires the minimum iOS its Core ML model states; an older --min-os is refused") {
  TempDir dir;
  Fixture f = make_fixture(dir);
  const std::string config = config_for(dir.path(), kMnist);
  auto min_os_of = [&](const std::string& platform) {
    auto sm = parse_signed_manifest_v2(read_text(f.tree + "/v2/manifests/mnist/stable/" + platform + ".json"));
    REQUIRE_MESSAGE(sm.ok(), sm.status().message());
    return sm->manifest.requirements.min_os_version;
  };
  // Apple's MNIST is specificationVersion 1: iOS 11.
  RunResult ios = run_cli(publish_args(f, config, "mnist", {kMnist}));
  REQUIRE_MESSAGE(ios.exit_code == 0, ios.err);
  CHECK(min_os_of("ios") == "11.0");

  std::vector<std::string> older = publish_args(f, config, "mnist", {kMnist});
  older.insert(older.end() - 1, {"--min-os", "10.3"});
  RunResult refused = run_cli(older);
  CHECK(refused.exit_code == 1);
  CHECK(refused.err.find("--min-os 10.3: the Core ML model needs iOS 11.0") != std::string::npos);

  std::vector<std::string> newer = publish_args(f, config, "mnist", {kMnist});
  newer.insert(newer.end() - 1, {"--min-os", "17.0"});
  RunResult raised = run_cli(newer);
  REQUIRE_MESSAGE(raised.exit_code == 0, raised.err);
  CHECK(min_os_of("ios") == "17.0");

  // Another platform's OS version is not iOS's: nothing is required unless --min-os says so.
  std::vector<std::string> mac = publish_args(f, config, "mnist", {kMnist});
  std::replace(mac.begin(), mac.end(), std::string("ios"), std::string("macos"));
  RunResult macos = run_cli(mac);
  REQUIRE_MESSAGE(macos.exit_code == 0, macos.err);
  CHECK(min_os_of("macos").empty());
}
