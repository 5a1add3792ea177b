// What a model file says about itself, and whether a config fits it.
//
// The model file is the source of truth for tensor names, element types and shapes:
// the publisher refuses a config that does not fit, and the device checks again before
// a new version becomes current. The readers are a table (manifests/models/README.md):
// the TFLite functions below are the device's, as model_readers.h lists them.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "modelcast/manifest.h"
#include "modelcast/status.h"

namespace modelcast {

struct TensorInfo {
  std::string name;
  std::string dtype;           // same spelling as TensorSpec::dtype
  std::vector<int64_t> shape;  // -1 for dynamic dimensions
  bool ranked = true;          // false when the model leaves even the rank open (shape empty)
  // Class labels the model itself carries for this output (a Core ML classifier, a
  // SavedModel's label asset), in class order; empty when it carries none.
  std::vector<std::string> labels;
};

struct ModelInfo {
  std::string format;  // a reader's format ("tflite", "onnx", "graphdef", "savedmodel", "mlmodel", "mlpackage") or "opaque"
  std::vector<TensorInfo> inputs;
  std::vector<TensorInfo> outputs;
  // True when the format does not say which tensors are outputs and `outputs` are guesses
  // (a GraphDef's nodes no other node consumes): a config keeps the ones the app reads.
  bool output_candidates = false;
  // The oldest OS release per platform that can run the model ("ios" -> "13.0" for a Core
  // ML specification version 4); empty when the format says nothing about it.
  std::map<std::string, std::string> minimum_os;
  Json metadata = Json::object();  // producer, opset, description, TFLite metadata names...
  std::string note;                // e.g. "not inspected: Core ML models are carried as opaque files"
};

// Where one weight tensor's bytes lie in a model file: what a weight-aware delta aligns on,
// so a tensor that moved between versions is still compared with its old self.
struct TensorExtent {
  std::string name;   // unique within one file ("#2", "#3"... appended to repeats)
  std::string dtype;  // same spelling as TensorInfo::dtype
  uint64_t offset = 0;
  uint64_t length = 0;
};

// Reads a TFLite FlatBuffer: mapped read-only (at most 2 GiB, FlatBuffers' own limit) and
// checked by flatbuffers::Verifier before any access; kCorruption when it does not verify.
// The mapping is page cache, not heap; the file must not be truncated while it is read
// (true of the fetcher's verified, read-only blobs).
Result<ModelInfo> read_tflite_file(const std::string& path);
Result<ModelInfo> read_tflite_buffer(const uint8_t* data, size_t size, const std::string& what);

// The constant tensors of a TFLite file (every subgraph) with the byte range of their
// buffer, whether inside the FlatBuffer or appended after it; each buffer once, in file
// order. Same mapping and verification as read_tflite_file.
Result<std::vector<TensorExtent>> read_tflite_tensor_extents(const std::string& path);

// True when the file looks like TFLite ("TFL3" identifier at offset 4).
bool looks_like_tflite(const std::string& path);

// kConfigMismatch naming the tensor and both values when `config` does not fit `model`:
// every configured input/output exists with the same dtype (unless the model does not say
// it: dtype "") and a compatible shape (-1 matches anything), a labelled output's class
// dimension equals the label count, and labels the model carries are the config's.
Status check_config_fits(const ModelConfig& config, const ModelInfo& model, const std::string& model_file);

// Text taken from a model file (tensor names, descriptions) made safe to put in JSON:
// invalid UTF-8 becomes U+FFFD and the result is cut at max_bytes on a character
// boundary. Model files are untrusted; nlohmann's strict dump would throw on bad UTF-8.
std::string model_text(std::string_view raw, size_t max_bytes);

// The labels of a labels file: one per line, CRLF or LF, each made safe by model_text
// (at most 1024 bytes); the empty lines at the end are not labels.
std::vector<std::string> label_lines(std::string_view raw);

}  // namespace modelcast
