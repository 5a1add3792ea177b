// The Core ML readers: Apple's MNIST classifier as Xcode saved it (.mlpackage with
// overlays, root model named mnist.mlmodel), small models built field by field (flexible
// multi-arrays, an ML Program's classify op, a pipeline classifier), the fit check, the
// device's table, and hostile packages.
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

std::string mnist_package() { return std::string(MODELCAST_SOURCE_DIR) + "/../shared/testdata/coreml/mnist.mlpackage"; }

constexpr uint64_t kFloat32 = 65568;

Proto feature(const std::string& name, uint32_t type_field, const Proto& type) {
  return Proto().bytes(1, name).message(3, Proto().message(type_field, type));
}
Proto multi_array(const std::vector<int64_t>& shape, uint64_t dtype) { return Proto().packed(1, shape).varint(2, dtype); }
Proto string_vector(const std::vector<std::string>& values) {
  Proto v;
  for (const auto& s : values) v.bytes(1, s);
  return v;
}

// input "x" float32 [1,3]; outputs "label" (string) and "probs" (dictionary, string keys).
Proto classifier_description() {
  return Proto()
      .message(1, feature("x", 5, multi_array({1, 3}, kFloat32)))
      .message(10, feature("label", 3, Proto()))
      .message(10, feature("probs", 6, Proto().message(2, Proto())))
      .bytes(11, "label")
      .bytes(12, "probs")
      .message(100, Proto().bytes(3, "modelcast tests").bytes(4, "MIT").bytes(2, "2.1").message(100, Proto().bytes(1, "source").bytes(2, "x")));
}

// An ML Program whose main block ends with coremltools' classify op. Its classes are one
// string tensor, or (as coremltools 9 writes them) a list of scalar string values.
std::string ml_program(const std::vector<std::string>& classes, bool as_list = false) {
  auto string_tensor = [](const std::vector<std::string>& values) {
    return Proto().message(1, Proto().message(4, string_vector(values)));  // ImmediateValue.tensor.strings
  };
  Proto immediate;
  if (as_list) {
    Proto list;
    for (const auto& c : classes) list.message(1, Proto().message(3, string_tensor({c})));  // values[i].immediateValue
    immediate.message(3, list);
  } else {
    immediate = string_tensor(classes);
  }
  Proto value = Proto().message(3, immediate);  // Value.immediateValue
  Proto argument = Proto().message(1, Proto().message(2, value));                     // arguments[0].value
  Proto classify = Proto().bytes(1, "classify").entry(2, "probabilities", Proto()).entry(2, "classes", argument);
  Proto block = Proto().message(3, Proto().bytes(1, "linear")).message(3, classify);
  Proto function = Proto().entry(3, "CoreML7", block);
  Proto program = Proto().varint(1, 1).entry(2, "main", function);
  return Proto().varint(1, 8).message(2, classifier_description()).message(502, program).str();
}

}  // namespace

TEST_CASE("mlpackage: Apple's MNIST classifier gives image 28x28 grayscale, classLabel, labelProbabilities, labels 0-9") {
  if (!file_exists(mnist_package() + "/Manifest.json")) {
    MESSAGE("skipped: no " << mnist_package());
    return;
  }
  Result<ModelInfo> r = inspect_model_file(mnist_package());
  REQUIRE_MESSAGE(r.ok(), r.status().message());
  CHECK(r->format == "mlpackage");
  CHECK(r->metadata["root_model"] == "com.apple.CoreML/mnist.mlmodel");
  REQUIRE(r->inputs.size() == 1);
  CHECK(r->inputs[0].name == "image");
  CHECK(r->inputs[0].dtype == "uint8");
  CHECK(r->inputs[0].shape == std::vector<int64_t>{28, 28, 1});
  CHECK(r->metadata["images"]["image"] == Json({{"width", 28}, {"height", 28}, {"color_space", "grayscale"}}));
  REQUIRE(r->outputs.size() == 2);
  const std::vector<std::string> digits = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
  for (const auto& o : r->outputs) {
    if (o.name == "classLabel") {
      CHECK(o.dtype == "int64");
      CHECK(o.shape.empty());
      CHECK(o.labels.empty());
    } else {
      CHECK(o.name == "labelProbabilities");
      CHECK(o.dtype == "float64");
      CHECK(o.shape == std::vector<int64_t>{10});
      CHECK(o.labels == digits);
    }
  }
  // Specification version 1: iOS 11. The overlays win over the model's own text.
  CHECK(r->minimum_os == std::map<std::string, std::string>{{"ios", "11.0"}});
  CHECK(r->metadata["specification_version"] == 1);
  CHECK(r->metadata["author"] == "Apple, Inc.");
  CHECK(r->metadata["description"] == "Drawing classifier created by Turi Create (version 5.5)");
  CHECK(r->metadata["feature_descriptions"]["image"] == "Image of the digit drawing to be classified");
  CHECK(r->metadata["user_defined"]["com.apple.developer.machine-learning.models.version"] == "1.0");

  // config init takes the labels from the model; the config fits it.
  ConfigInitOptions options;
  options.model_file = mnist_package();
  Result<Json> config = config_init_json(options);
  REQUIRE_MESSAGE(config.ok(), config.status().message());
  CHECK((*config)["inputs"][0] == Json({{"name", "image"}, {"dtype", "uint8"}, {"shape", {28, 28, 1}}}));
  CHECK((*config)["outputs"][0]["labels"] == Json(digits));

  // The root model alone (how a device sees the published file) reads the same tensors.
  Result<ModelInfo> file = inspect_model_file(mnist_package() + "/Data/com.apple.CoreML/mnist.mlmodel");
  REQUIRE_MESSAGE(file.ok(), file.status().message());
  CHECK(file->format == "mlmodel");
  CHECK(file->inputs[0].shape == r->inputs[0].shape);
}

