// config init and check_config_fits: a generated config is accepted by the same validator
// and fit check `modelcast publish` runs, labels land on the output they describe, and
// every way a config can disagree with its model is refused with a message naming the
// tensor and both values.

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <thread>

#include "model_commands.h"
#include "model_inspect.h"
#include "model_test_util.h"
#include "modelcast/canonical_json.h"
#include "modelcast/manifest.h"

using namespace modelcast;
using namespace modelcast_test;

namespace {

// A classifier-shaped model: one image input, scores over 3 classes, 10 boxes of 4.
FakeModel classifier() {
  FakeModel m;
  m.inputs = {{"image", tflite::TensorType_FLOAT32, {1, 224, 224, 3}, {-1, 224, 224, 3}}};
  m.outputs = {{"scores", tflite::TensorType_FLOAT32, {1, 3}, {}},
               {"boxes", tflite::TensorType_FLOAT32, {1, 10, 4}, {}}};
  return m;
}

ModelInfo info_of(const FakeModel& m) {
  std::string bytes = build_tflite(m);
  Result<ModelInfo> r = read_tflite_buffer(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "model.tflite");
  REQUIRE_MESSAGE(r.ok(), r.status().message());
  return std::move(r).value();
}

ModelConfig config_of(const Json& j) {
  Result<ModelConfig> c = config_from_json(j, "config.json");
  REQUIRE_MESSAGE(c.ok(), c.status().message());
  return std::move(c).value();
}

// The config init would write for `info`, spelt out by hand.
Json matching_config() {
  return {{"inputs", {{{"name", "image"}, {"dtype", "float32"}, {"shape", {1, 224, 224, 3}}}}},
          {"outputs",
           {{{"name", "scores"}, {"dtype", "float32"}, {"shape", {1, 3}}, {"labels", {"cat", "dog", "bird"}}},
            {{"name", "boxes"}, {"dtype", "float32"}, {"shape", {1, 10, 4}}}}}};
}

std::string mismatch_message(const Json& config, const ModelInfo& model) {
  Status s = check_config_fits(config_of(config), model, "model.tflite");
  REQUIRE_FALSE(s.ok());
  CHECK(s.code() == StatusCode::kConfigMismatch);
  return s.message();
}

// Runs `fn` with stdout and stderr redirected to files; returns {exit code, out, err}.
struct Captured {
  int code;
  std::string out, err;
};
template <typename Fn>
Captured capture(const TempDir& dir, Fn fn) {
  std::fflush(stdout);
  std::cout.flush();
  std::cerr.flush();
  int saved_out = ::dup(1), saved_err = ::dup(2);
  int out = ::open((dir / "stdout").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  int err = ::open((dir / "stderr").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ::dup2(out, 1);
  ::dup2(err, 2);
  int code = fn();
  std::cout.flush();
  std::cerr.flush();
  std::fflush(stdout);
  ::dup2(saved_out, 1);
  ::dup2(saved_err, 2);
  ::close(out);
  ::close(err);
  ::close(saved_out);
  ::close(saved_err);
  return {code, read_all((dir / "stdout")), read_all((dir / "stderr"))};
}

}  // namespace

TEST_CASE("a config that describes the model fits, with -1 matching a fixed dimension either way") {
  ModelInfo model = info_of(classifier());
  CHECK(check_config_fits(config_of(matching_config()), model, "model.tflite").ok());

  Json dynamic = matching_config();
  dynamic["inputs"][0]["shape"] = {-1, 224, 224, 3};  // model: -1 from shape_signature
  dynamic["outputs"][1]["shape"] = {1, -1, 4};        // model: fixed 10
  CHECK(check_config_fits(config_of(dynamic), model, "model.tflite").ok());

  // Describing a subset of outputs is allowed: the app may ignore one.
  Json subset = matching_config();
  subset["outputs"].erase(1);
  CHECK(check_config_fits(config_of(subset), model, "model.tflite").ok());
}

TEST_CASE("a config with 3 outputs for a model with 2 is a config mismatch") {
  ModelInfo model = info_of(classifier());
  Json c = matching_config();
  c["outputs"].push_back({{"name", "extra"}, {"dtype", "float32"}, {"shape", {1}}});
  CHECK(mismatch_message(c, model) ==
        "model.tflite: config lists 3 outputs but the model has 2 (\"scores\", \"boxes\")");
}

TEST_CASE("3 labels for a class dimension of 2 is a config mismatch naming the output") {
  FakeModel m = classifier();
  m.outputs[0].shape = {1, 2};
  CHECK(mismatch_message(matching_config(), info_of(m)) ==
        "model.tflite: config output \"scores\": 3 labels but the model's class dimension is 2");
}

TEST_CASE("a wrong dtype, rank, dimension or name is a config mismatch naming both values") {
  ModelInfo model = info_of(classifier());
  Json dtype = matching_config();
  dtype["inputs"][0]["dtype"] = "uint8";
  CHECK(mismatch_message(dtype, model) == "model.tflite: config input \"image\": dtype \"uint8\" but the model's is \"float32\"");

  Json rank = matching_config();
  rank["outputs"][1]["shape"] = {10, 4};
  CHECK(mismatch_message(rank, model) ==
        "model.tflite: config output \"boxes\": shape [10,4] has rank 2 but the model's [1,10,4] has rank 3");

  Json dim = matching_config();
  dim["inputs"][0]["shape"] = {1, 256, 256, 3};
  CHECK(mismatch_message(dim, model) == "model.tflite: config input \"image\": shape [1,256,256,3] does not match the "
                                        "model's [-1,224,224,3] (dimension 1: 256 vs 224)");

  Json name = matching_config();
  name["inputs"][0]["name"] = "pixels";
  CHECK(mismatch_message(name, model) ==
        "model.tflite: config input \"pixels\": the model has no input of that name (its inputs: \"image\")");
}

TEST_CASE("labels on a dynamic class dimension are checked against the config's own shape") {
  FakeModel m = classifier();
  m.outputs[0].signature = {1, -1};
  ModelInfo model = info_of(m);
  CHECK(check_config_fits(config_of(matching_config()), model, "model.tflite").ok());
  Json c = matching_config();
  c["outputs"][0]["shape"] = {1, 4};
  CHECK(mismatch_message(c, model) == "model.tflite: config output \"scores\": 3 labels but the model's class dimension is 4");
}

TEST_CASE("an opaque model cannot contradict a config") {
  ModelInfo opaque;
  opaque.format = "opaque";
  CHECK(check_config_fits(config_of(matching_config()), opaque, "model.mlmodel").ok());
}

TEST_CASE("config init attaches labels to the output whose class dimension matches, and publish accepts it") {
  TempDir dir;
  write_all((dir / "model.tflite"), build_tflite(classifier()));
  write_all((dir / "labels.txt"), "cat\r\ndog\r\nbird\r\n\r\n");
  write_all((dir / "corners.txt"), "x0\ny0\nx1\ny1");
  ConfigInitOptions options;
  options.model_file = (dir / "model.tflite");
  options.labels_file = (dir / "labels.txt");
  options.features = {"camera_frame,face_box", "camera_frame"};
  Result<Json> j = config_init_json(options);
  REQUIRE_MESSAGE(j.ok(), j.status().message());
  ModelConfig c = config_of(*j);
  REQUIRE(c.outputs.size() == 2);
  CHECK(c.outputs[0].labels == std::vector<std::string>{"cat", "dog", "bird"});
  CHECK(c.outputs[1].labels.empty());
  CHECK(c.inputs[0].shape == std::vector<int64_t>{-1, 224, 224, 3});
  CHECK(c.features == std::vector<std::string>{"camera_frame", "face_box"});
  CHECK(c.metadata["format"] == "tflite");
  CHECK(c.metadata["description"] == "synthetic test model");
  CHECK(canonical_json(*j).ok());  // signable as it is: no floats, safe integers
  CHECK(check_config_fits(c, info_of(classifier()), "model.tflite").ok());

  options.labels_file = (dir / "corners.txt");
  Result<Json> corners = config_init_json(options);
  REQUIRE(corners.ok());
  CHECK(config_of(*corners).outputs[1].labels.size() == 4);

  write_all((dir / "five.txt"), "a\nb\nc\nd\ne\n");
  options.labels_file = (dir / "five.txt");
  Result<Json> none = config_init_json(options);
  REQUIRE_FALSE(none.ok());
  CHECK(none.status().code() == StatusCode::kConfigMismatch);
  CHECK(none.status().message() == (dir / "five.txt") + ": 5 labels but no model output has a class dimension of 5 "
                                                          "(outputs: \"scores\" [1,3], \"boxes\" [1,10,4])");

  options.labels_file.clear();
  options.features = {"../etc"};
  Result<Json> bad_feature = config_init_json(options);
  REQUIRE_FALSE(bad_feature.ok());
  CHECK(bad_feature.status().message().find("--features \"../etc\"") == 0);
}

TEST_CASE("config init picks the first of two outputs that could take the labels, and says so") {
  FakeModel m = classifier();
  m.outputs.push_back({"scores2", tflite::TensorType_FLOAT32, {1, 3}, {}});
  TempDir dir;
  write_all((dir / "model.tflite"), build_tflite(m));
  write_all((dir / "labels.txt"), "cat\ndog\nbird\n");
  ConfigInitOptions options;
  options.model_file = (dir / "model.tflite");
  options.labels_file = (dir / "labels.txt");
  Captured c = capture(dir, [&] { return run_config_init(options); });
  CHECK(c.code == 0);
  CHECK(c.err.find("warning: 2 outputs could take the 3 labels") != std::string::npos);
  CHECK(c.err.find("\"scores\"") != std::string::npos);
  Result<Json> printed = parse_json_strict(c.out, kMaxConfigBytes, "stdout");
  REQUIRE_MESSAGE(printed.ok(), printed.status().message());
  ModelConfig config = config_of(*printed);
  CHECK(config.outputs[0].labels.size() == 3);
  CHECK(config.outputs[2].labels.empty());
  CHECK(c.out == pretty_json(*printed));  // the reviewed on-disk form
}

TEST_CASE("config init of each MediaPipe model round-trips through config_from_json and fits the model") {
  for (const char* file : {"selfie_segmentation.tflite", "selfie_segmentation_landscape.tflite"}) {
    const std::string path = selfie_model(file);
    if (!file_exists(path)) {
      MESSAGE("skipped: " << path << " absent; run scripts/fetch-testdata");
      continue;
    }
    TempDir dir;
    write_all((dir / "labels.txt"), "person\n");
    ConfigInitOptions options;
    options.model_file = path;
    options.labels_file = (dir / "labels.txt");
    Captured c = capture(dir, [&] { return run_config_init(options); });
    INFO(c.err);
    REQUIRE(c.code == 0);
    Result<Json> printed = parse_json_strict(c.out, kMaxConfigBytes, "stdout");
    REQUIRE(printed.ok());
    ModelConfig config = config_of(*printed);
    REQUIRE(config.outputs.size() == 1);
    CHECK(config.outputs[0].labels == std::vector<std::string>{"person"});
    Result<ModelInfo> model = read_tflite_file(path);
    REQUIRE(model.ok());
    CHECK(check_config_fits(config, *model, path).ok());

    Captured inspect = capture(dir, [&] { return run_inspect(path, true); });
    REQUIRE(inspect.code == 0);
    Result<Json> j = parse_json_strict(inspect.out, 1 << 20, "inspect");
    REQUIRE(j.ok());
    CHECK((*j)["format"] == "tflite");
    CHECK((*j)["inputs"][0]["name"] == "input_1");
  }
}

TEST_CASE("config init of every pytorch-converted ONNX model is accepted and fits") {
  std::filesystem::path root = "/usr/share/libonnx-testdata/data/pytorch-converted";
  if (!std::filesystem::is_directory(root)) {
    MESSAGE("skipped: " << root << " absent (apt-get install libonnx-testdata)");
    return;
  }
  size_t n = 0;
  for (const auto& entry : std::filesystem::directory_iterator(root)) {
    const std::string model = (entry.path() / "model.onnx").string();
    INFO(model);
    ConfigInitOptions options;
    options.model_file = model;
    Result<Json> j = config_init_json(options);
    REQUIRE_MESSAGE(j.ok(), j.status().message());
    ModelConfig config = config_of(*j);
    CHECK(config.metadata["format"] == "onnx");
    CHECK(config.metadata["producer_name"].is_string());
    Result<ModelInfo> info = read_onnx_file(model);
    REQUIRE(info.ok());
    CHECK(check_config_fits(config, *info, model).ok());
    CHECK(config.inputs.size() == info->inputs.size());
    ++n;
  }
  MESSAGE("config init accepted for " << n << " pytorch-converted ONNX models");
  CHECK(n > 50);
}

TEST_CASE("config init refuses what a config cannot describe, and the commands map errors to exit codes") {
  TempDir dir;
  // A sequence input cannot be a config tensor.
  const std::string seq = "/usr/share/libonnx-testdata/data/node/test_sequence_insert_at_back/model.onnx";
  if (file_exists(seq)) {
    ConfigInitOptions options;
    options.model_file = seq;
    Result<Json> j = config_init_json(options);
    REQUIRE_FALSE(j.ok());
    CHECK(j.status().message().find("element type \"sequence(") != std::string::npos);
  }
  write_all((dir / "weights.bin"), "not inspected");
  ConfigInitOptions opaque;
  opaque.model_file = (dir / "weights.bin");
  Captured skeleton = capture(dir, [&] { return run_config_init(opaque); });
  CHECK(skeleton.code == 0);
  CHECK(skeleton.err.find("not a model any reader knows") != std::string::npos);
  Result<Json> printed = parse_json_strict(skeleton.out, kMaxConfigBytes, "stdout");
  REQUIRE(printed.ok());
  CHECK(config_of(*printed).inputs.empty());
  write_all((dir / "labels.txt"), "cat\ndog\n");
  opaque.labels_file = (dir / "labels.txt");
  Result<Json> opaque_labels = config_init_json(opaque);
  REQUIRE_FALSE(opaque_labels.ok());
  CHECK(opaque_labels.status().message().find("cannot attach labels to an opaque model") != std::string::npos);

  write_all((dir / "broken.tflite"), std::string("\x10\x00\x00\x00TFL3", 8) + std::string(64, '\xff'));
  Captured broken = capture(dir, [&] { return run_inspect((dir / "broken.tflite"), false); });
  CHECK(broken.code == 1);
  CHECK(broken.err.rfind("error: " + (dir / "broken.tflite") + ": ", 0) == 0);
  CHECK(broken.out.empty());

  Captured usage = capture(dir, [&] { return run_config_init(ConfigInitOptions{}); });
  CHECK(usage.code == 2);

  Captured human = capture(dir, [&] { return run_inspect((dir / "weights.bin"), false); });
  CHECK(human.code == 0);
  CHECK(human.out.find(": opaque\n") != std::string::npos);
}

TEST_CASE("config init reads its labels from a pipe (`--labels <(...)`): it holds no tree lock") {
  TempDir dir;
  write_all((dir / "model.tflite"), build_tflite(classifier()));
  const std::string fifo = dir / "labels.fifo";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  // The writer waits for the reader without blocking (bounded: 2000 tries of 5 ms), so a
  // reader that refuses the pipe ends the test instead of hanging it; a reader that closes
  // it early makes the write fail (EPIPE), not the test process.
  std::signal(SIGPIPE, SIG_IGN);
  bool written = false;
  std::thread writer([&] {
    for (int i = 0; i < 2000; ++i) {
      int fd = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK);
      if (fd >= 0) {
        const std::string labels = "cat\ndog\nbird\n";
        written = ::write(fd, labels.data(), labels.size()) == static_cast<ssize_t>(labels.size());
        ::close(fd);
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
  ConfigInitOptions options;
  options.model_file = (dir / "model.tflite");
  options.labels_file = fifo;
  Result<Json> j = config_init_json(options);
  writer.join();
  CHECK(written);
  REQUIRE_MESSAGE(j.ok(), j.status().message());
  CHECK(config_of(*j).outputs[0].labels == std::vector<std::string>{"cat", "dog", "bird"});
}
