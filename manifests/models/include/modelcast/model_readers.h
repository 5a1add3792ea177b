// The model-reader table: one row per format, asked in order. A row says whether a file
// (or folder) is its format, reads what the model declares, and finds its weight tensors.
//
// Two tables: device_model_readers() holds the readers a device can afford (no protobuf;
// built into modelcast_format, which the fetcher links); publisher_model_readers() in
// model_inspect.h adds the ones that need libprotobuf. Adding a format is one reader file
// plus one row in one of the two tables (device_readers.cc, publisher_readers.cc).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "modelcast/model_info.h"
#include "modelcast/status.h"

namespace modelcast {

// How many leading bytes a sniff sees: enough for the first GraphDef node's name and op.
constexpr size_t kModelHeadBytes = 4096;

enum class Sniff {
  kNo,     // not this format
  kMaybe,  // could be (no extension says so): read it, and a failure only means "not this one"
  kYes,    // this format: a read error is the answer (a damaged model, not another format)
};

struct SniffInput {
  std::string_view head;  // the first kModelHeadBytes bytes (fewer for a short file; none for a folder)
  std::string_view name;  // the path as the user or the manifest names it; its extension counts
  std::string_view path;  // where the bytes are (a blob on a device); folder sniffs may look inside
  bool folder = false;
};

struct ModelReader {
  const char* format;  // ModelInfo::format of what read_info returns
  Sniff (*sniff)(const SniffInput& in);
  Result<ModelInfo> (*read_info)(const std::string& path);
  // The weight tensors' byte ranges (weight-aware deltas); nullptr when the format has none to offer.
  Result<std::vector<TensorExtent>> (*read_extents)(const std::string& path);
};

using ModelReaders = std::vector<const ModelReader*>;

// The readers without protobuf, the ones a device runs before a version becomes current.
const ModelReaders& device_model_readers();

// The first reader of `readers` that answers kYes, or nullptr.
const ModelReader* claiming_reader(const ModelReaders& readers, const SniffInput& in);

// Each reader's own entry points, for tests and fuzzing. `what` names the bytes in errors.
// TensorFlow frozen GraphDef (graphdef_reader.cc).
Result<ModelInfo> read_graphdef_file(const std::string& path);
Result<ModelInfo> read_graphdef_buffer(std::string_view bytes, const std::string& what);
// TensorFlow SavedModel (savedmodel_reader.cc): `path` is the folder or its saved_model.pb;
// the buffer is a saved_model.pb (no assets, so no labels from them).
Result<ModelInfo> read_savedmodel(const std::string& path);
Result<ModelInfo> read_savedmodel_buffer(std::string_view bytes, const std::string& what);
// Core ML .mlmodel (mlmodel_reader.cc).
Result<ModelInfo> read_mlmodel_file(const std::string& path);
Result<ModelInfo> read_mlmodel_buffer(std::string_view bytes, const std::string& what);
// Core ML .mlpackage folder (mlpackage_reader.cc): Manifest.json gives the items (paths
// relative to Data/), the overlays are applied over the root model's own descriptions.
struct MlpackageLayout {
  std::string root_model;            // the item rootModelIdentifier names
  std::string feature_descriptions;  // "" when the package has no such overlay
  std::string metadata;
};
Result<ModelInfo> read_mlpackage(const std::string& path);
Result<MlpackageLayout> read_mlpackage_manifest(std::string_view manifest_json, const std::string& what);
Status apply_mlpackage_overlays(std::string_view feature_descriptions_json, std::string_view metadata_json,
                                ModelInfo& info, const std::string& what);

// Up to kModelHeadBytes from the start of a regular file (a FIFO would block the caller).
Result<std::string> read_model_head(const std::string& path);

// The lower-cased extension of the last path component ("" when it has none).
std::string model_extension(std::string_view name);

}  // namespace modelcast