TEST_CASE("mlpackage: the fit check refuses 3 labels on the 10-class MNIST, a wrong input name, a wrong shape") {
  if (!file_exists(mnist_package() + "/Manifest.json")) return;
  Result<ModelInfo> model = inspect_model_file(mnist_package());
  REQUIRE(model.ok());
  auto config = [](TensorSpec image, std::vector<std::string> labels) {
    ModelConfig c;
    c.inputs.push_back(std::move(image));
    c.outputs.push_back({"labelProbabilities", "float64", {10}, std::move(labels)});
    return c;
  };
  const TensorSpec image{"image", "uint8", {28, 28, 1}, {}};
  CHECK(check_config_fits(config(image, {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}), *model, "mnist").ok());

  Status labels = check_config_fits(config(image, {"zero", "one", "two"}), *model, "mnist");
  CHECK(labels.code() == StatusCode::kConfigMismatch);
  CHECK(labels.message() ==
        "mnist: config output \"labelProbabilities\": 3 labels but the model's class dimension is 10");

  Status name = check_config_fits(config({"input_1", "uint8", {28, 28, 1}, {}}, {}), *model, "mnist");
  CHECK(name.message() == "mnist: config input \"input_1\": the model has no input of that name (its inputs: \"image\")");

  Status shape = check_config_fits(config({"image", "uint8", {28, 28, 3}, {}}, {}), *model, "mnist");
  CHECK(shape.code() == StatusCode::kConfigMismatch);
  CHECK(shape.message().find("(dimension 2: 3 vs 1)") != std::string::npos);
}

TEST_CASE("mlmodel: an ML Program's labels come from its classify op; specificationVersion gives the minimum iOS") {
  TempDir dir;
  write_all(dir / "model.mlmodel", ml_program({"cat", "dog"}));
  Result<ModelInfo> r = inspect_model_file(dir / "model.mlmodel");
  REQUIRE_MESSAGE(r.ok(), r.status().message());
  CHECK(r->format == "mlmodel");
  REQUIRE(r->outputs.size() == 2);
  CHECK(r->outputs[0].name == "label");
  CHECK(r->outputs[0].dtype == "string");
  CHECK(r->outputs[1].name == "probs");
  CHECK(r->outputs[1].shape == std::vector<int64_t>{2});
  CHECK(r->outputs[1].labels == std::vector<std::string>{"cat", "dog"});
  CHECK(r->inputs[0].dtype == "float32");
  CHECK(r->inputs[0].shape == std::vector<int64_t>{1, 3});
  CHECK(r->minimum_os.at("ios") == "17.0");  // specification 8
  CHECK(r->metadata["author"] == "modelcast tests");
  CHECK(r->metadata["license"] == "MIT");
  CHECK(r->metadata["version"] == "2.1");
  CHECK(r->metadata["user_defined"]["source"] == "x");

  Result<ModelInfo> listed = read_mlmodel_buffer(ml_program({"still", "walking", "running"}, true), "listed");
  REQUIRE_MESSAGE(listed.ok(), listed.status().message());
  CHECK(listed->outputs[1].labels == std::vector<std::string>{"still", "walking", "running"});

  ModelConfig swapped;
  swapped.outputs.push_back({"probs", "float64", {2}, {"dog", "cat"}});
  Status s = check_config_fits(swapped, *r, "model.mlmodel");
  CHECK(s.message() == "model.mlmodel: config output \"probs\": label 0 is \"dog\" but the model's is \"cat\"");
}

