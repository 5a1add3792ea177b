// publish checks the config against the model files a reader claims (TFLite, ONNX, TensorFlow, Core ML) before
// writing anything; `config init` and `inspect` are wired into the same binary.
#include <doctest/doctest.h>
#include <unistd.h>

#include "modelcast/fs.h"
#include "publisher_test_util.h"

using namespace modelcast;
using namespace modelcast::test;


TEST_CASE("publish refuses a file that claims to be TFLite but is not, and writes nothing") {
  TempDir dir;
  Fixture f = make_fixture(dir);
  write_random(dir / "model.tflite", 5000, 51);
  std::string head = read_commit(f.tree, "HEAD").id;
  RunResult r = run_cli({"publish", f.tree, "--model", "m", "--platform", "android", "--config", f.config, "--key", f.key,
                         dir / "model.tflite"});
  CHECK(r.exit_code == 1);
  CHECK(r.err.rfind("error: ", 0) == 0);
  CHECK(r.err.find("model.tflite") != std::string::npos);
  CHECK(read_commit(f.tree, "HEAD").id == head);
  CHECK_FALSE(path_exists(f.tree + "/manifests/m"));
}

TEST_CASE("a config from `config init` publishes; one that does not fit the model is refused") {
  const std::string model = std::string(MODELCAST_SOURCE_DIR) + "/.testdata/mediapipe-selfie/package/selfie_segmentation.tflite";
  if (::access(model.c_str(), R_OK) != 0) {
    MESSAGE("skipped: run scripts/fetch-testdata for the MediaPipe TFLite model");
    return;
  }
  TempDir dir;
  Fixture f = make_fixture(dir);
  RunResult init = run_cli({"config", "init", model});
  REQUIRE_MESSAGE(init.exit_code == 0, init.err);
  write_text(dir / "fits.json", init.out);
  RunResult ok = run_cli({"publish", f.tree, "--model", "selfie", "--platform", "web", "--config", dir / "fits.json", "--key",
                          f.key, "--json", model});
  REQUIRE_MESSAGE(ok.exit_code == 0, ok.err);
  CHECK(parse_stdout_json(ok)["version"] == 1);

  Json wrong = Json::parse(init.out);
  wrong["outputs"][0]["shape"] = Json::array({1, 256, 256, 2});
  write_text(dir / "wrong.json", wrong.dump());
  std::string head = read_commit(f.tree, "HEAD").id;
  RunResult bad = run_cli({"publish", f.tree, "--model", "selfie", "--platform", "web", "--config", dir / "wrong.json",
                           "--key", f.key, model});
  CHECK(bad.exit_code == 1);
  CHECK(bad.err.rfind("error: ", 0) == 0);
  CHECK(bad.err.find("activation_10") != std::string::npos);
  CHECK(read_commit(f.tree, "HEAD").id == head);

  RunResult inspect = run_cli({"inspect", model, "--json"});
  CHECK(inspect.exit_code == 0);
  CHECK(parse_stdout_json(inspect)["inputs"][0]["name"] == "input_1");
}


TEST_CASE("publish checks a Core ML model and a SavedModel's signature as it checks TFLite: same messages, nothing written") {
  const std::string shared = std::string(MODELCAST_SOURCE_DIR) + "/../shared/testdata";
  const std::string mnist = shared + "/coreml/mnist.mlpackage/Data/com.apple.CoreML/mnist.mlmodel";
  const std::string saved = shared + "/tf-savedmodel/int64_multiply/saved_model.pb";
  if (::access(mnist.c_str(), R_OK) != 0 || ::access(saved.c_str(), R_OK) != 0) {
    MESSAGE("skipped: no " << shared);
    return;
  }
  TempDir dir;
  Fixture f = make_fixture(dir);
  RunResult init = run_cli({"config", "init", mnist});
  REQUIRE_MESSAGE(init.exit_code == 0, init.err);
  Json config = Json::parse(init.out);
  Json three = config;
  for (auto& o : three["outputs"])
    if (o["name"] == "labelProbabilities") o["labels"] = Json::array({"zero", "one", "two"});
  write_text(dir / "three.json", three.dump());
  const std::string head = read_commit(f.tree, "HEAD").id;
  RunResult refused = run_cli({"publish", f.tree, "--model", "mnist", "--platform", "ios", "--config", dir / "three.json",
                               "--key", f.key, mnist});
  CHECK(refused.exit_code == 1);
  CHECK(refused.err == "error: " + mnist +
                           ": config output \"labelProbabilities\": 3 labels but the model's class dimension is 10\n");
  CHECK(read_commit(f.tree, "HEAD").id == head);

  write_text(dir / "fits.json", config.dump());
  RunResult ok = run_cli({"publish", f.tree, "--model", "mnist", "--platform", "ios", "--config", dir / "fits.json", "--key",
                          f.key, "--json", mnist});
  REQUIRE_MESSAGE(ok.exit_code == 0, ok.err);

  Json tf = {{"inputs", {{{"name", "input_1"}, {"dtype", "int64"}, {"shape", {2}}}}}, {"outputs", Json::array()}};
  write_text(dir / "tf.json", tf.dump());
  RunResult wrong_name = run_cli({"publish", f.tree, "--model", "tf", "--platform", "linux", "--config", dir / "tf.json",
                                  "--key", f.key, saved});
  CHECK(wrong_name.exit_code == 1);
  CHECK(wrong_name.err.find("config input \"input_1\": the model has no input of that name (its inputs: \"x\")") !=
        std::string::npos);
}
