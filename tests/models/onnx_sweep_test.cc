// The ONNX reader against Debian's libonnx-testdata: every `pytorch-converted` and `node`
// model must read, and what the reader says about its inputs and outputs must agree with
// the tensors the ONNX backend tests feed and expect (test_data_set_0/input_N.pb,
// output_N.pb): name where set, element type, and dims against the shape, -1 matching
// anything. Then truncated and bit-flipped copies of every model must be refused as
// kCorruption or read as some model, never crash (run under ASan too).

#include <doctest/doctest.h>
#include <onnx/onnx-data_pb.h>

#include <algorithm>
#include <filesystem>
#include <random>

#include "model_inspect.h"
#include "model_test_util.h"
#include "modelcast/manifest.h"

using namespace modelcast;
using namespace modelcast_test;
namespace fs = std::filesystem;

namespace {

std::string onnx_testdata_dir() {
  const char* env = std::getenv("MODELCAST_ONNX_TESTDATA");
  return env != nullptr && *env != '\0' ? env : "/usr/share/libonnx-testdata/data";
}

std::vector<std::string> model_dirs() {
  std::vector<std::string> out;
  for (const char* suite : {"pytorch-converted", "node"}) {
    fs::path root = fs::path(onnx_testdata_dir()) / suite;
    if (!fs::is_directory(root)) continue;
    for (const auto& entry : fs::directory_iterator(root))
      if (fs::exists(entry.path() / "model.onnx")) out.push_back(entry.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// The test's own table of ONNX element types, independent of the reader's.
std::string expected_dtype(int32_t t) {
  static const char* kNames[] = {"undefined", "float32", "uint8",  "int8",      "uint16",     "int16",
                                 "int32",     "int64",   "string", "bool",      "float16",    "float64",
                                 "uint32",    "uint64",  "complex64", "complex128", "bfloat16"};
  if (t >= 0 && t < static_cast<int32_t>(sizeof kNames / sizeof kNames[0])) return kNames[t];
  return "onnx-type-" + std::to_string(t);
}

template <typename Proto>
bool parse_file(const std::string& path, Proto* proto) {
  std::string bytes = read_all(path);
  return proto->ParseFromString(bytes);
}

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

struct Tally {
  size_t models = 0, tensors = 0, sequences = 0, optionals = 0, maps = 0, quirks = 0;
};

// Known faults of ONNX 1.12's generated test data, not of the models: numpy has no
// bfloat16, so the BFLOAT16 cast tests store those tensors as UINT16, and their CastLike
// "like" exemplar is saved with shape [1] while the graph declares [3,4]. Exempt exactly
// those comparisons (and count them) rather than whole models.
bool bfloat16_stored_as_uint16(const std::string& pb, const TensorInfo& info, int32_t data_type) {
  return pb.find("BFLOAT16") != std::string::npos && info.dtype == "bfloat16" && data_type == onnx::TensorProto::UINT16;
}
bool castlike_bfloat16_exemplar(const std::string& pb, const TensorInfo& info) {
  return pb.find("/test_castlike_") != std::string::npos && pb.find("BFLOAT16") != std::string::npos &&
         info.name == "like";
}

// One input_N.pb / output_N.pb against what the reader says about that value.
void check_value(const std::string& pb, const TensorInfo& info, Tally& tally) {
  INFO(pb << " vs \"" << info.name << "\" " << info.dtype);
  if (starts_with(info.dtype, "sequence(")) {
    onnx::SequenceProto seq;
    REQUIRE(parse_file(pb, &seq));
    if (!seq.name().empty()) CHECK(seq.name() == info.name);
    for (const auto& t : seq.tensor_values()) CHECK(info.dtype == "sequence(" + expected_dtype(t.data_type()) + ")");
    ++tally.sequences;
    return;
  }
  if (starts_with(info.dtype, "optional(")) {
    onnx::OptionalProto opt;
    REQUIRE(parse_file(pb, &opt));
    if (!opt.name().empty()) CHECK(opt.name() == info.name);
    if (opt.has_tensor_value()) CHECK(info.dtype == "optional(" + expected_dtype(opt.tensor_value().data_type()) + ")");
    ++tally.optionals;
    return;
  }
  if (starts_with(info.dtype, "map(")) {
    onnx::MapProto map;
    REQUIRE(parse_file(pb, &map));
    if (!map.name().empty()) CHECK(map.name() == info.name);
    ++tally.maps;
    return;
  }
  onnx::TensorProto tensor;
  REQUIRE(parse_file(pb, &tensor));
  if (!tensor.name().empty()) CHECK(tensor.name() == info.name);
  if (bfloat16_stored_as_uint16(pb, info, tensor.data_type())) {
    ++tally.quirks;
  } else {
    CHECK(info.dtype == expected_dtype(tensor.data_type()));
  }
  if (castlike_bfloat16_exemplar(pb, info)) {
    ++tally.quirks;
  } else if (info.ranked) {
    CHECK(static_cast<size_t>(tensor.dims_size()) == info.shape.size());
    for (size_t d = 0; d < info.shape.size() && d < static_cast<size_t>(tensor.dims_size()); ++d) {
      int64_t want = info.shape[d];
      if (want != -1) CHECK(tensor.dims(static_cast<int>(d)) == want);
    }
  }
  ++tally.tensors;
}

// Damage must be refused as corruption or read as some model; true when refused.
bool check_damaged(const std::string& bytes, const std::string& what) {
  // A heap copy of exactly this size, so ASan sees any read past the end.
  std::vector<uint8_t> copy(bytes.begin(), bytes.end());
  Result<ModelInfo> r = read_onnx_buffer(copy.data(), copy.size(), what);
  if (r.ok()) {
    CHECK(r->format == "onnx");
    return false;
  }
  INFO(what << ": " << r.status().message());
  CHECK(r.status().code() == StatusCode::kCorruption);
  return true;
}

}  // namespace

TEST_CASE("every pytorch-converted and node ONNX test model reads and agrees with its test tensors") {
  const std::vector<std::string> dirs = model_dirs();
  if (dirs.empty()) {
    MESSAGE("skipped: no ONNX test models under " << onnx_testdata_dir() << " (apt-get install libonnx-testdata)");
    return;
  }
  Tally tally;
  size_t unranked = 0;
  for (const auto& dir : dirs) {
    const std::string model = dir + "/model.onnx";
    INFO(model);
    Result<ModelInfo> r = read_onnx_file(model);
    REQUIRE_MESSAGE(r.ok(), r.status().message());
    CHECK(r->format == "onnx");
    CHECK(r->metadata.contains("opset_imports"));
    // inspect_model_file must route .onnx files to this reader, with the same answer.
    Result<ModelInfo> via_dispatch = inspect_model_file(model);
    REQUIRE(via_dispatch.ok());
    CHECK(via_dispatch->outputs.size() == r->outputs.size());
    ++tally.models;
    for (const auto& t : r->inputs) unranked += t.ranked ? 0 : 1;

    const std::string data = dir + "/test_data_set_0";
    size_t n_in = 0, n_out = 0;
    while (file_exists(data + "/input_" + std::to_string(n_in) + ".pb")) ++n_in;
    while (file_exists(data + "/output_" + std::to_string(n_out) + ".pb")) ++n_out;
    // Test data feeds every graph input that is not an initializer, and expects every output.
    CHECK(n_in == r->inputs.size());
    CHECK(n_out == r->outputs.size());
    for (size_t i = 0; i < std::min(n_in, r->inputs.size()); ++i)
      check_value(data + "/input_" + std::to_string(i) + ".pb", r->inputs[i], tally);
    for (size_t i = 0; i < std::min(n_out, r->outputs.size()); ++i)
      check_value(data + "/output_" + std::to_string(i) + ".pb", r->outputs[i], tally);
  }
  MESSAGE("read " << tally.models << " ONNX models; checked " << tally.tensors << " tensors, " << tally.sequences
                  << " sequences, " << tally.optionals << " optionals, " << tally.maps << " maps against their test data ("
                  << unranked << " inputs without a shape, " << tally.quirks << " known test-data quirks exempted)");
  CHECK(tally.models >= 1000);
}

TEST_CASE("truncated and bit-flipped copies of every ONNX test model are refused or read, never crash") {
  const std::vector<std::string> dirs = model_dirs();
  if (dirs.empty()) {
    MESSAGE("skipped: no ONNX test models under " << onnx_testdata_dir());
    return;
  }
  std::mt19937 rng(12);
  size_t cuts = 0, refused_cuts = 0, flips = 0, refused_flips = 0;
  for (const auto& dir : dirs) {
    const std::string bytes = read_all(dir + "/model.onnx");
    REQUIRE(bytes.size() > 8);
    // A handful of cut points per model: just after the start, inside, one byte short.
    std::vector<size_t> at = {1, 7, bytes.size() / 3, bytes.size() / 2, bytes.size() - 1};
    for (size_t i = 0; i < 3; ++i) at.push_back(rng() % bytes.size());
    for (size_t n : at) {
      refused_cuts += check_damaged(bytes.substr(0, n), dir + " cut at " + std::to_string(n)) ? 1 : 0;
      ++cuts;
    }
    for (int i = 0; i < 16; ++i) {
      std::string damaged = bytes;
      size_t pos = rng() % damaged.size();
      damaged[pos] = static_cast<char>(damaged[pos] ^ (1u << (rng() % 8)));
      refused_flips += check_damaged(damaged, dir + " flip at " + std::to_string(pos)) ? 1 : 0;
      ++flips;
    }
  }
  MESSAGE(cuts << " truncated copies (" << refused_cuts << " refused), " << flips << " bit-flipped copies ("
               << refused_flips << " refused) of " << dirs.size() << " models");
  // Cutting a protobuf one byte short almost always breaks the last field.
  CHECK(refused_cuts > cuts / 2);
}

TEST_CASE("inspect_model_file: a damaged .onnx or .tflite is corruption naming the file; other files are opaque, not errors") {
  const std::vector<std::string> dirs = model_dirs();
  if (dirs.empty()) {
    MESSAGE("skipped: no ONNX test models under " << onnx_testdata_dir());
    return;
  }
  const std::string bytes = read_all(dirs.front() + "/model.onnx");
  TempDir dir;
  write_all((dir / "cut.onnx"), bytes.substr(0, bytes.size() / 2));
  Result<ModelInfo> cut = inspect_model_file((dir / "cut.onnx"));
  REQUIRE_FALSE(cut.ok());
  CHECK(cut.status().code() == StatusCode::kCorruption);
  CHECK(cut.status().message().find((dir / "cut.onnx")) == 0);

  // Renamed: content decides.
  write_all((dir / "model.bin"), bytes);
  Result<ModelInfo> renamed = inspect_model_file((dir / "model.bin"));
  REQUIRE(renamed.ok());
  CHECK(renamed->format == "onnx");

  write_all((dir / "labels.txt"), "cat\ndog\n");
  write_all((dir / "graph.pb"), std::string("\x0a\x02\x08\x01", 4));
  write_all((dir / "model.mlpackage.zip"), std::string("PK\x03\x04rest", 8));
  write_all((dir / "unknown.dat"), std::string("\x08\x01garbage", 9));
  for (const char* name : {"labels.txt", "graph.pb", "model.mlpackage.zip", "unknown.dat"}) {
    INFO(name);
    Result<ModelInfo> r = inspect_model_file(dir / name);
    REQUIRE_MESSAGE(r.ok(), r.status().message());
    CHECK(r->format == "opaque");
    CHECK(r->note.find("not inspected") == 0);
    CHECK(r->inputs.empty());
  }
  Result<ModelInfo> missing = inspect_model_file((dir / "missing.onnx"));
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().code() == StatusCode::kNotFound);

  // The extension promises TFLite but the identifier is missing: corrupt, not opaque.
  write_all((dir / "fake.tflite"), bytes);
  Result<ModelInfo> fake = inspect_model_file((dir / "fake.tflite"));
  REQUIRE_FALSE(fake.ok());
  CHECK(fake.status().code() == StatusCode::kCorruption);

  // A folder is a model only when a folder reader claims it (SavedModel, .mlpackage).
  std::filesystem::create_directory((dir / "models"));
  Result<ModelInfo> folder = inspect_model_file((dir / "models"));
  REQUIRE_FALSE(folder.ok());
  CHECK(folder.status().code() == StatusCode::kInvalidArgument);
  CHECK(folder.status().message().find("not a model folder") != std::string::npos);
}

TEST_CASE("a hand-built ONNX model: initializers are not inputs, symbolic dims are -1, metadata is reported") {
  onnx::ModelProto model;
  model.set_ir_version(8);
  model.set_producer_name("modelcast-test");
  model.set_producer_version("1.0");
  model.set_doc_string("scores three classes");
  model.set_model_version(7);
  auto* opset = model.add_opset_import();
  opset->set_domain("");
  opset->set_version(17);
  auto* ml = model.add_opset_import();
  ml->set_domain("ai.onnx.ml");
  ml->set_version(3);
  auto* prop = model.add_metadata_props();
  prop->set_key("author");
  prop->set_value("data team");
  onnx::GraphProto* graph = model.mutable_graph();
  graph->set_name("g");
  // "x": a float tensor whose shape the exporter left out entirely (any rank).
  auto* x = graph->add_input();
  x->set_name("x");
  x->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
  // "w": a weight that older exporters list as a graph input too.
  auto* w = graph->add_input();
  w->set_name("w");
  w->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
  w->mutable_type()->mutable_tensor_type()->mutable_shape()->add_dim()->set_dim_value(3);
  auto* init = graph->add_initializer();
  init->set_name("w");
  init->set_data_type(onnx::TensorProto::FLOAT);
  init->add_dims(3);
  // "y": [N, 3] with a symbolic batch dimension, and "ids": a dimension with neither value nor name.
  auto* y = graph->add_output();
  y->set_name("y");
  auto* y_shape = y->mutable_type()->mutable_tensor_type()->mutable_shape();
  y->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::DOUBLE);
  y_shape->add_dim()->set_dim_param("N");
  y_shape->add_dim()->set_dim_value(3);
  auto* ids = graph->add_output();
  ids->set_name("ids");
  ids->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::INT64);
  ids->mutable_type()->mutable_tensor_type()->mutable_shape()->add_dim();

