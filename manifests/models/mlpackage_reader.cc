// Core ML .mlpackage reader: a folder whose Manifest.json names its items and which of
// them is the root model (rootModelIdentifier); item paths are relative to Data/. The root
// model is an .mlmodel read by mlmodel_reader.cc; whatever name it has (Xcode keeps the
// original, e.g. mnist.mlmodel) comes from the manifest, never guessed. Xcode also stores
// edits of the descriptions beside it as overlays, FeatureDescriptions.json and
// Metadata.json, which Core ML applies over the model's own: so does this reader.

#include "modelcast/canonical_json.h"
#include "modelcast/file_system.h"
#include "modelcast/model_readers.h"

namespace modelcast {

namespace {

constexpr size_t kMaxPackageJsonBytes = 1 << 20;
constexpr size_t kMaxItemPathBytes = 1024;
constexpr size_t kMaxNameBytes = 1024;
constexpr size_t kMaxDescriptionBytes = 16384;
constexpr size_t kMaxOverlayEntries = 256;

Status corrupt(const std::string& what, const std::string& problem) {
  return error(StatusCode::kCorruption, what + ": " + problem);
}

// Item paths come from the package: only plain relative paths inside Data/ are followed.
bool safe_item_path(const std::string& path) {
  if (path.empty() || path.size() > kMaxItemPathBytes || path.front() == '/') return false;
  size_t start = 0;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    if (slash == std::string::npos) slash = path.size();
    const std::string part = path.substr(start, slash - start);
    if (part.empty() || part == "." || part == ".." || part.find('\\') != std::string::npos ||
        part.find('\0') != std::string::npos)
      return false;
    start = slash + 1;
  }
  return true;
}

const Json* string_member(const Json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? &*it : nullptr;
}

void overlay_text(Json& meta, const char* key, const Json& overlay, const char* overlay_key, size_t max_bytes) {
  if (const Json* v = string_member(overlay, overlay_key)) meta[key] = model_text(v->get<std::string>(), max_bytes);
}

}  // namespace

Result<MlpackageLayout> read_mlpackage_manifest(std::string_view text, const std::string& what) {
  Result<Json> parsed = parse_json_strict(text, kMaxPackageJsonBytes, what);
  if (!parsed.ok()) return corrupt(what, parsed.status().message());
  const Json& doc = *parsed;
  if (!doc.is_object()) return corrupt(what, "not a JSON object");
  const Json* root = string_member(doc, "rootModelIdentifier");
  auto entries = doc.find("itemInfoEntries");
  if (root == nullptr || entries == doc.end() || !entries->is_object())
    return corrupt(what, "no rootModelIdentifier or itemInfoEntries");
  MlpackageLayout layout;
  for (auto it = entries->begin(); it != entries->end(); ++it) {
    if (!it->is_object()) return corrupt(what, "item \"" + model_text(it.key(), kMaxNameBytes) + "\" is not an object");
    const Json* path = string_member(*it, "path");
    const Json* name = string_member(*it, "name");
    if (path == nullptr) return corrupt(what, "item \"" + model_text(it.key(), kMaxNameBytes) + "\" has no path");
    const std::string item = path->get<std::string>();
    if (!safe_item_path(item))
      return corrupt(what, "item path \"" + model_text(item, kMaxNameBytes) + "\" leaves the package's Data folder");
    if (it.key() == root->get<std::string>()) layout.root_model = item;
    if (name != nullptr && *name == "FeatureDescriptions.json") layout.feature_descriptions = item;
    if (name != nullptr && *name == "Metadata.json") layout.metadata = item;
  }
  if (layout.root_model.empty())
    return corrupt(what, "rootModelIdentifier \"" + model_text(root->get<std::string>(), kMaxNameBytes) +
                             "\" names no item");
  return layout;
}

