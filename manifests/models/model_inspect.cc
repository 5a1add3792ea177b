// Which reader a file goes to, through the reader table. A reader that claims the file
// (its content or its extension says so) reads it, and its error is the answer; archives
// and text files are opaque without asking further; a reader that only might fit is tried
// last, and its failure means "opaque", so a renamed model is still inspected and a labels
// file is never mistaken for one.

#include "model_inspect.h"

#include "modelcast/file_system.h"

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
  if (ext == "pb") return "not inspected: not a frozen TensorFlow GraphDef (nor a SavedModel's saved_model.pb); carried as an opaque file";
  if (ext == "txt" || ext == "json" || ext == "csv" || ext == "vocab" || ext == "labels")
    return "not inspected: labels, vocabularies and other text files are carried as opaque files";
  return nullptr;
}

}  // namespace

// A folder is a model when a folder reader claims it (a SavedModel, a .mlpackage).
Result<ModelInfo> inspect_model_folder(const std::string& path) {
  const SniffInput in{std::string_view(), path, path, true};
  if (const ModelReader* r = claiming_reader(publisher_model_readers(), in)) return r->read_info(path);
  return error(StatusCode::kInvalidArgument, path +
                                                 ": is a folder but not a model folder (a TensorFlow SavedModel has "
                                                 "saved_model.pb, a Core ML package Manifest.json)");
}

Result<ModelInfo> inspect_model_file(const std::string& path) {
  Result<FileInfo> st = posix_file_system()->stat(path);
  if (st.ok() && st->type == FileType::kDirectory) return inspect_model_folder(path);
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
  return opaque("not inspected: not a model any reader knows (TFLite, ONNX, TensorFlow, Core ML); carried as an opaque file");
}

Result<std::vector<TensorExtent>> read_tensor_extents(const std::string& path) {
  Result<FileInfo> st = posix_file_system()->stat(path);
  if (st.ok() && st->type == FileType::kDirectory) return std::vector<TensorExtent>();
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
