// Which reader a file goes to, through the reader table. A reader that claims the file
// (its content or its extension says so) reads it, and its error is the answer; archives
// and text files are opaque without asking further; a reader that only might fit is tried
// last, and its failure means "opaque", so a renamed model is still inspected and a labels
// file is never mistaken for one.

#include "model_inspect.h"

#include <sys/stat.h>

namespace modelcast {

namespace {

ModelInfo opaque(const std::string& note) {
  ModelInfo info;
  info.format = "opaque";
  info.note = note;
  return info;
}

// Files no reader should be asked about, with the note inspect shows for them.
const char* known_opaque(const std::string& head, const std::string& ext) {
  if (head.compare(0, 4, std::string("PK\x03\x04", 4)) == 0)
    return "not inspected: zip archives (a zipped .mlpackage, a TF SavedModel) are carried as opaque files";
  if (ext == "mlmodel" || ext == "mlpackage") return "not inspected: Core ML models are carried as opaque files";
  if (ext == "pb") return "not inspected: TensorFlow GraphDef/SavedModel files are carried as opaque files";
  if (ext == "txt" || ext == "json" || ext == "csv" || ext == "vocab" || ext == "labels")
    return "not inspected: labels, vocabularies and other text files are carried as opaque files";
  return nullptr;
}

}  // namespace

Result<ModelInfo> inspect_model_file(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
    return error(StatusCode::kInvalidArgument,
                 path + ": is a folder; models are published as files (zip a .mlpackage or SavedModel first)");
  MC_ASSIGN_OR_RETURN(std::string head, read_model_head(path));
  const SniffInput in{head, path, path, false};
  const ModelReaders& readers = publisher_model_readers();
  if (const ModelReader* r = claiming_reader(readers, in)) return r->read_info(path);
  if (const char* note = known_opaque(head, model_extension(path))) return opaque(note);
  for (const ModelReader* r : readers) {
    if (r->sniff(in) != Sniff::kMaybe) continue;
    Result<ModelInfo> info = r->read_info(path);
    if (info.ok()) return info;
  }
  return opaque("not inspected: not a TFLite or ONNX model; carried as an opaque file");
}

Result<std::vector<TensorExtent>> read_tensor_extents(const std::string& path) {
  MC_ASSIGN_OR_RETURN(std::string head, read_model_head(path));
  const SniffInput in{head, path, path, false};
  const ModelReaders& readers = publisher_model_readers();
  if (const ModelReader* r = claiming_reader(readers, in))
    return r->read_extents != nullptr ? r->read_extents(path) : std::vector<TensorExtent>();
  if (known_opaque(head, model_extension(path)) != nullptr) return std::vector<TensorExtent>();
  for (const ModelReader* r : readers) {
    if (r->sniff(in) != Sniff::kMaybe || r->read_extents == nullptr) continue;
    // Perhaps this format under another name (see inspect_model_file); if not, no tensors.
    Result<std::vector<TensorExtent>> extents = r->read_extents(path);
    if (extents.ok()) return extents;
  }
  return std::vector<TensorExtent>();
}

}  // namespace modelcast
