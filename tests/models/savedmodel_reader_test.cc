// The SavedModel reader: the seven SavedModels TensorFlow wrote in ../shared/testdata
// (serving_default's names, dtypes and shapes), signature choice, label assets, the fit
// check, and damaged bytes.
#include <doctest/doctest.h>

#include <filesystem>

#include "model_commands.h"
#include "model_inspect.h"
#include "model_test_util.h"
#include "modelcast/model_readers.h"
#include "proto_writer.h"

using namespace modelcast;
using namespace modelcast_test;

namespace {

std::string shared_savedmodel(const std::string& name) {
  return std::string(MODELCAST_SOURCE_DIR) + "/../shared/testdata/tf-savedmodel/" + name;
}

struct Expected {
  const char* name;
  std::vector<std::pair<std::string, std::string>> inputs, outputs;  // name, dtype
  std::vector<int64_t> shape;                                        // every tensor's
};

// TensorInfo.tensor_shape of each signature tensor (protoc --decode_raw agrees: the tfjs
// test models multiply scalars, or vectors of 2 and 1 elements).
const Expected kShared[] = {
    {"times_three_float", {{"x", "float32"}}, {{"output_0", "float32"}}, {}},
    {"times_two_int", {{"x", "int32"}}, {{"output_0", "int32"}}, {}},
    {"int64_multiply", {{"x", "int64"}}, {{"output_0", "int64"}}, {2}},
    {"uint8_multiply", {{"x", "uint8"}}, {{"output_0", "int32"}}, {1}},
    {"model_multi_output", {{"x", "int32"}, {"y", "int32"}}, {{"output_0", "int32"}, {"output_1", "int32"}}, {}},
    {"model_single_input_multi_output", {{"x", "int32"}}, {{"output_0", "int32"}, {"output_1", "int32"}}, {}},
    {"module_with_multiple_signatures", {{"x", "float32"}}, {{"output_0", "float32"}}, {}},
};

void check_tensors(const std::vector<TensorInfo>& got, const std::vector<std::pair<std::string, std::string>>& want,
                   const std::vector<int64_t>& shape) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    CHECK(got[i].name == want[i].first);
    CHECK(got[i].dtype == want[i].second);
    CHECK(got[i].ranked);
    CHECK(got[i].shape == shape);
  }
}

Proto tensor_info(const std::string& graph_name, uint64_t dtype, const std::vector<int64_t>& dims) {
  return Proto().bytes(1, graph_name).varint(2, dtype).message(3, tf_shape(dims));
}

// A SavedModel with one meta graph tagged `tag` and the given signatures (name → its
// output's shape), each taking "x" [-1,4] float and returning "scores".
std::string saved_model(const std::string& tag, const std::vector<std::pair<std::string, std::vector<int64_t>>>& signatures) {
  Proto meta;
  meta.message(1, Proto().bytes(4, tag).bytes(5, "2.21.0"));
  meta.message(2, Proto());  // the graph: not looked at
  for (const auto& s : signatures) {
    Proto sig;
    sig.entry(1, "x", tensor_info(s.first + "_x:0", 1, {-1, 4}));
    sig.entry(2, "scores", tensor_info("Identity:0", 1, s.second));
    sig.bytes(3, "tensorflow/serving/predict");
    meta.entry(5, s.first, sig);
  }
  meta.entry(5, "__saved_model_init_op", Proto().entry(2, "__saved_model_init_op", Proto().bytes(1, "NoOp")));
  return Proto().varint(1, 1).message(2, meta).str();
}

}  // namespace

TEST_CASE("savedmodel: the seven test SavedModels give their serving_default signature, as a folder or its .pb") {
  if (!file_exists(shared_savedmodel("times_three_float/saved_model.pb"))) {
    MESSAGE("skipped: no " << shared_savedmodel(""));
    return;
  }
  for (const Expected& e : kShared) {
    INFO(e.name);
    Result<ModelInfo> r = inspect_model_file(shared_savedmodel(e.name));
    REQUIRE_MESSAGE(r.ok(), r.status().message());
    CHECK(r->format == "savedmodel");
    CHECK(r->metadata["signature"] == "serving_default");
    check_tensors(r->inputs, e.inputs, e.shape);
    check_tensors(r->outputs, e.outputs, e.shape);

    Result<ModelInfo> file = inspect_model_file(shared_savedmodel(e.name) + "/saved_model.pb");
    REQUIRE_MESSAGE(file.ok(), file.status().message());
    CHECK(file->format == "savedmodel");
    CHECK(file->inputs.size() == r->inputs.size());

    // config init accepts the folder and prints a config that fits it.
    ConfigInitOptions options;
    options.model_file = shared_savedmodel(e.name);
    Result<Json> config = config_init_json(options);
    REQUIRE_MESSAGE(config.ok(), config.status().message());
    CHECK((*config)["inputs"][0]["name"] == "x");
    CHECK((*config)["metadata"]["format"] == "savedmodel");
  }
  // The one with several signatures says which one it read.
  Result<ModelInfo> multi = read_savedmodel(shared_savedmodel("module_with_multiple_signatures"));
  REQUIRE(multi.ok());
  CHECK(multi->metadata["signatures"].size() == 3);
}

