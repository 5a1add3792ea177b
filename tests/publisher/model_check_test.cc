// publish checks the config against the model files it can read (TFLite, ONNX) before
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

