// Publisher-side model inspection: every row of the reader table (model_readers.h), the
// ones that need libprotobuf included; anything no reader claims is an opaque file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "modelcast/model_info.h"
#include "modelcast/model_readers.h"

namespace modelcast {

// The device readers plus the ones that need libprotobuf (ONNX).
const ModelReaders& publisher_model_readers();

// Dispatches on content (TFLite identifier, ONNX protobuf) and extension through the
// table. `path` may be a model folder (a SavedModel, a .mlpackage); any other folder is
// kInvalidArgument. Files no reader claims (labels, weights, archives) return format
// "opaque" with a note, never an error; a file that claims a known format but is malformed
// or truncated returns kCorruption.
Result<ModelInfo> inspect_model_file(const std::string& path);

// ONNX only; kCorruption on anything that does not parse.
Result<ModelInfo> read_onnx_file(const std::string& path);
// The same from memory (fuzzing, tests); `what` names the bytes in errors.
Result<ModelInfo> read_onnx_buffer(const uint8_t* data, size_t size, const std::string& what);

// Where each initializer's weight bytes (raw_data, or packed float_data) lie in an ONNX
// file, in file order; read by walking the protobuf wire format, weights skipped over.
Result<std::vector<TensorExtent>> read_onnx_tensor_extents(const std::string& path);

// The tensor extents of a TFLite or ONNX file, chosen as inspect_model_file chooses the
// reader; empty for any other file. Used to align weight-aware deltas by tensor.
Result<std::vector<TensorExtent>> read_tensor_extents(const std::string& path);

}  // namespace modelcast
