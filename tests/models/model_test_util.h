// Helpers shared by the model reader tests: where the real models are, a scratch folder,
// and a builder for small synthetic TFLite models (through the same flatc-generated
// schema the reader uses) for the cases real models do not cover.
#pragma once

#include <doctest/doctest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "temp_dir.h"
#include "tflite/schema_generated.h"

namespace modelcast_test {

inline std::string testdata_dir() {
  const char* env = std::getenv("MODELCAST_TESTDATA");
  return env != nullptr && *env != '\0' ? std::string(env) : std::string(MODELCAST_SOURCE_DIR) + "/.testdata";
}

inline std::string selfie_model(const std::string& file) {
  return testdata_dir() + "/mediapipe-selfie/package/" + file;
}

inline bool file_exists(const std::string& path) { return ::access(path.c_str(), R_OK) == 0; }

inline std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline void write_all(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out.good());
}

using modelcast::testing::TempDir;

struct FakeTensor {
  std::string name;
  tflite::TensorType type = tflite::TensorType_FLOAT32;
  std::vector<int32_t> shape;
  std::vector<int32_t> signature;  // empty: none written
};

struct FakeModel {
  std::vector<FakeTensor> inputs;
  std::vector<FakeTensor> outputs;
  std::string description = "synthetic test model";
  std::string min_runtime_version;  // empty: no such metadata entry
  int32_t output_index_offset = 0;  // added to output tensor indices (out-of-range tests)
};

// A TFLite FlatBuffer with subgraph 0 holding the given inputs then outputs as tensors.
inline std::string build_tflite(const FakeModel& m) {
  flatbuffers::FlatBufferBuilder b;
  std::vector<flatbuffers::Offset<tflite::Tensor>> tensors;
  std::vector<int32_t> inputs, outputs;
  auto add = [&](const FakeTensor& t) {
    auto sig = t.signature.empty() ? 0 : b.CreateVector(t.signature);
    tensors.push_back(tflite::CreateTensor(b, b.CreateVector(t.shape), t.type, 0, b.CreateString(t.name), 0, false, 0, sig));
    return static_cast<int32_t>(tensors.size() - 1);
  };
  for (const auto& t : m.inputs) inputs.push_back(add(t));
  for (const auto& t : m.outputs) outputs.push_back(add(t) + m.output_index_offset);
  auto graph = tflite::CreateSubGraph(b, b.CreateVector(tensors), b.CreateVector(inputs), b.CreateVector(outputs), 0,
                                      b.CreateString("main"));
  std::vector<flatbuffers::Offset<tflite::Buffer>> buffers = {tflite::CreateBuffer(b)};
  std::vector<flatbuffers::Offset<tflite::Metadata>> metadata;
  if (!m.min_runtime_version.empty()) {
    // Upstream pads the version string with NULs to 16 bytes.
    std::vector<uint8_t> bytes(16, 0);
    std::copy(m.min_runtime_version.begin(), m.min_runtime_version.end(), bytes.begin());
    buffers.push_back(tflite::CreateBuffer(b, b.CreateVector(bytes)));
    metadata.push_back(tflite::CreateMetadata(b, b.CreateString("min_runtime_version"), 1));
  }
  metadata.push_back(tflite::CreateMetadata(b, b.CreateString("TFLITE_METADATA"), 0));
  std::vector<flatbuffers::Offset<tflite::SubGraph>> graphs = {graph};
  auto model = tflite::CreateModel(b, 3, 0, b.CreateVector(graphs), b.CreateString(m.description), b.CreateVector(buffers),
                                   0, b.CreateVector(metadata));
  tflite::FinishModelBuffer(b, model);
  return std::string(reinterpret_cast<const char*>(b.GetBufferPointer()), b.GetSize());
}

}  // namespace modelcast_test
