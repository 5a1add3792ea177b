// The frozen GraphDef reader: small graphs built field by field (with and without
// _output_shapes, Const nodes with no content), a real graph TensorFlow wrote (the one
// inside a test SavedModel), the config checks users get for TFLite, and damaged bytes.
#include <doctest/doctest.h>

#include <algorithm>

#include "model_commands.h"
#include "model_inspect.h"
#include "model_test_util.h"
#include "modelcast/model_readers.h"
#include "proto_writer.h"

using namespace modelcast;
using namespace modelcast_test;

namespace {

constexpr uint64_t kFloat = 1, kInt64 = 9;

Proto attr_type(uint64_t type) { return Proto().varint(6, type); }
Proto attr_shape(const std::vector<int64_t>& dims) { return Proto().message(7, tf_shape(dims)); }
Proto attr_output_shapes(const std::vector<int64_t>& dims) { return Proto().message(1, Proto().message(7, tf_shape(dims))); }

struct NodeSpec {
  std::string name, op;
  std::vector<std::string> inputs;
  std::vector<std::pair<std::string, Proto>> attrs;
};

Proto node(const NodeSpec& n) {
  Proto p;
  p.bytes(1, n.name).bytes(2, n.op);
  for (const auto& i : n.inputs) p.bytes(3, i);
  for (const auto& a : n.attrs) p.entry(5, a.first, a.second);
  return p;
}

// input [-1,4] float → MatMul with an empty Const → Softmax "probs" [-1,10]; "init" (NoOp)
// and "unused" (Const) consume nothing and are not outputs; "aux" depends on the logits
// only through a control edge and is a candidate.
std::string classifier_graph(bool with_output_shapes) {
  auto shapes = [&](std::vector<int64_t> dims) {
    std::vector<std::pair<std::string, Proto>> a = {{"T", attr_type(kFloat)}};
    if (with_output_shapes) a.emplace_back("_output_shapes", attr_output_shapes(dims));
    return a;
  };
  Proto graph;
  graph.message(1, node({"input", "Placeholder", {}, {{"dtype", attr_type(kFloat)}, {"shape", attr_shape({-1, 4})}}}));
  graph.message(1, node({"w", "Const", {}, {{"dtype", attr_type(kFloat)}}}));  // no "value": weights stripped
  graph.message(1, node({"logits", "MatMul", {"input", "w:0"}, shapes({-1, 10})}));
  graph.message(1, node({"probs", "Softmax", {"logits"}, shapes({-1, 10})}));
  graph.message(1, node({"aux", "Identity", {"^logits", "w"}, shapes({-1, 4})}));
  graph.message(1, node({"init", "NoOp", {}, {}}));
  graph.message(1, node({"unused", "Const", {}, {{"dtype", attr_type(kFloat)}}}));
  graph.message(4, Proto().varint(1, 1205));  // versions.producer
  return graph.str();
}

const TensorInfo* find(const std::vector<TensorInfo>& tensors, const std::string& name) {
  for (const auto& t : tensors)
    if (t.name == name) return &t;
  return nullptr;
}

}  // namespace

TEST_CASE("graphdef: placeholders are inputs, unconsumed nodes are output candidates with _output_shapes") {
  TempDir dir;
  write_all(dir / "frozen.pb", classifier_graph(true));
  Result<ModelInfo> r = inspect_model_file(dir / "frozen.pb");
  REQUIRE_MESSAGE(r.ok(), r.status().message());
  CHECK(r->format == "graphdef");
  CHECK(r->output_candidates);
  REQUIRE(r->inputs.size() == 1);
  CHECK(r->inputs[0].name == "input");
  CHECK(r->inputs[0].dtype == "float32");
  CHECK(r->inputs[0].shape == std::vector<int64_t>{-1, 4});
  REQUIRE(r->outputs.size() == 2);  // probs and aux; never init, unused, w, input or logits
  const TensorInfo* probs = find(r->outputs, "probs");
  REQUIRE(probs != nullptr);
  CHECK(probs->dtype == "float32");
  CHECK(probs->ranked);
  CHECK(probs->shape == std::vector<int64_t>{-1, 10});
  CHECK(find(r->outputs, "aux") != nullptr);
  CHECK(r->metadata["nodes"] == 7);
  CHECK(r->metadata["tf_producer"] == 1205);
  CHECK(r->note.find("candidates") != std::string::npos);
}