TEST_CASE("mlmodel: flexible multi-array dimensions are -1; a pipeline classifier's labels are its last model's") {
  // shapeRange: dimension 0 from 1 to unbounded, dimension 1 fixed at 3.
  Proto ranges = Proto()
                     .message(1, Proto().varint(1, 1).varint(2, static_cast<uint64_t>(-1)))
                     .message(1, Proto().varint(1, 3).varint(2, 3));
  Proto array = multi_array({1, 3}, kFloat32).message(31, ranges);
  Proto last = Proto().varint(1, 4).message(403, Proto().message(101, Proto().packed(1, {7, 8, 9})));
  Proto pipeline = Proto().message(1, Proto().message(1, Proto().varint(1, 4)).message(1, last));
  Proto description = Proto()
                          .message(1, feature("x", 5, array))
                          .message(10, feature("probs", 6, Proto().message(1, Proto())))
                          .bytes(12, "probs");
  Result<ModelInfo> r = read_mlmodel_buffer(Proto().varint(1, 4).message(2, description).message(200, pipeline).str(), "p");
  REQUIRE_MESSAGE(r.ok(), r.status().message());
  CHECK(r->inputs[0].shape == std::vector<int64_t>{-1, 3});
  CHECK(r->outputs[0].labels == std::vector<std::string>{"7", "8", "9"});
  CHECK(r->minimum_os.at("ios") == "13.0");
}

TEST_CASE("mlmodel: the device's table reads Core ML by the name the manifest gives the file") {
  TempDir dir;
  write_all(dir / "blob", ml_program({"cat", "dog"}));
  Result<std::string> head = read_model_head(dir / "blob");
  REQUIRE(head.ok());
  const ModelReader* r =
      claiming_reader(device_model_readers(), SniffInput{*head, "Foo.mlpackage/Data/com.apple.CoreML/model.mlmodel", dir / "blob", false});
  REQUIRE(r != nullptr);
  CHECK(std::string(r->format) == "mlmodel");
  CHECK(r->read_info(dir / "blob").ok());
  CHECK(claiming_reader(device_model_readers(), SniffInput{*head, "weights/weight.bin", dir / "blob", false}) == nullptr);
}

TEST_CASE("mlmodel and mlpackage: damaged models are corruption; a package cannot point outside itself") {
  const std::string bytes = ml_program({"cat", "dog"});
  for (size_t cut = 1; cut < bytes.size(); ++cut) {
    Result<ModelInfo> r = read_mlmodel_buffer(std::string_view(bytes).substr(0, cut), "cut");
    if (!r.ok()) CHECK(r.status().code() == StatusCode::kCorruption);
  }
  TempDir dir;
  const std::string pkg = dir / "Evil.mlpackage";
  std::filesystem::create_directories(pkg + "/Data/com.apple.CoreML");
  write_all(dir / "outside.mlmodel", bytes);
  write_all(pkg + "/Manifest.json",
            R"({"fileFormatVersion":"1.0.0","itemInfoEntries":{"A":{"author":"com.apple.CoreML","name":"model.mlmodel",)"
            R"("path":"../../outside.mlmodel"}},"rootModelIdentifier":"A"})");
  Result<ModelInfo> evil = inspect_model_file(pkg);
  REQUIRE_FALSE(evil.ok());
  CHECK(evil.status().code() == StatusCode::kCorruption);
  CHECK(evil.status().message().find("leaves the package") != std::string::npos);

  write_all(pkg + "/Manifest.json", R"({"itemInfoEntries":{"A":{"path":"com.apple.CoreML/model.mlmodel"}},"rootModelIdentifier":"B"})");
  Result<ModelInfo> missing = inspect_model_file(pkg);
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().message().find("names no item") != std::string::npos);

  // The root model named by the manifest, whatever its name; overlays are optional.
  write_all(pkg + "/Data/com.apple.CoreML/any-name.mlmodel", bytes);
  write_all(pkg + "/Manifest.json", R"({"itemInfoEntries":{"A":{"path":"com.apple.CoreML/any-name.mlmodel"}},"rootModelIdentifier":"A"})");
  Result<ModelInfo> ok = inspect_model_file(pkg);
  REQUIRE_MESSAGE(ok.ok(), ok.status().message());
  CHECK(ok->outputs[1].labels.size() == 2);

  std::filesystem::create_directories(dir / "Empty.mlpackage");
  Result<ModelInfo> empty = inspect_model_file(dir / "Empty.mlpackage");
  REQUIRE_FALSE(empty.ok());
  CHECK(empty.status().code() == StatusCode::kInvalidArgument);
  CHECK(empty.status().message().find("Manifest.json") != std::string::npos);
}
