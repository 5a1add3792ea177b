// The TFLite reader on real MediaPipe models, on synthetic models for the cases those do
// not cover (dynamic dimensions, metadata, bad indices), and on damaged copies: a damaged
// file must come back as kCorruption or as a model that still reads, never a crash (run
// this under ASan to make "never" mean something).

#include <doctest/doctest.h>

#include <random>

#include "model_test_util.h"
#include "modelcast/model_info.h"

using namespace modelcast;
using namespace modelcast_test;

namespace {

ModelInfo read_ok(const std::string& bytes) {
  Result<ModelInfo> r = read_tflite_buffer(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "test.tflite");
  INFO(r.status().message());
  REQUIRE(r.ok());
  return std::move(r).value();
}

// Damage must be refused as corruption or read as some model; anything else (another
// error kind, a crash, a sanitizer report) fails.
void check_damaged(const std::string& bytes, const std::string& what) {
  // A fresh heap copy of exactly this size, so ASan sees any read past the end.
  std::vector<uint8_t> copy(bytes.begin(), bytes.end());
  Result<ModelInfo> r = read_tflite_buffer(copy.data(), copy.size(), what);
  if (!r.ok()) {
    INFO(what << ": " << r.status().message());
    CHECK(r.status().code() == StatusCode::kCorruption);
  } else {
    CHECK(r->format == "tflite");
  }
}

}  // namespace

TEST_CASE("the MediaPipe selfie segmentation models list their input, output and description") {
  const std::string portrait = selfie_model("selfie_segmentation.tflite");
  const std::string landscape = selfie_model("selfie_segmentation_landscape.tflite");
  if (!file_exists(portrait) || !file_exists(landscape)) {
    MESSAGE("skipped: MediaPipe models absent from " << testdata_dir() << "; run scripts/fetch-testdata");
    return;
  }
  Result<ModelInfo> p = read_tflite_file(portrait);
  REQUIRE_MESSAGE(p.ok(), p.status().message());
  CHECK(p->format == "tflite");
  REQUIRE(p->inputs.size() == 1);
  CHECK(p->inputs[0].name == "input_1");
  CHECK(p->inputs[0].dtype == "float32");
  CHECK(p->inputs[0].shape == std::vector<int64_t>{1, 256, 256, 3});
  REQUIRE(p->outputs.size() == 1);
  CHECK(p->outputs[0].name == "activation_10");
  CHECK(p->outputs[0].dtype == "float32");
  CHECK(p->outputs[0].shape == std::vector<int64_t>{1, 256, 256, 1});
  CHECK(p->metadata["tflite_schema_version"] == 3);
  CHECK(p->metadata["description"].get<std::string>().find("selfiesegmentation") != std::string::npos);

  Result<ModelInfo> l = read_tflite_file(landscape);
  REQUIRE_MESSAGE(l.ok(), l.status().message());
  REQUIRE(l->inputs.size() == 1);
  CHECK(l->inputs[0].name == "input_1");
  CHECK(l->inputs[0].shape == std::vector<int64_t>{1, 144, 256, 3});
  REQUIRE(l->outputs.size() == 1);
  CHECK(l->outputs[0].name == "segment_back");
  CHECK(l->outputs[0].shape == std::vector<int64_t>{1, 144, 256, 1});

  CHECK(looks_like_tflite(portrait));
  CHECK_FALSE(looks_like_tflite(selfie_model("package.json")));

  // The mapped file and an in-memory copy read the same.
  std::string bytes = read_all(portrait);
  ModelInfo from_memory = read_ok(bytes);
  CHECK(from_memory.inputs[0].shape == p->inputs[0].shape);
  CHECK(from_memory.metadata == p->metadata);
}

TEST_CASE("truncated and bit-flipped copies of a MediaPipe model are refused as corruption, never a crash") {
  const std::string path = selfie_model("selfie_segmentation.tflite");
  if (!file_exists(path)) {
    MESSAGE("skipped: " << path << " absent; run scripts/fetch-testdata");
    return;
  }
  const std::string bytes = read_all(path);
  REQUIRE(bytes.size() > 1000);
  size_t cuts = 0;
  for (size_t n = 0; n < bytes.size(); n += (n < 256 || n + 256 > bytes.size()) ? 1 : 97) {
    check_damaged(bytes.substr(0, n), "cut at " + std::to_string(n));
    ++cuts;
  }
  // Flips concentrate where the reader follows offsets: the header, the tables (TFLite
  // writes weights first and tables last) and a spread over the rest.
  std::mt19937 rng(5);
  size_t flips = 0, still_read = 0;
  for (int i = 0; i < 3000; ++i) {
    size_t pos;
    if (i < 64 * 8) pos = static_cast<size_t>(i / 8);
    else if (i < 2000) pos = bytes.size() - 1 - rng() % 16384;
    else pos = rng() % bytes.size();
    std::string damaged = bytes;
    damaged[pos] = static_cast<char>(damaged[pos] ^ (1u << (i % 8)));
    std::vector<uint8_t> copy(damaged.begin(), damaged.end());
    Result<ModelInfo> r = read_tflite_buffer(copy.data(), copy.size(), "flip");
    if (r.ok()) ++still_read;
    else CHECK(r.status().code() == StatusCode::kCorruption);
    ++flips;
  }
  MESSAGE(cuts << " truncations refused; " << flips << " bit flips, " << still_read << " of them still read as a model");
}