TEST_CASE("savedmodel: the fit check refuses a wrong input name and a different shape") {
  if (!file_exists(shared_savedmodel("int64_multiply/saved_model.pb"))) return;
  Result<ModelInfo> model = read_savedmodel(shared_savedmodel("int64_multiply"));
  REQUIRE(model.ok());
  ModelConfig config;
  config.inputs.push_back({"x", "int64", {2}, {}});
  config.outputs.push_back({"output_0", "int64", {2}, {}});
  CHECK(check_config_fits(config, *model, "int64_multiply").ok());
  config.inputs[0].name = "input_1";
  Status name = check_config_fits(config, *model, "int64_multiply");
  CHECK(name.code() == StatusCode::kConfigMismatch);
  CHECK(name.message().find("config input \"input_1\": the model has no input of that name (its inputs: \"x\")") !=
        std::string::npos);
  config.inputs[0] = {"x", "int64", {3}, {}};
  Status shape = check_config_fits(config, *model, "int64_multiply");
  CHECK(shape.code() == StatusCode::kConfigMismatch);
  CHECK(shape.message().find("dimension 0: 3 vs 2") != std::string::npos);
}

TEST_CASE("savedmodel: serving_default, else the only signature of the app's; ambiguity and no serve tag are refused") {
  Result<ModelInfo> only = read_savedmodel_buffer(saved_model("serve", {{"predict", {-1, 3}}}), "only");
  REQUIRE_MESSAGE(only.ok(), only.status().message());
  CHECK(only->metadata["signature"] == "predict");
  REQUIRE(only->inputs.size() == 1);
  CHECK(only->inputs[0].shape == std::vector<int64_t>{-1, 4});
  CHECK(only->metadata["graph_tensors"]["inputs"]["x"] == "predict_x:0");

  Result<ModelInfo> preferred =
      read_savedmodel_buffer(saved_model("serve", {{"predict", {-1, 3}}, {"serving_default", {-1, 5}}}), "two");
  REQUIRE(preferred.ok());
  CHECK(preferred->outputs[0].shape == std::vector<int64_t>{-1, 5});

  Result<ModelInfo> ambiguous = read_savedmodel_buffer(saved_model("serve", {{"a", {1}}, {"b", {2}}}), "ambiguous");
  REQUIRE_FALSE(ambiguous.ok());
  CHECK(ambiguous.status().message().find("\"a\", \"b\"") != std::string::npos);

  Result<ModelInfo> train = read_savedmodel_buffer(saved_model("train", {{"serving_default", {1}}}), "train");
  REQUIRE_FALSE(train.ok());
  CHECK(train.status().message().find("\"serve\"") != std::string::npos);
}

TEST_CASE("savedmodel: a label file in assets/ labels the output with as many classes; a config must agree") {
  TempDir dir;
  const std::string model = dir / "classifier";
  std::filesystem::create_directories(model + "/assets");
  std::filesystem::create_directories(model + "/variables");
  write_all(model + "/saved_model.pb", saved_model("serve", {{"serving_default", {-1, 3}}}));
  write_all(model + "/assets/labels.txt", "cat\r\ndog\r\nbird\r\n");
  write_all(model + "/assets/vocab.txt", "a\nb\nc\nd\ne\n");  // five lines: no output has 5 classes
  Result<ModelInfo> r = inspect_model_file(model);
  REQUIRE_MESSAGE(r.ok(), r.status().message());
  REQUIRE(r->outputs.size() == 1);
  CHECK(r->outputs[0].labels == std::vector<std::string>{"cat", "dog", "bird"});
  CHECK(r->metadata["assets"] == Json::array({"labels.txt", "vocab.txt"}));

  ConfigInitOptions options;
  options.model_file = model;
  Result<Json> config = config_init_json(options);
  REQUIRE_MESSAGE(config.ok(), config.status().message());
  CHECK((*config)["outputs"][0]["labels"] == Json::array({"cat", "dog", "bird"}));

  ModelConfig wrong;
  wrong.outputs.push_back({"scores", "float32", {-1, 3}, {"cat", "bird", "dog"}});
  Status s = check_config_fits(wrong, *r, "classifier");
  CHECK(s.code() == StatusCode::kConfigMismatch);
  CHECK(s.message() == "classifier: config output \"scores\": label 1 is \"bird\" but the model's is \"dog\"");
}

TEST_CASE("savedmodel: damaged bytes are corruption; a folder without saved_model.pb is not a model") {
  const std::string bytes = saved_model("serve", {{"serving_default", {-1, 3}}});
  for (size_t cut = 1; cut < bytes.size(); ++cut) {
    Result<ModelInfo> r = read_savedmodel_buffer(std::string_view(bytes).substr(0, cut), "cut");
    if (!r.ok()) CHECK(r.status().code() == StatusCode::kCorruption);
  }
  TempDir dir;
  std::filesystem::create_directories(dir / "empty");
  Result<ModelInfo> empty = inspect_model_file(dir / "empty");
  REQUIRE_FALSE(empty.ok());
  CHECK(empty.status().code() == StatusCode::kInvalidArgument);
  CHECK(empty.status().message().find("saved_model.pb") != std::string::npos);
}