  TempDir dir;
  write_all((dir / "m.onnx"), model.SerializeAsString());
  Result<ModelInfo> r = read_onnx_file((dir / "m.onnx"));
  REQUIRE_MESSAGE(r.ok(), r.status().message());
  REQUIRE(r->inputs.size() == 1);
  CHECK(r->inputs[0].name == "x");
  CHECK_FALSE(r->inputs[0].ranked);
  REQUIRE(r->outputs.size() == 2);
  CHECK(r->outputs[0].dtype == "float64");
  CHECK(r->outputs[0].shape == std::vector<int64_t>{-1, 3});
  CHECK(r->outputs[1].shape == std::vector<int64_t>{-1});
  CHECK(r->metadata["producer_name"] == "modelcast-test");
  CHECK(r->metadata["producer_version"] == "1.0");
  CHECK(r->metadata["doc_string"] == "scores three classes");
  CHECK(r->metadata["model_version"] == 7);
  CHECK(r->metadata["ir_version"] == 8);
  CHECK(r->metadata["opset_imports"] == Json{{"ai.onnx", 17}, {"ai.onnx.ml", 3}});
  CHECK(r->metadata["metadata_props"] == Json{{"author", "data team"}});

  // Any shape fits an input of open rank; labels still meet the class dimension.
  Result<ModelConfig> config = config_from_json(
      Json{{"inputs", {{{"name", "x"}, {"dtype", "float32"}, {"shape", {2, 2}}}}},
           {"outputs", {{{"name", "y"}, {"dtype", "float64"}, {"shape", {-1, 3}}, {"labels", {"a", "b"}}}}}},
      "config.json");
  REQUIRE(config.ok());
  Status s = check_config_fits(*config, *r, "m.onnx");
  CHECK(s.code() == StatusCode::kConfigMismatch);
  CHECK(s.message() == "m.onnx: config output \"y\": 2 labels but the model's class dimension is 3");
  config->outputs[0].labels.push_back("c");
  CHECK(check_config_fits(*config, *r, "m.onnx").ok());
}
