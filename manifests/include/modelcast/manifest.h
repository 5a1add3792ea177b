// The signed manifest of manifests/FORMAT.md as C++ values, and its JSON mapping.
//
// manifest_from_json is the single validator of the format: it checks every field's type,
// range and cross-field rule and names the offending field ("signed.files[2].path: ...").
// The structs are plain values; nothing here touches the network or the disk.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "modelcast/canonical_json.h"
#include "modelcast/status.h"

namespace modelcast {

constexpr const char* kManifestSchema = "modelcast/manifest/1";
constexpr size_t kMaxManifestBytes = 1 << 20;  // a manifest is small; refuse anything larger
constexpr size_t kMaxConfigBytes = 1 << 20;
constexpr size_t kMaxFiles = 10000;
constexpr size_t kMaxTensors = 1024;
constexpr size_t kMaxRank = 16;
constexpr size_t kMaxLabels = 100000;
constexpr size_t kMaxFeatures = 256;
// zstd blobs decode with a window of at most 2^27 bytes (128 MiB), on both sides: a frame
// asking for more is refused rather than allowed to claim the memory (FORMAT.md).
constexpr int kMaxZstdWindowLog = 27;

// Element types a config may name (the union of TFLite's and ONNX's common types).
bool is_known_dtype(const std::string& dtype);

struct TensorSpec {
  std::string name;
  std::string dtype;                // "float32", "uint8", ...
  std::vector<int64_t> shape;       // -1 for a dynamic dimension
  std::vector<std::string> labels;  // outputs only: what each class index means
};

struct ModelConfig {
  std::vector<TensorSpec> inputs;
  std::vector<TensorSpec> outputs;
  std::vector<std::string> features;  // what the app must extract to feed the model
  Json metadata = Json::object();     // free-form (no floats)
};

struct Delta {
  std::string from_sha256;  // content the device already has
  std::string url;          // deltas/sha256/<2>/<from>-<to>.zstpatch
  uint64_t stored_size = 0;
};

struct FileEntry {
  std::string path;  // relative, inside the model's version folder
  std::string sha256;
  uint64_t size = 0;
  std::string url;
  std::string encoding = "identity";  // or "zstd"
  uint64_t stored_size = 0;
  std::vector<Delta> deltas;
};

struct Requirements {
  std::vector<std::string> features;
  std::string min_app_version;  // empty: any
  std::string runtime;          // empty: any; e.g. "tflite"
  // Format 2 only (the format 1 document requires kFormat2Feature instead): the oldest OS
  // version of the manifest's platform that runs the model, e.g. "17.0". Empty: any.
  std::string min_os_version;
};

struct Manifest {
  std::string schema = kManifestSchema;
  std::string model;
  std::string channel = "stable";
  std::string platform;
  uint64_t version = 0;
  std::string published_at;
  std::string expires_at;
  std::vector<FileEntry> files;
  ModelConfig config;
  Requirements requirements;  // "requires" in JSON
  std::optional<int> rollout_percent;
};

Result<Manifest> manifest_from_json(const Json& signed_part);
Json manifest_to_json(const Manifest& manifest);

// A config as written by a data scientist (CONFIG.json) or found in a manifest.
// `where` prefixes errors: "config.json" or "signed.config".
Result<ModelConfig> config_from_json(const Json& value, const std::string& where);
Json config_to_json(const ModelConfig& config);

}  // namespace modelcast
