// TensorFlow SavedModel reader: a folder holding saved_model.pb (a SavedModel message),
// variables/ and perhaps assets/. The serving signature says exactly what an app feeds
// and reads: its keys are the input and output names, each with a dtype and a shape, so
// no graph walk is needed (the graph_def inside is skipped over, never parsed).
// - the meta graph is the one tagged "serve";
// - the signature is "serving_default", or else the only one whose name does not start
//   with "__" (TensorFlow's own, like __saved_model_init_op);
// - a text file in assets/ whose line count is the class dimension of exactly one output
//   gives that output's labels.

#include <algorithm>

#include "modelcast/file_system.h"
#include "modelcast/model_readers.h"
#include "proto_model_file.h"
#include "proto_wire.h"
#include "tensorflow_types.h"

namespace modelcast {

namespace {

constexpr size_t kMaxNameBytes = 1024;
constexpr size_t kMaxMetaGraphs = 64;
constexpr size_t kMaxSignatures = 1024;
constexpr size_t kMaxSignatureTensors = 4096;
constexpr size_t kMaxTags = 64;
constexpr size_t kMaxAssetFiles = 64;
constexpr uint64_t kMaxLabelFileBytes = 16 << 20;

// saved_model.proto, meta_graph.proto.
constexpr uint32_t kSavedModelMetaGraphs = 2;
constexpr uint32_t kMetaInfoDef = 1;
constexpr uint32_t kMetaSignatureDef = 5;
constexpr uint32_t kMetaInfoTags = 4;
constexpr uint32_t kMetaInfoTensorflowVersion = 5;
constexpr uint32_t kMapKey = 1;
constexpr uint32_t kMapValue = 2;
constexpr uint32_t kSignatureInputs = 1;
constexpr uint32_t kSignatureOutputs = 2;
constexpr uint32_t kSignatureMethodName = 3;
constexpr uint32_t kTensorInfoName = 1;
constexpr uint32_t kTensorInfoDtype = 2;
constexpr uint32_t kTensorInfoShape = 3;
constexpr uint32_t kTensorInfoCooSparse = 4;
constexpr uint32_t kTensorInfoComposite = 5;

Status corrupt(const std::string& what, const std::string& problem) {
  return error(StatusCode::kCorruption, what + ": " + problem);
}

bool read_entry(std::string_view entry, std::string_view* key, std::string_view* value) {
  WireReader r(entry);
  WireField f;
  while (r.next(&f)) {
    if (f.number == kMapKey && f.type == kWireBytes) *key = f.bytes;
    if (f.number == kMapValue && f.type == kWireBytes) *value = f.bytes;
  }
  return r.ok();
}

struct MetaGraph {
  std::vector<std::string_view> tags;
  std::string_view tensorflow_version;
  std::vector<std::pair<std::string_view, std::string_view>> signatures;  // key, SignatureDef bytes
};

bool read_meta_graph(std::string_view bytes, MetaGraph& m) {
  WireReader r(bytes);
  WireField f;
  while (r.next(&f)) {
    if (f.type != kWireBytes) continue;
    if (f.number == kMetaInfoDef) {
      WireReader info(f.bytes);
      WireField i;
      while (info.next(&i)) {
        if (i.type != kWireBytes) continue;
        if (i.number == kMetaInfoTags) {
          if (m.tags.size() >= kMaxTags) return false;
          m.tags.push_back(i.bytes);
        }
        if (i.number == kMetaInfoTensorflowVersion) m.tensorflow_version = i.bytes;
      }
      if (!info.ok()) return false;
    } else if (f.number == kMetaSignatureDef) {
      if (m.signatures.size() >= kMaxSignatures) return false;
      std::string_view key, value;
      if (!read_entry(f.bytes, &key, &value)) return false;
      m.signatures.emplace_back(key, value);
    }
  }
  return r.ok();
}

Result<TensorInfo> tensor_info(std::string_view key, std::string_view bytes, std::string* graph_tensor,
                               const std::string& where) {
  TensorInfo t;
  t.name = model_text(key, kMaxNameBytes);
  t.dtype = "undefined";
  bool has_shape = false;
  const char* composite = nullptr;
  WireReader r(bytes);
  WireField f;
  while (r.next(&f)) {
    if (f.number == kTensorInfoName && f.type == kWireBytes) *graph_tensor = model_text(f.bytes, kMaxNameBytes);
    if (f.number == kTensorInfoDtype && f.type == kWireVarint) t.dtype = tf_dtype_name(f.value);
    if (f.number == kTensorInfoShape && f.type == kWireBytes) {
      if (!read_tf_shape(f.bytes, t)) return corrupt(where, "\"" + t.name + "\" has a bad shape");
      has_shape = true;
    }
    if (f.number == kTensorInfoCooSparse) composite = "sparse";
    if (f.number == kTensorInfoComposite) composite = "composite";
  }
  if (!r.ok()) return corrupt(where, "\"" + t.name + "\" is not a valid TensorInfo");
  // A sparse or composite tensor is several tensors; a config describes plain ones.
  if (composite != nullptr) t.dtype = std::string(composite) + "(" + t.dtype + ")";
  if (!has_shape) {
    t.shape.clear();
    t.ranked = false;
  }
  return t;
}

Status read_signature(std::string_view bytes, ModelInfo& info, const std::string& what) {
  Json inputs = Json::object(), outputs = Json::object();
  WireReader r(bytes);
  WireField f;
  while (r.next(&f)) {
    if (f.type != kWireBytes) continue;
    const bool input = f.number == kSignatureInputs;
    if (f.number == kSignatureMethodName) info.metadata["method_name"] = model_text(f.bytes, kMaxNameBytes);
    if (!input && f.number != kSignatureOutputs) continue;
    std::string_view key, value;
    if (!read_entry(f.bytes, &key, &value)) return corrupt(what, "not a valid SignatureDef");
    std::vector<TensorInfo>& list = input ? info.inputs : info.outputs;
    if (list.size() >= kMaxSignatureTensors)
      return corrupt(what, "more than " + std::to_string(kMaxSignatureTensors) + " tensors in the signature");
    std::string graph_tensor;
    MC_ASSIGN_OR_RETURN(TensorInfo t, tensor_info(key, value, &graph_tensor, what));
    (input ? inputs : outputs)[t.name] = graph_tensor;
    list.push_back(std::move(t));
  }
  if (!r.ok()) return corrupt(what, "not a valid SignatureDef");
  info.metadata["graph_tensors"] = {{"inputs", std::move(inputs)}, {"outputs", std::move(outputs)}};
  return OkStatus();
}

// serving_default, or the only signature that is not TensorFlow's own.
Result<std::string_view> serving_signature(const MetaGraph& m, const std::string& what) {
  std::vector<const std::pair<std::string_view, std::string_view>*> user;
  for (const auto& s : m.signatures) {
    if (s.first == "serving_default") return s.second;
    if (s.first.substr(0, 2) != "__") user.push_back(&s);
  }
  if (user.size() == 1) return user.front()->second;
  std::string names;
  for (const auto* s : user) names += (names.empty() ? "" : ", ") + ("\"" + model_text(s->first, kMaxNameBytes) + "\"");
  return corrupt(what, user.empty() ? "the \"serve\" meta graph has no signature an app can call"
                                    : "no \"serving_default\" signature, and several others: " + names);
}

std::string dir_of(const std::string& path) {
  size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? std::string(".") : path.substr(0, slash);
}

bool is_folder(const std::string& path) {
  Result<FileInfo> st = posix_file_system()->stat(path);
  return st.ok() && st->type == FileType::kDirectory;
}

bool is_file(const std::string& path) {
  Result<FileInfo> st = posix_file_system()->stat(path);
  return st.ok() && st->type == FileType::kRegular;
}

// Label files among the model's assets: each regular file whose line count is the class
// dimension of exactly one output labels it (unless two files claim the same output).
void attach_asset_labels(const std::string& assets_dir, ModelInfo& info) {
  Result<std::vector<std::string>> names = posix_file_system()->list_dir(assets_dir);
  if (!names.ok()) return;
  Json listed = Json::array();
  std::vector<int> claims(info.outputs.size(), 0);
  std::vector<std::vector<std::string>> found(info.outputs.size());
  for (size_t i = 0; i < names->size() && i < kMaxAssetFiles; ++i) {
    listed.push_back(model_text((*names)[i], kMaxNameBytes));
    Result<std::string> raw = posix_file_system()->read_file(assets_dir + "/" + (*names)[i], kMaxLabelFileBytes);
    if (!raw.ok()) continue;
    std::vector<std::string> labels = label_lines(*raw);
    size_t matches = 0, match = 0;
    for (size_t o = 0; o < info.outputs.size(); ++o) {
      const TensorInfo& t = info.outputs[o];
      if (t.ranked && !t.shape.empty() && t.shape.back() == static_cast<int64_t>(labels.size())) ++matches, match = o;
    }
    if (matches != 1 || labels.empty()) continue;
    ++claims[match];
    found[match] = std::move(labels);
  }
  for (size_t o = 0; o < info.outputs.size(); ++o)
    if (claims[o] == 1) info.outputs[o].labels = std::move(found[o]);
  if (!listed.empty()) info.metadata["assets"] = std::move(listed);
}

}  // namespace

Result<ModelInfo> read_savedmodel_buffer(std::string_view bytes, const std::string& what) {
  if (bytes.size() > kMaxProtobufModelBytes)
    return corrupt(what, "larger than the " + std::to_string(kMaxProtobufModelBytes) + "-byte limit of a SavedModel");
  std::vector<MetaGraph> graphs;
  WireReader saved(bytes);
  WireField f;
  while (saved.next(&f)) {
    if (f.number != kSavedModelMetaGraphs || f.type != kWireBytes) continue;
    if (graphs.size() >= kMaxMetaGraphs) return corrupt(what, "more than " + std::to_string(kMaxMetaGraphs) + " meta graphs");
    graphs.emplace_back();
    if (!read_meta_graph(f.bytes, graphs.back())) return corrupt(what, "not a valid SavedModel (bad meta graph)");
  }
  if (!saved.ok()) return corrupt(what, "not a valid SavedModel protobuf (truncated or corrupted)");
  const MetaGraph* serve = nullptr;
  for (const MetaGraph& m : graphs)
    if (serve == nullptr && std::find(m.tags.begin(), m.tags.end(), "serve") != m.tags.end()) serve = &m;
  if (serve == nullptr) return corrupt(what, "SavedModel has no meta graph tagged \"serve\"");

  ModelInfo info;
  info.format = "savedmodel";
  MC_ASSIGN_OR_RETURN(std::string_view signature, serving_signature(*serve, what));
  MC_RETURN_IF_ERROR(read_signature(signature, info, what));
  Json names = Json::array();
  for (const auto& s : serve->signatures) {
    names.push_back(model_text(s.first, kMaxNameBytes));
    if (s.second.data() == signature.data()) info.metadata["signature"] = names.back();
  }
  info.metadata["signatures"] = std::move(names);
  Json tags = Json::array();
  for (std::string_view t : serve->tags) tags.push_back(model_text(t, kMaxNameBytes));
  info.metadata["tags"] = std::move(tags);
  if (!serve->tensorflow_version.empty())
    info.metadata["tensorflow_version"] = model_text(serve->tensorflow_version, kMaxNameBytes);
  return info;
}

// `path` is the SavedModel folder or its saved_model.pb.
Result<ModelInfo> read_savedmodel(const std::string& path) {
  const std::string dir = is_folder(path) ? path : dir_of(path);
  const std::string pb = is_folder(path) ? path + "/saved_model.pb" : path;
  if (is_folder(path) && !is_file(pb)) {
    if (is_file(path + "/saved_model.pbtxt"))
      return error(StatusCode::kInvalidArgument, path + ": a text-format SavedModel (saved_model.pbtxt) is not read; save it as saved_model.pb");
    return error(StatusCode::kInvalidArgument, path + ": not a SavedModel folder (no saved_model.pb)");
  }
  MC_ASSIGN_OR_RETURN(MappedFile file, map_protobuf_model(pb, "SavedModel"));
  MC_ASSIGN_OR_RETURN(ModelInfo info, read_savedmodel_buffer(mapped_bytes(file), pb));
  // On a device the file is a blob with no folder around it: labels then come from the
  // config alone.
  if (is_folder(dir + "/assets")) attach_asset_labels(dir + "/assets", info);
  return info;
}

namespace {

Sniff sniff_savedmodel(const SniffInput& in) {
  if (in.folder) return is_file(std::string(in.path) + "/saved_model.pb") ? Sniff::kYes : Sniff::kNo;
  const size_t slash = in.name.find_last_of('/');
  return in.name.substr(slash == std::string_view::npos ? 0 : slash + 1) == "saved_model.pb" ? Sniff::kYes : Sniff::kNo;
}

}  // namespace

extern const ModelReader kSavedmodelReader = {"savedmodel", sniff_savedmodel, read_savedmodel, nullptr};

}  // namespace modelcast