TEST_CASE("a dynamic batch dimension comes from shape_signature as -1 and element types map to config spelling") {
  FakeModel m;
  m.inputs = {{"image", tflite::TensorType_UINT8, {1, 224, 224, 3}, {-1, 224, 224, 3}},
              {"mask", tflite::TensorType_BOOL, {1, 10}, {}},
              {"ids", tflite::TensorType_INT64, {1, 16}, {1, -1}}};
  m.outputs = {{"scores", tflite::TensorType_FLOAT16, {1, 3}, {}},
               {"quantized", tflite::TensorType_INT8, {1, 4}, {}},
               {"text", tflite::TensorType_STRING, {}, {}}};
  ModelInfo info = read_ok(build_tflite(m));
  REQUIRE(info.inputs.size() == 3);
  CHECK(info.inputs[0].name == "image");
  CHECK(info.inputs[0].dtype == "uint8");
  CHECK(info.inputs[0].shape == std::vector<int64_t>{-1, 224, 224, 3});
  CHECK(info.inputs[1].dtype == "bool");
  CHECK(info.inputs[1].shape == std::vector<int64_t>{1, 10});
  CHECK(info.inputs[2].dtype == "int64");
  CHECK(info.inputs[2].shape == std::vector<int64_t>{1, -1});
  REQUIRE(info.outputs.size() == 3);
  CHECK(info.outputs[0].dtype == "float16");
  CHECK(info.outputs[1].dtype == "int8");
  CHECK(info.outputs[2].dtype == "string");
  CHECK(info.outputs[2].shape.empty());
  for (const auto& t : info.inputs) CHECK(is_known_dtype(t.dtype));
  for (const auto& t : info.outputs) CHECK(is_known_dtype(t.dtype));
}

TEST_CASE("the model description, metadata names and min_runtime_version are reported") {
  FakeModel m;
  m.inputs = {{"x", tflite::TensorType_FLOAT32, {1, 2}, {}}};
  m.outputs = {{"y", tflite::TensorType_FLOAT32, {1, 2}, {}}};
  m.description = "MLIR Converted.";
  m.min_runtime_version = "1.14.0";
  ModelInfo info = read_ok(build_tflite(m));
  CHECK(info.metadata["description"] == "MLIR Converted.");
  CHECK(info.metadata["min_runtime_version"] == "1.14.0");
  CHECK(info.metadata["metadata_names"] == Json::array({"min_runtime_version", "TFLITE_METADATA"}));
  CHECK(info.metadata["graph_name"] == "main");
  CHECK(info.metadata["subgraphs"] == 1);
}

TEST_CASE("a tensor index outside the tensor list is corruption, found before any access") {
  FakeModel m;
  m.inputs = {{"x", tflite::TensorType_FLOAT32, {1, 2}, {}}};
  m.outputs = {{"y", tflite::TensorType_FLOAT32, {1, 2}, {}}};
  m.output_index_offset = 5;
  std::string bytes = build_tflite(m);
  Result<ModelInfo> r = read_tflite_buffer(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "bad.tflite");
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == StatusCode::kCorruption);
  CHECK(r.status().message() == "bad.tflite: output 0: tensor index 6 is out of range");
}

TEST_CASE("every truncation of a small model is refused, and non-models are named as such") {
  FakeModel m;
  m.inputs = {{"x", tflite::TensorType_FLOAT32, {1, 2}, {-1, 2}}};
  m.outputs = {{"y", tflite::TensorType_FLOAT32, {1, 2}, {}}};
  m.min_runtime_version = "2.3.0";
  const std::string bytes = build_tflite(m);
  for (size_t n = 0; n < bytes.size(); ++n) {
    std::vector<uint8_t> copy(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(n));
    Result<ModelInfo> r = read_tflite_buffer(copy.data(), copy.size(), "cut");
    INFO("cut at " << n);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == StatusCode::kCorruption);
  }

  TempDir dir;
  write_all((dir / "labels.tflite"), "cat\ndog\nbird\n");
  Result<ModelInfo> text = read_tflite_file((dir / "labels.tflite"));
  REQUIRE_FALSE(text.ok());
  CHECK(text.status().code() == StatusCode::kCorruption);
  CHECK(text.status().message().find("no \"TFL3\" identifier") != std::string::npos);

  write_all((dir / "empty.tflite"), "");
  Result<ModelInfo> empty = read_tflite_file((dir / "empty.tflite"));
  REQUIRE_FALSE(empty.ok());
  CHECK(empty.status().code() == StatusCode::kCorruption);
  CHECK_FALSE(looks_like_tflite((dir / "empty.tflite")));

  Result<ModelInfo> missing = read_tflite_file((dir / "missing.tflite"));
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().code() == StatusCode::kNotFound);

  write_all((dir / "good.tflite"), bytes);
  CHECK(looks_like_tflite((dir / "good.tflite")));
  Result<ModelInfo> good = read_tflite_file((dir / "good.tflite"));
  REQUIRE_MESSAGE(good.ok(), good.status().message());
  CHECK(good->inputs[0].shape == std::vector<int64_t>{-1, 2});
}

TEST_CASE("model_text replaces invalid UTF-8 and cuts on a character boundary") {
  CHECK(model_text("plain", 100) == "plain");
  CHECK(model_text(std::string("a\xff" "b"), 100) == "a\xEF\xBF\xBD" "b");
  CHECK(model_text(std::string("\xC0\xAF"), 100) == "\xEF\xBF\xBD\xEF\xBF\xBD");  // overlong '/'
  CHECK(model_text(std::string("\xED\xA0\x80"), 100).find('\xED') == std::string::npos);  // surrogate
  CHECK(model_text("h\xC3\xA9llo", 2) == "h");  // é does not fit in the remaining byte
  Json j = model_text(std::string("\x80\x81", 2), 100);
  CHECK_NOTHROW((void)j.dump(-1, ' ', false, Json::error_handler_t::strict));
}