TEST_CASE("graphdef: without _output_shapes the output shapes are unknown and inspect says so") {
  TempDir dir;
  write_all(dir / "frozen.pb", classifier_graph(false));
  Result<ModelInfo> r = read_graphdef_file(dir / "frozen.pb");
  REQUIRE_MESSAGE(r.ok(), r.status().message());
  const TensorInfo* probs = find(r->outputs, "probs");
  REQUIRE(probs != nullptr);
  CHECK(probs->dtype == "float32");  // from the op's "T"
  CHECK_FALSE(probs->ranked);
  CHECK(probs->shape.empty());
  CHECK(r->note.find("_output_shapes") != std::string::npos);
  // The input's shape comes from its own attribute, so it is still known.
  CHECK(r->inputs[0].shape == std::vector<int64_t>{-1, 4});

  // config init keeps the chosen output and gives it the labels: with no shape in the
  // model or the config, their count cannot be held against a class dimension.
  write_all(dir / "labels.txt", "a\nb\nc\n");
  ConfigInitOptions options;
  options.model_file = dir / "frozen.pb";
  options.outputs = {"probs"};
  options.labels_file = dir / "labels.txt";
  Result<Json> config = config_init_json(options);
  REQUIRE_MESSAGE(config.ok(), config.status().message());
  REQUIRE((*config)["outputs"].size() == 1);
  CHECK((*config)["outputs"][0]["name"] == "probs");
  CHECK((*config)["outputs"][0]["shape"] == Json::array());
  CHECK((*config)["outputs"][0]["labels"] == Json::array({"a", "b", "c"}));
  ModelConfig fixed;
  fixed.outputs.push_back({"probs", "float32", {}, {"a", "b", "c"}});
  CHECK(check_config_fits(fixed, *r, "frozen.pb").ok());
  // A shape the config settles on is what the labels are then held against.
  fixed.outputs[0].shape = {1, 10};
  CHECK(check_config_fits(fixed, *r, "frozen.pb").message() ==
        "frozen.pb: config output \"probs\": 3 labels but the model's class dimension is 10");
}

TEST_CASE("graphdef: config init writes every candidate, or the ones --outputs names, and refuses an unknown name") {
  TempDir dir;
  write_all(dir / "frozen.pb", classifier_graph(true));
  write_all(dir / "labels.txt", "0\n1\n2\n3\n4\n5\n6\n7\n8\n9\n");
  ConfigInitOptions options;
  options.model_file = dir / "frozen.pb";
  options.labels_file = dir / "labels.txt";
  Result<Json> all = config_init_json(options);
  REQUIRE_MESSAGE(all.ok(), all.status().message());
  CHECK((*all)["outputs"].size() == 2);
  CHECK((*all)["metadata"]["format"] == "graphdef");

  options.outputs = {"probs"};
  Result<Json> chosen = config_init_json(options);
  REQUIRE_MESSAGE(chosen.ok(), chosen.status().message());
  REQUIRE((*chosen)["outputs"].size() == 1);
  CHECK((*chosen)["outputs"][0]["labels"].size() == 10);

  options.outputs = {"save/restore_all"};
  Result<Json> wrong = config_init_json(options);
  REQUIRE_FALSE(wrong.ok());
  CHECK(wrong.status().message().find("\"save/restore_all\"") != std::string::npos);
  CHECK(wrong.status().message().find("\"probs\"") != std::string::npos);
}

TEST_CASE("graphdef: the fit check refuses a wrong input name, a different shape and 3 labels on 10 classes") {
  TempDir dir;
  write_all(dir / "frozen.pb", classifier_graph(true));
  Result<ModelInfo> model = read_graphdef_file(dir / "frozen.pb");
  REQUIRE(model.ok());
  auto config_with = [](TensorSpec in, TensorSpec out) {
    ModelConfig c;
    c.inputs.push_back(std::move(in));
    c.outputs.push_back(std::move(out));
    return c;
  };
  const TensorSpec probs{"probs", "float32", {-1, 10}, {}};
  CHECK(check_config_fits(config_with({"input", "float32", {1, 4}, {}}, probs), *model, "frozen.pb").ok());

  Status name = check_config_fits(config_with({"image", "float32", {1, 4}, {}}, probs), *model, "frozen.pb");
  CHECK(name.code() == StatusCode::kConfigMismatch);
  CHECK(name.message() ==
        "frozen.pb: config input \"image\": the model has no input of that name (its inputs: \"input\")");

  Status shape = check_config_fits(config_with({"input", "float32", {1, 5}, {}}, probs), *model, "frozen.pb");
  CHECK(shape.code() == StatusCode::kConfigMismatch);
  CHECK(shape.message().find("does not match the model's [-1,4] (dimension 1: 5 vs 4)") != std::string::npos);

  Status labels = check_config_fits(
      config_with({"input", "float32", {1, 4}, {}}, {"probs", "float32", {-1, 10}, {"cat", "dog", "bird"}}), *model,
      "frozen.pb");
  CHECK(labels.code() == StatusCode::kConfigMismatch);
  CHECK(labels.message().find("3 labels but the model's class dimension is 10") != std::string::npos);
}

