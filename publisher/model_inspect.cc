// Which reader a file goes to. Content decides where it can (the TFLite identifier, a zip
// signature); the extension decides only between "must be ONNX" and "might be ONNX", so
// a renamed model is still inspected and a labels file is never mistaken for one.

#include "model_inspect.h"

#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <memory>

#include "modelcast/file_system.h"

namespace modelcast {

namespace {

std::string lower_extension(const std::string& path) {
  size_t slash = path.find_last_of('/');
  size_t dot = path.find_last_of('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return std::string();
  std::string ext = path.substr(dot + 1);
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext;
}

// Only a regular file opens: a FIFO would block the caller (publish holds the tree lock).
Result<std::string> read_head(const std::string& path, size_t n) {
  MC_ASSIGN_OR_RETURN(std::unique_ptr<ReadableFile> file, posix_file_system()->open_readable(path));
  std::string head(n, '\0');
  size_t got = 0;
  while (got < n) {
    MC_ASSIGN_OR_RETURN(size_t r, file->read(&head[got], n - got));
    if (r == 0) break;
    got += r;
  }
  head.resize(got);
  return head;
}

ModelInfo opaque(const std::string& note) {
  ModelInfo info;
  info.format = "opaque";
  info.note = note;
  return info;
}

}  // namespace

Result<ModelInfo> inspect_model_file(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
    return error(StatusCode::kInvalidArgument,
                 path + ": is a folder; models are published as files (zip a .mlpackage or SavedModel first)");
  MC_ASSIGN_OR_RETURN(std::string head, read_head(path, 8));
  const std::string ext = lower_extension(path);
  if (head.size() == 8 && head.compare(4, 4, "TFL3") == 0) return read_tflite_file(path);
  if (ext == "tflite") return read_tflite_file(path);  // says TFLite but lacks the identifier: corrupt
  if (ext == "onnx") return read_onnx_file(path);
  if (head.compare(0, 4, std::string("PK\x03\x04", 4)) == 0)
    return opaque("not inspected: zip archives (a zipped .mlpackage, a TF SavedModel) are carried as opaque files");
  if (ext == "mlmodel" || ext == "mlpackage")
    return opaque("not inspected: Core ML models are carried as opaque files");
  if (ext == "pb")
    return opaque("not inspected: TensorFlow GraphDef/SavedModel files are carried as opaque files");
  if (ext == "txt" || ext == "json" || ext == "csv" || ext == "vocab" || ext == "labels")
    return opaque("not inspected: labels, vocabularies and other text files are carried as opaque files");
  // An unknown extension might still be ONNX. Exporters serialise field 1 (ir_version,
  // tag byte 0x08) first, which spares parsing every unknown file; and since protobuf
  // parses almost any bytes into unknown fields, only a model with a graph and an IR
  // version counts.
  if (!head.empty() && head[0] == '\x08') {
    Result<ModelInfo> onnx = read_onnx_file(path);
    if (onnx.ok() && onnx->metadata.value("ir_version", Json(0)) != Json(0)) return onnx;
  }
  return opaque("not inspected: not a TFLite or ONNX model; carried as an opaque file");
}

Result<std::vector<TensorExtent>> read_tensor_extents(const std::string& path) {
  MC_ASSIGN_OR_RETURN(std::string head, read_head(path, 8));
  const std::string ext = lower_extension(path);
  if ((head.size() == 8 && head.compare(4, 4, "TFL3") == 0) || ext == "tflite") return read_tflite_tensor_extents(path);
  if (ext == "onnx") return read_onnx_tensor_extents(path);
  if (!head.empty() && head[0] == '\x08') {
    // Perhaps ONNX under another name (see inspect_model_file); if not, no tensors.
    Result<std::vector<TensorExtent>> onnx = read_onnx_tensor_extents(path);
    if (onnx.ok()) return onnx;
  }
  return std::vector<TensorExtent>();
}

}  // namespace modelcast
