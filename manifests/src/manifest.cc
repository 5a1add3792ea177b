#include "modelcast/manifest.h"

#include <algorithm>
#include <cctype>
#include <set>

#include "json_fields.h"
#include "modelcast/encoding.h"
#include "modelcast/names.h"

namespace modelcast {

using namespace fields;

namespace {

Result<TensorSpec> tensor_from_json(const Json& v, const std::string& where, bool is_output) {
  std::set<std::string> optional = {"labels"};
  if (!is_output) optional.clear();
  MC_RETURN_IF_ERROR(check_keys(v, where, {"name", "dtype", "shape"}, optional));
  TensorSpec t;
  MC_ASSIGN_OR_RETURN(t.name, get_string(v, "name", where, 256));
  if (t.name.empty()) return corrupt(where + ".name", "must not be empty");
  for (char c : t.name)
    if (static_cast<unsigned char>(c) < 0x20) return corrupt(where + ".name", "must not contain control characters");
  MC_ASSIGN_OR_RETURN(t.dtype, get_string(v, "dtype", where, 32));
  if (!is_known_dtype(t.dtype)) return corrupt(where + ".dtype", "unknown element type \"" + t.dtype + "\"");
  const Json& shape = v.at("shape");
  if (!shape.is_array()) return corrupt(where + ".shape", "must be an array of integers");
  if (shape.size() > kMaxRank) return corrupt(where + ".shape", "rank above " + std::to_string(kMaxRank));
  for (size_t i = 0; i < shape.size(); ++i) {
    std::string dim = where + ".shape[" + std::to_string(i) + "]";
    if (!shape[i].is_number_integer()) return corrupt(dim, "must be an integer (-1 for dynamic)");
    // Checked before the signed read below: 2^64-1 would otherwise wrap to -1 (dynamic).
    if (shape[i].is_number_unsigned() && shape[i].get<uint64_t>() > (uint64_t{1} << 40))
      return corrupt(dim, std::to_string(shape[i].get<uint64_t>()) + " is not -1 or a size");
    int64_t d = shape[i].get<int64_t>();
    if (d < -1 || d > (int64_t{1} << 40)) return corrupt(dim, std::to_string(d) + " is not -1 or a size");
    t.shape.push_back(d);
  }
  if (v.contains("labels")) {
    const Json& labels = v.at("labels");
    if (!labels.is_array()) return corrupt(where + ".labels", "must be an array of strings");
    if (labels.size() > kMaxLabels) return corrupt(where + ".labels", "more than " + std::to_string(kMaxLabels) + " labels");
    for (size_t i = 0; i < labels.size(); ++i) {
      if (!labels[i].is_string()) return corrupt(where + ".labels[" + std::to_string(i) + "]", "must be a string");
      t.labels.push_back(labels[i].get<std::string>());
    }
  }
  return t;
}

Result<std::vector<TensorSpec>> tensors_from_json(const Json& obj, const std::string& key, const std::string& where) {
  const Json& v = obj.at(key);
  const std::string field = where + "." + key;
  if (!v.is_array()) return corrupt(field, "must be an array");
  if (v.size() > kMaxTensors) return corrupt(field, "more than " + std::to_string(kMaxTensors) + " tensors");
  std::vector<TensorSpec> out;
  std::set<std::string> names;
  for (size_t i = 0; i < v.size(); ++i) {
    std::string item = field + "[" + std::to_string(i) + "]";
    MC_ASSIGN_OR_RETURN(TensorSpec t, tensor_from_json(v[i], item, key == "outputs"));
    if (!names.insert(t.name).second) return corrupt(item + ".name", "duplicate tensor \"" + t.name + "\"");
    out.push_back(std::move(t));
  }
  return out;
}

Json tensor_to_json(const TensorSpec& t, bool is_output) {
  Json j = {{"name", t.name}, {"dtype", t.dtype}, {"shape", t.shape}};
  if (is_output && !t.labels.empty()) j["labels"] = t.labels;
  return j;
}

Result<FileEntry> file_from_json(const Json& v, const std::string& where) {
  MC_RETURN_IF_ERROR(check_keys(v, where, {"path", "sha256", "size", "url", "encoding", "stored_size"}, {"deltas"}));
  FileEntry f;
  MC_ASSIGN_OR_RETURN(f.path, get_string(v, "path", where));
  MC_RETURN_IF_ERROR(as_corruption(check_file_path(f.path, where + ".path")));
  MC_ASSIGN_OR_RETURN(f.sha256, get_string(v, "sha256", where));
  if (!is_lower_hex(f.sha256, 64)) return corrupt(where + ".sha256", "must be 64 lowercase hex digits");
  MC_ASSIGN_OR_RETURN(f.size, get_count(v, "size", where, 0, kMaxSafeInteger));
  MC_ASSIGN_OR_RETURN(f.encoding, get_string(v, "encoding", where));
  if (f.encoding != "identity" && f.encoding != "zstd")
    return corrupt(where + ".encoding", "\"" + f.encoding + "\" is not \"identity\" or \"zstd\"");
  MC_ASSIGN_OR_RETURN(f.stored_size, get_count(v, "stored_size", where, 0, kMaxSafeInteger));
  if (f.encoding == "identity" && f.stored_size != f.size)
    return corrupt(where + ".stored_size", "must equal size for identity encoding");
  MC_ASSIGN_OR_RETURN(f.url, get_string(v, "url", where));
  std::string expected = blob_url(f.sha256, f.encoding == "zstd");
  if (f.url != expected) return corrupt(where + ".url", "must be \"" + expected + "\"");
  if (v.contains("deltas")) {
    const Json& ds = v.at("deltas");
    if (!ds.is_array()) return corrupt(where + ".deltas", "must be an array");
    if (ds.size() > 16) return corrupt(where + ".deltas", "more than 16 deltas");
    for (size_t i = 0; i < ds.size(); ++i) {
      std::string item = where + ".deltas[" + std::to_string(i) + "]";
      MC_RETURN_IF_ERROR(check_keys(ds[i], item, {"from_sha256", "url", "stored_size"}, {}));
      Delta d;
      MC_ASSIGN_OR_RETURN(d.from_sha256, get_string(ds[i], "from_sha256", item));
      if (!is_lower_hex(d.from_sha256, 64)) return corrupt(item + ".from_sha256", "must be 64 lowercase hex digits");
      MC_ASSIGN_OR_RETURN(d.stored_size, get_count(ds[i], "stored_size", item, 0, kMaxSafeInteger));
      MC_ASSIGN_OR_RETURN(d.url, get_string(ds[i], "url", item));
      std::string want = "deltas/sha256/" + f.sha256.substr(0, 2) + "/" + d.from_sha256 + "-" + f.sha256 + ".zstpatch";
      if (d.url != want) return corrupt(item + ".url", "must be \"" + want + "\"");
      f.deltas.push_back(std::move(d));
    }
  }
  return f;
}

Json file_to_json(const FileEntry& f) {
  Json j = {{"path", f.path},         {"sha256", f.sha256},    {"size", f.size},
            {"url", f.url},           {"encoding", f.encoding}, {"stored_size", f.stored_size}};
  if (!f.deltas.empty()) {
    Json ds = Json::array();
    for (const auto& d : f.deltas) ds.push_back({{"from_sha256", d.from_sha256}, {"url", d.url}, {"stored_size", d.stored_size}});
    j["deltas"] = ds;
  }
  return j;
}

}  // namespace

bool is_known_dtype(const std::string& dtype) {
  static const std::set<std::string> kTypes = {"float16", "bfloat16", "float32", "float64", "int4",   "int8",
                                               "int16",   "int32",    "int64",   "uint4",   "uint8",  "uint16",
                                               "uint32",  "uint64",   "bool",    "string",  "complex64", "complex128"};
  return kTypes.count(dtype) > 0;
}

Result<ModelConfig> config_from_json(const Json& v, const std::string& where) {
  MC_RETURN_IF_ERROR(check_keys(v, where, {"inputs", "outputs"}, {"features", "metadata"}));
  ModelConfig c;
  MC_ASSIGN_OR_RETURN(c.inputs, tensors_from_json(v, "inputs", where));
  MC_ASSIGN_OR_RETURN(c.outputs, tensors_from_json(v, "outputs", where));
  if (v.contains("features")) {
    MC_ASSIGN_OR_RETURN(c.features, get_names(v, "features", where, kMaxFeatures));
  }
  if (v.contains("metadata")) {
    if (!v.at("metadata").is_object()) return corrupt(where + ".metadata", "must be an object");
    auto canon = canonical_json(v.at("metadata"));
    if (!canon.ok()) return corrupt(where + ".metadata", canon.status().message());
    c.metadata = v.at("metadata");
  }
  return c;
}

Json config_to_json(const ModelConfig& c) {
  Json inputs = Json::array(), outputs = Json::array();
  for (const auto& t : c.inputs) inputs.push_back(tensor_to_json(t, false));
  for (const auto& t : c.outputs) outputs.push_back(tensor_to_json(t, true));
  return {{"inputs", inputs}, {"outputs", outputs}, {"features", c.features}, {"metadata", c.metadata}};
}

Result<Manifest> manifest_from_json(const Json& s) {
  const std::string w = "signed";
  MC_RETURN_IF_ERROR(check_signed_object(s, w, kManifestSchema, {"rollout"}));

  Manifest m;
  m.schema = kManifestSchema;
  MC_ASSIGN_OR_RETURN(StreamHeader header, stream_header_from_json(s, w));
  copy_stream_header(header, m);

  const Json& files = s.at("files");
  MC_RETURN_IF_ERROR(check_files_array(files, w + ".files"));
  for (size_t i = 0; i < files.size(); ++i) {
    MC_ASSIGN_OR_RETURN(FileEntry f, file_from_json(files[i], w + ".files[" + std::to_string(i) + "]"));
    m.files.push_back(std::move(f));
  }
  std::vector<std::string> paths;
  for (const auto& f : m.files) paths.push_back(f.path);
  MC_RETURN_IF_ERROR(check_paths_distinct(paths, w + ".files"));

  MC_ASSIGN_OR_RETURN(m.config, config_from_json(s.at("config"), w + ".config"));

  MC_ASSIGN_OR_RETURN(m.requirements, requirements_from_json(s.at("requires"), w + ".requires", RequiresFormat::kFormat1));
  if (s.contains("rollout")) {
    MC_RETURN_IF_ERROR(check_keys(s.at("rollout"), w + ".rollout", {"percent"}, {}));
    MC_ASSIGN_OR_RETURN(uint64_t percent, get_count(s.at("rollout"), "percent", w + ".rollout", 0, 100));
    m.rollout_percent = static_cast<int>(percent);
  }
  return m;
}

Json manifest_to_json(const Manifest& m) {
  Json files = Json::array();
  std::vector<const FileEntry*> sorted;
  for (const auto& f : m.files) sorted.push_back(&f);
  // Sorted by path so a reviewer's diff lines up between versions.
  std::sort(sorted.begin(), sorted.end(), [](const FileEntry* a, const FileEntry* b) { return a->path < b->path; });
  for (const auto* f : sorted) files.push_back(file_to_json(*f));
  Json j = {{"schema", m.schema},
            {"model", m.model},
            {"channel", m.channel},
            {"platform", m.platform},
            {"version", m.version},
            {"published_at", m.published_at},
            {"expires_at", m.expires_at},
            {"files", files},
            {"config", config_to_json(m.config)},
            {"requires", requirements_to_json(m.requirements)}};
  if (m.rollout_percent) j["rollout"] = {{"percent", *m.rollout_percent}};
  return j;
}

}  // namespace modelcast