TEST_CASE("graphdef: a real graph TensorFlow wrote (inside a test SavedModel) reads, placeholders and all") {
  const std::string pb = std::string(MODELCAST_SOURCE_DIR) + "/../shared/testdata/tf-savedmodel/int64_multiply/saved_model.pb";
  if (!file_exists(pb)) {
    MESSAGE("skipped: no " << pb);
    return;
  }
  // SavedModel.meta_graphs (2) → MetaGraphDef.graph_def (2): TensorFlow's own GraphDef bytes.
  const std::string saved = read_all(pb);
  std::string graph;
  auto field = [](std::string_view message, uint32_t number) {
    size_t pos = 0;
    auto varint = [&](uint64_t* v) {
      *v = 0;
      for (int shift = 0; pos < message.size(); shift += 7) {
        uint8_t b = static_cast<uint8_t>(message[pos++]);
        *v |= static_cast<uint64_t>(b & 0x7F) << shift;
        if ((b & 0x80) == 0) return;
      }
    };
    while (pos < message.size()) {
      uint64_t tag = 0, n = 0;
      varint(&tag);
      if ((tag & 7) == 0) {
        varint(&n);
        continue;
      }
      REQUIRE((tag & 7) == 2);
      varint(&n);
      if ((tag >> 3) == number) return message.substr(pos, n);
      pos += n;
    }
    return std::string_view();
  };
  graph = std::string(field(field(saved, 2), 2));
  REQUIRE(graph.size() > 100);
  TempDir dir;
  write_all(dir / "graph.pb", graph);
  Result<ModelInfo> r = inspect_model_file(dir / "graph.pb");
  REQUIRE_MESSAGE(r.ok(), r.status().message());
  CHECK(r->format == "graphdef");
  const TensorInfo* x = find(r->inputs, "serving_default_x");
  REQUIRE(x != nullptr);
  CHECK(x->dtype == "int64");
  CHECK(x->shape == std::vector<int64_t>{2});
  CHECK_FALSE(r->outputs.empty());
}

TEST_CASE("graphdef: damaged graphs are corruption; other .pb files are opaque, not errors") {
  TempDir dir;
  const std::string graph = classifier_graph(true);
  size_t refused = 0;
  for (size_t cut = 1; cut < graph.size(); ++cut) {
    Result<ModelInfo> r = read_graphdef_buffer(std::string_view(graph).substr(0, cut), "cut.pb");
    if (!r.ok()) {
      CHECK(r.status().code() == StatusCode::kCorruption);
      ++refused;
    }
  }
  // A cut inside a node always breaks it; only cuts between top-level fields parse.
  CHECK(refused > graph.size() / 2);

  write_all(dir / "cut.pb", graph.substr(0, graph.size() - 3));
  Result<ModelInfo> cut = inspect_model_file(dir / "cut.pb");
  REQUIRE_FALSE(cut.ok());
  CHECK(cut.status().code() == StatusCode::kCorruption);
  CHECK(cut.status().message().find(dir / "cut.pb") == 0);

  // fingerprint.pb and keras_metadata.pb in a SavedModel folder are not graphs.
  write_all(dir / "fingerprint.pb", Proto().varint(1, 12345).varint(2, 678).str());
  write_all(dir / "keras_metadata.pb", Proto().message(1, Proto().message(1, Proto().varint(1, 1))).str());
  for (const char* name : {"fingerprint.pb", "keras_metadata.pb"}) {
    INFO(name);
    Result<ModelInfo> r = inspect_model_file(dir / name);
    REQUIRE_MESSAGE(r.ok(), r.status().message());
    CHECK(r->format == "opaque");
  }
}