Status apply_mlpackage_overlays(std::string_view feature_descriptions, std::string_view metadata, ModelInfo& info,
                                const std::string& what) {
  Json& meta = info.metadata;
  if (!feature_descriptions.empty()) {
    Result<Json> doc = parse_json_strict(feature_descriptions, kMaxPackageJsonBytes, what + ": FeatureDescriptions.json");
    if (!doc.ok()) return error(StatusCode::kCorruption, doc.status().message());
    if (!doc->is_object()) return corrupt(what, "FeatureDescriptions.json is not a JSON object");
    size_t applied = 0;
    for (const char* group : {"Inputs", "Outputs", "TrainingInputs"}) {
      auto features = doc->find(group);
      if (features == doc->end() || !features->is_object()) continue;
      for (auto it = features->begin(); it != features->end() && applied < kMaxOverlayEntries; ++it, ++applied) {
        if (!it->is_object()) continue;
        if (const Json* d = string_member(*it, "MLFeatureShortDescription"))
          meta["feature_descriptions"][model_text(it.key(), kMaxNameBytes)] = model_text(d->get<std::string>(), kMaxDescriptionBytes);
      }
    }
  }
  if (!metadata.empty()) {
    Result<Json> doc = parse_json_strict(metadata, kMaxPackageJsonBytes, what + ": Metadata.json");
    if (!doc.ok()) return error(StatusCode::kCorruption, doc.status().message());
    if (!doc->is_object()) return corrupt(what, "Metadata.json is not a JSON object");
    overlay_text(meta, "description", *doc, "MLModelDescriptionKey", kMaxDescriptionBytes);
    overlay_text(meta, "author", *doc, "MLModelAuthorKey", kMaxDescriptionBytes);
    overlay_text(meta, "license", *doc, "MLModelLicenseKey", kMaxDescriptionBytes);
    overlay_text(meta, "version", *doc, "MLModelVersionStringKey", kMaxNameBytes);
    auto user = doc->find("MLModelCreatorDefinedKey");
    if (user != doc->end() && user->is_object()) {
      size_t applied = 0;
      for (auto it = user->begin(); it != user->end() && applied < kMaxOverlayEntries; ++it, ++applied)
        if (it->is_string())
          meta["user_defined"][model_text(it.key(), kMaxNameBytes)] = model_text(it->get<std::string>(), kMaxDescriptionBytes);
    }
  }
  return OkStatus();
}

Result<ModelInfo> read_mlpackage(const std::string& path) {
  std::shared_ptr<FileSystem> fs = posix_file_system();
  const std::string manifest_path = path + "/Manifest.json";
  Result<std::string> manifest = fs->read_file(manifest_path, kMaxPackageJsonBytes);
  if (!manifest.ok()) {
    if (manifest.status().code() == StatusCode::kNotFound)
      return error(StatusCode::kInvalidArgument, path + ": not a Core ML package (no Manifest.json)");
    return manifest.status();
  }
  MC_ASSIGN_OR_RETURN(MlpackageLayout layout, read_mlpackage_manifest(*manifest, manifest_path));
  const std::string data = path + "/Data/";
  MC_ASSIGN_OR_RETURN(ModelInfo info, read_mlmodel_file(data + layout.root_model));
  std::string features, metadata;
  if (!layout.feature_descriptions.empty()) {
    Result<std::string> text = fs->read_file(data + layout.feature_descriptions, kMaxPackageJsonBytes);
    if (text.ok()) features = std::move(*text);
    else if (text.status().code() != StatusCode::kNotFound) return text.status();
  }
  if (!layout.metadata.empty()) {
    Result<std::string> text = fs->read_file(data + layout.metadata, kMaxPackageJsonBytes);
    if (text.ok()) metadata = std::move(*text);
    else if (text.status().code() != StatusCode::kNotFound) return text.status();
  }
  MC_RETURN_IF_ERROR(apply_mlpackage_overlays(features, metadata, info, path));
  info.format = "mlpackage";
  info.metadata["root_model"] = model_text(layout.root_model, kMaxItemPathBytes);
  return info;
}

namespace {

// A folder with a Manifest.json, or one named .mlpackage (which then must have one).
Sniff sniff_mlpackage(const SniffInput& in) {
  if (!in.folder) return Sniff::kNo;
  if (model_extension(in.name) == "mlpackage") return Sniff::kYes;
  Result<FileInfo> st = posix_file_system()->stat(std::string(in.path) + "/Manifest.json");
  return st.ok() && st->type == FileType::kRegular ? Sniff::kYes : Sniff::kNo;
}

}  // namespace

extern const ModelReader kMlpackageReader = {"mlpackage", sniff_mlpackage, read_mlpackage, nullptr};

}  // namespace modelcast
