#include "modelcast/manifest.h"

#include <algorithm>
#include <cctype>
#include <set>

#include "modelcast/encoding.h"
#include "modelcast/names.h"

namespace modelcast {

namespace {

Status corrupt(const std::string& field, const std::string& problem) {
  return error(StatusCode::kCorruption, field + ": " + problem);
}

// Name-check failures inside a manifest are format violations, not usage errors.
Status as_corruption(Status s) { return s.ok() ? s : Status(StatusCode::kCorruption, s.message()); }

Status check_keys(const Json& obj, const std::string& where, const std::set<std::string>& required,
                  const std::set<std::string>& optional) {
  if (!obj.is_object()) return corrupt(where, "must be an object");
  for (const auto& key : required)
    if (!obj.contains(key)) return corrupt(where + "." + key, "missing");
  for (auto it = obj.begin(); it != obj.end(); ++it)
    if (!required.count(it.key()) && !optional.count(it.key())) return corrupt(where + "." + it.key(), "unknown field");
  return OkStatus();
}

Result<std::string> get_string(const Json& obj, const std::string& key, const std::string& where, size_t max_len = 1024) {
  const Json& v = obj.at(key);
  if (!v.is_string()) return corrupt(where + "." + key, "must be a string");
  const auto& s = v.get_ref<const std::string&>();
  if (s.size() > max_len) return corrupt(where + "." + key, "longer than " + std::to_string(max_len) + " characters");
  return s;
}

Result<uint64_t> get_count(const Json& obj, const std::string& key, const std::string& where, uint64_t min, uint64_t max) {
  const Json& v = obj.at(key);
  const std::string field = where + "." + key;
  if (v.is_number_float()) return corrupt(field, "must be an integer, not a floating-point number");
  if (!v.is_number_integer()) return corrupt(field, "must be an integer");
  if (!v.is_number_unsigned() && v.get<int64_t>() < 0) return corrupt(field, "must not be negative");
  // A parser stores non-negative integers as unsigned, but JSON built in code (e.g. the
  // int rollout percent in manifest_to_json) holds them signed: both are the same number.
  uint64_t n = v.is_number_unsigned() ? v.get<uint64_t>() : static_cast<uint64_t>(v.get<int64_t>());
  if (n < min || n > max)
    return corrupt(field, std::to_string(n) + " is outside " + std::to_string(min) + ".." + std::to_string(max));
  return n;
}

Result<std::vector<std::string>> get_names(const Json& obj, const std::string& key, const std::string& where, size_t max) {
  const Json& v = obj.at(key);
  const std::string field = where + "." + key;
  if (!v.is_array()) return corrupt(field, "must be an array");
  if (v.size() > max) return corrupt(field, "more than " + std::to_string(max) + " entries");
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (size_t i = 0; i < v.size(); ++i) {
    std::string item = field + "[" + std::to_string(i) + "]";
    if (!v[i].is_string()) return corrupt(item, "must be a string");
    const auto& s = v[i].get_ref<const std::string&>();
    MC_RETURN_IF_ERROR(as_corruption(check_name(s, item)));
    if (!seen.insert(s).second) return corrupt(item, "duplicate \"" + s + "\"");
    out.push_back(s);
  }
  return out;
}

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

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Paths must stay distinct on case-insensitive device file systems (iOS, macOS) and no
// path may be a folder of another ("a" and "a/b" cannot both exist).
Status check_paths_distinct(const std::vector<FileEntry>& files) {
  std::set<std::string> seen;
  for (size_t i = 0; i < files.size(); ++i) {
    if (!seen.insert(lower(files[i].path)).second)
      return corrupt("signed.files[" + std::to_string(i) + "].path", "duplicate path \"" + files[i].path + "\"");
  }
  for (size_t i = 0; i < files.size(); ++i) {
    std::string prefix = lower(files[i].path) + "/";
    auto it = seen.lower_bound(prefix);
    if (it != seen.end() && it->compare(0, prefix.size(), prefix) == 0)
      return corrupt("signed.files[" + std::to_string(i) + "].path", "\"" + files[i].path + "\" is also used as a folder");
  }
  return OkStatus();
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
  if (!s.is_object()) return corrupt(w, "must be an object");
  if (!s.contains("schema")) return corrupt(w + ".schema", "missing");
  if (s.at("schema") != kManifestSchema)
    return corrupt(w + ".schema", "unknown schema " + s.at("schema").dump() + " (this reader knows \"" + kManifestSchema + "\")");
  MC_RETURN_IF_ERROR(check_keys(s, w,
                                {"schema", "model", "channel", "platform", "version", "published_at", "expires_at", "files",
                                 "config", "requires"},
                                {"rollout"}));
  // Floats anywhere would make the signed bytes ambiguous across readers.
  auto canon = canonical_json(s);
  if (!canon.ok()) return corrupt(w, canon.status().message());

  Manifest m;
  m.schema = kManifestSchema;
  MC_ASSIGN_OR_RETURN(m.model, get_string(s, "model", w));
  MC_RETURN_IF_ERROR(as_corruption(check_name(m.model, w + ".model")));
  MC_ASSIGN_OR_RETURN(m.channel, get_string(s, "channel", w));
  MC_RETURN_IF_ERROR(as_corruption(check_name(m.channel, w + ".channel")));
  MC_ASSIGN_OR_RETURN(m.platform, get_string(s, "platform", w));
  MC_RETURN_IF_ERROR(as_corruption(check_name(m.platform, w + ".platform")));
  MC_ASSIGN_OR_RETURN(m.version, get_count(s, "version", w, 1, kMaxSafeInteger));
  MC_ASSIGN_OR_RETURN(m.published_at, get_string(s, "published_at", w));
  MC_ASSIGN_OR_RETURN(m.expires_at, get_string(s, "expires_at", w));
  MC_ASSIGN_OR_RETURN(int64_t published, parse_timestamp(m.published_at, w + ".published_at"));
  MC_ASSIGN_OR_RETURN(int64_t expires, parse_timestamp(m.expires_at, w + ".expires_at"));
  if (expires <= published) return corrupt(w + ".expires_at", "must be later than published_at");

  const Json& files = s.at("files");
  if (!files.is_array()) return corrupt(w + ".files", "must be an array");
  if (files.empty()) return corrupt(w + ".files", "must name at least one file");
  if (files.size() > kMaxFiles) return corrupt(w + ".files", "more than " + std::to_string(kMaxFiles) + " files");
  for (size_t i = 0; i < files.size(); ++i) {
    MC_ASSIGN_OR_RETURN(FileEntry f, file_from_json(files[i], w + ".files[" + std::to_string(i) + "]"));
    m.files.push_back(std::move(f));
  }
  MC_RETURN_IF_ERROR(check_paths_distinct(m.files));

  MC_ASSIGN_OR_RETURN(m.config, config_from_json(s.at("config"), w + ".config"));

  const Json& req = s.at("requires");
  MC_RETURN_IF_ERROR(check_keys(req, w + ".requires", {}, {"features", "min_app_version", "runtime"}));
  if (req.contains("features")) {
    MC_ASSIGN_OR_RETURN(m.requirements.features, get_names(req, "features", w + ".requires", kMaxFeatures));
  }
  if (req.contains("min_app_version")) {
    MC_ASSIGN_OR_RETURN(m.requirements.min_app_version, get_string(req, "min_app_version", w + ".requires"));
    MC_RETURN_IF_ERROR(as_corruption(check_app_version(m.requirements.min_app_version, w + ".requires.min_app_version")));
  }
  if (req.contains("runtime")) {
    MC_ASSIGN_OR_RETURN(m.requirements.runtime, get_string(req, "runtime", w + ".requires"));
    MC_RETURN_IF_ERROR(as_corruption(check_name(m.requirements.runtime, w + ".requires.runtime")));
  }
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
  Json req = Json::object();
  if (!m.requirements.features.empty()) req["features"] = m.requirements.features;
  if (!m.requirements.min_app_version.empty()) req["min_app_version"] = m.requirements.min_app_version;
  if (!m.requirements.runtime.empty()) req["runtime"] = m.requirements.runtime;
  Json j = {{"schema", m.schema},
            {"model", m.model},
            {"channel", m.channel},
            {"platform", m.platform},
            {"version", m.version},
            {"published_at", m.published_at},
            {"expires_at", m.expires_at},
            {"files", files},
            {"config", config_to_json(m.config)},
            {"requires", req}};
  if (m.rollout_percent) j["rollout"] = {{"percent", *m.rollout_percent}};
  return j;
}

}  // namespace modelcast
