#include "modelcast/manifest_v2.h"

#include <algorithm>

#include "json_fields.h"
#include "modelcast/names.h"

namespace modelcast {

using namespace fields;

namespace {

std::string h2(const std::string& sha) { return sha.substr(0, 2); }

std::string item(const std::string& where, size_t i) { return where + "[" + std::to_string(i) + "]"; }

// An entry of `blobs` or `deltas` must at least say its encoding, so a reader can tell
// whether to skip it.
Result<std::string> entry_encoding(const Json& v, const std::string& where) {
  if (!v.is_object()) return corrupt(where, "must be an object");
  if (!v.contains("encoding")) return corrupt(where + ".encoding", "missing");
  return get_string(v, "encoding", where);
}

Result<std::vector<BlobPart>> parts_from_json(const Json& v, const std::string& where, uint64_t stored_size) {
  if (!v.is_array()) return corrupt(where, "must be an array");
  if (v.size() < kMinParts || v.size() > kMaxParts)
    return corrupt(where, std::to_string(v.size()) + " parts is outside " + std::to_string(kMinParts) + ".." +
                              std::to_string(kMaxParts));
  std::vector<BlobPart> parts;
  uint64_t sum = 0;
  for (size_t i = 0; i < v.size(); ++i) {
    const std::string w = item(where, i);
    MC_RETURN_IF_ERROR(check_keys(v[i], w, {"sha256", "size", "url"}, {}));
    BlobPart p;
    MC_ASSIGN_OR_RETURN(p.sha256, get_sha256(v[i], "sha256", w));
    MC_ASSIGN_OR_RETURN(p.size, get_count(v[i], "size", w, 1, kMaxSafeInteger));
    MC_ASSIGN_OR_RETURN(p.url, get_string(v[i], "url", w));
    const std::string want = part_url(p.sha256);
    if (p.url != want) return corrupt(w + ".url", "must be \"" + want + "\"");
    sum += p.size;  // at most 10,000 sizes below 2^53: no overflow
    parts.push_back(std::move(p));
  }
  if (sum != stored_size)
    return corrupt(where, "part sizes sum to " + std::to_string(sum) + ", not stored_size " + std::to_string(stored_size));
  return parts;
}

// Returns nullopt for an entry of an encoding this reader does not know (skipped).
Result<std::optional<BlobV2>> blob_from_json(const Json& v, const std::string& where, const FileEntryV2& f) {
  MC_ASSIGN_OR_RETURN(std::string encoding, entry_encoding(v, where));
  if (!is_known_blob_encoding(encoding)) return std::optional<BlobV2>();
  MC_RETURN_IF_ERROR(check_keys(v, where, {"encoding", "stored_size"}, {"url", "parts"}));
  BlobV2 b;
  b.encoding = std::move(encoding);
  MC_ASSIGN_OR_RETURN(b.stored_size, get_count(v, "stored_size", where, 0, kMaxSafeInteger));
  if (b.encoding == "identity" && b.stored_size != f.size)
    return corrupt(where + ".stored_size", "must equal size for identity encoding");
  const bool has_url = v.contains("url"), has_parts = v.contains("parts");
  if (has_url == has_parts) return corrupt(where, "must have exactly one of url and parts");
  if (has_url) {
    MC_ASSIGN_OR_RETURN(b.url, get_string(v, "url", where));
    const std::string want = blob_url_for(f.sha256, b.encoding);
    if (b.url != want) return corrupt(where + ".url", "must be \"" + want + "\"");
  } else {
    MC_ASSIGN_OR_RETURN(b.parts, parts_from_json(v.at("parts"), where + ".parts", b.stored_size));
  }
  return std::optional<BlobV2>(std::move(b));
}

Result<std::optional<DeltaV2>> delta_from_json(const Json& v, const std::string& where, const FileEntryV2& f) {
  MC_ASSIGN_OR_RETURN(std::string encoding, entry_encoding(v, where));
  if (!is_known_delta_encoding(encoding)) return std::optional<DeltaV2>();
  MC_RETURN_IF_ERROR(check_keys(v, where, {"from_sha256", "encoding", "stored_size", "sha256", "url"}, {}));
  DeltaV2 d;
  d.encoding = std::move(encoding);
  MC_ASSIGN_OR_RETURN(d.from_sha256, get_sha256(v, "from_sha256", where));
  if (d.from_sha256 == f.sha256) return corrupt(where + ".from_sha256", "must differ from the file's sha256");
  MC_ASSIGN_OR_RETURN(d.stored_size, get_count(v, "stored_size", where, 0, kMaxSafeInteger));
  MC_ASSIGN_OR_RETURN(d.sha256, get_sha256(v, "sha256", where));
  MC_ASSIGN_OR_RETURN(d.url, get_string(v, "url", where));
  const std::string want = delta_url(d.from_sha256, f.sha256, d.encoding);
  if (d.url != want) return corrupt(where + ".url", "must be \"" + want + "\"");
  return std::optional<DeltaV2>(std::move(d));
}

Result<FileEntryV2> file_from_json(const Json& v, const std::string& where) {
  MC_RETURN_IF_ERROR(check_keys(v, where, {"path", "sha256", "size", "blobs"}, {"deltas"}));
  FileEntryV2 f;
  MC_ASSIGN_OR_RETURN(f.path, get_string(v, "path", where));
  MC_RETURN_IF_ERROR(as_corruption(check_file_path(f.path, where + ".path")));
  MC_ASSIGN_OR_RETURN(f.sha256, get_sha256(v, "sha256", where));
  MC_ASSIGN_OR_RETURN(f.size, get_count(v, "size", where, 0, kMaxSafeInteger));
  const Json& blobs = v.at("blobs");
  if (!blobs.is_array()) return corrupt(where + ".blobs", "must be an array");
  if (blobs.empty() || blobs.size() > kMaxBlobsPerFile)
    return corrupt(where + ".blobs", "must have 1 to " + std::to_string(kMaxBlobsPerFile) + " entries");
  for (size_t i = 0; i < blobs.size(); ++i) {
    MC_ASSIGN_OR_RETURN(std::optional<BlobV2> b, blob_from_json(blobs[i], item(where + ".blobs", i), f));
    if (b) f.blobs.push_back(std::move(*b));
  }
  if (v.contains("deltas")) {
    const Json& ds = v.at("deltas");
    if (!ds.is_array()) return corrupt(where + ".deltas", "must be an array");
    if (ds.size() > kMaxDeltasPerFile)
      return corrupt(where + ".deltas", "more than " + std::to_string(kMaxDeltasPerFile) + " deltas");
    for (size_t i = 0; i < ds.size(); ++i) {
      MC_ASSIGN_OR_RETURN(std::optional<DeltaV2> d, delta_from_json(ds[i], item(where + ".deltas", i), f));
      if (d) f.deltas.push_back(std::move(*d));
    }
  }
  return f;
}

Json blob_to_json(const BlobV2& b) {
  Json j = {{"encoding", b.encoding}, {"stored_size", b.stored_size}};
  if (b.parts.empty()) {
    j["url"] = b.url;
  } else {
    Json parts = Json::array();
    for (const auto& p : b.parts) parts.push_back({{"sha256", p.sha256}, {"size", p.size}, {"url", p.url}});
    j["parts"] = std::move(parts);
  }
  return j;
}

Json file_to_json(const FileEntryV2& f) {
  Json blobs = Json::array();
  for (const auto& b : f.blobs) blobs.push_back(blob_to_json(b));
  Json j = {{"path", f.path}, {"sha256", f.sha256}, {"size", f.size}, {"blobs", std::move(blobs)}};
  if (!f.deltas.empty()) {
    Json ds = Json::array();
    for (const auto& d : f.deltas)
      ds.push_back({{"from_sha256", d.from_sha256},
                    {"encoding", d.encoding},
                    {"stored_size", d.stored_size},
                    {"sha256", d.sha256},
                    {"url", d.url}});
    j["deltas"] = std::move(ds);
  }
  return j;
}

Result<RolloutV2> rollout_from_json(const Json& v, const std::string& where, uint64_t version) {
  MC_RETURN_IF_ERROR(check_keys(v, where, {"percent"}, {"fallback"}));
  RolloutV2 r;
  MC_ASSIGN_OR_RETURN(uint64_t percent, get_count(v, "percent", where, 0, 100));
  r.percent = static_cast<int>(percent);
  if (v.contains("fallback")) {
    const std::string fw = where + ".fallback";
    MC_RETURN_IF_ERROR(check_keys(v.at("fallback"), fw, {"version", "sha256"}, {}));
    RolloutFallback fb;
    MC_ASSIGN_OR_RETURN(fb.version, get_count(v.at("fallback"), "version", fw, 1, kMaxSafeInteger));
    if (fb.version >= version)
      return corrupt(fw + ".version", std::to_string(fb.version) + " is not below this version " + std::to_string(version));
    MC_ASSIGN_OR_RETURN(fb.sha256, get_sha256(v.at("fallback"), "sha256", fw));
    r.fallback = std::move(fb);
  }
  return r;
}

}  // namespace

bool is_known_blob_encoding(const std::string& e) { return e == "identity" || e == "zstd" || e == "xform"; }
bool is_known_delta_encoding(const std::string& e) { return e == "zstd-patch" || e == "xform"; }

std::string blob_url_for(const std::string& sha, const std::string& encoding) {
  const char* suffix = encoding == "zstd" ? ".zst" : encoding == "xform" ? ".xf" : "";
  return "blobs/sha256/" + h2(sha) + "/" + sha + suffix;
}

std::string part_url(const std::string& sha) { return "parts/sha256/" + h2(sha) + "/" + sha; }

std::string delta_url(const std::string& from, const std::string& target, const std::string& encoding) {
  return "deltas/sha256/" + h2(target) + "/" + from + "-" + target + (encoding == "xform" ? ".xfd" : ".zstpatch");
}

std::string v2_version_manifest_url(const std::string& model, const std::string& channel, const std::string& platform,
                                    uint64_t version) {
  return "v2/manifests/" + model + "/" + channel + "/" + platform + "/" + std::to_string(version) + ".json";
}

Result<ManifestV2> manifest_v2_from_json(const Json& s) {
  const std::string w = "signed";
  MC_RETURN_IF_ERROR(check_signed_object(s, w, kManifestSchemaV2, {"rollout", "keyset_version"}));

  ManifestV2 m;
  MC_ASSIGN_OR_RETURN(StreamHeader header, stream_header_from_json(s, w));
  copy_stream_header(header, m);

  const Json& files = s.at("files");
  MC_RETURN_IF_ERROR(check_files_array(files, w + ".files"));
  std::vector<std::string> paths;
  for (size_t i = 0; i < files.size(); ++i) {
    MC_ASSIGN_OR_RETURN(FileEntryV2 f, file_from_json(files[i], item(w + ".files", i)));
    paths.push_back(f.path);
    m.files.push_back(std::move(f));
  }
  MC_RETURN_IF_ERROR(check_paths_distinct(paths, w + ".files"));
  MC_ASSIGN_OR_RETURN(m.config, config_from_json(s.at("config"), w + ".config"));
  MC_ASSIGN_OR_RETURN(m.requirements, requirements_from_json(s.at("requires"), w + ".requires", RequiresFormat::kFormat2));
  if (s.contains("rollout")) {
    MC_ASSIGN_OR_RETURN(RolloutV2 r, rollout_from_json(s.at("rollout"), w + ".rollout", m.version));
    m.rollout = std::move(r);
  }
  if (s.contains("keyset_version")) {
    MC_ASSIGN_OR_RETURN(uint64_t n, get_count(s, "keyset_version", w, 1, kMaxSafeInteger));
    m.keyset_version = n;
  }
  return m;
}

Json manifest_v2_to_json(const ManifestV2& m) {
  std::vector<const FileEntryV2*> sorted;
  for (const auto& f : m.files) sorted.push_back(&f);
  // Sorted by path so a reviewer's diff lines up between versions.
  std::sort(sorted.begin(), sorted.end(), [](const FileEntryV2* a, const FileEntryV2* b) { return a->path < b->path; });
  Json files = Json::array();
  for (const auto* f : sorted) files.push_back(file_to_json(*f));
  Json j = {{"schema", m.schema},
            {"model", m.model},
            {"channel", m.channel},
            {"platform", m.platform},
            {"version", m.version},
            {"published_at", m.published_at},
            {"expires_at", m.expires_at},
            {"files", std::move(files)},
            {"config", config_to_json(m.config)},
            {"requires", requirements_to_json(m.requirements)}};
  if (m.rollout) {
    Json r = {{"percent", m.rollout->percent}};
    if (m.rollout->fallback) r["fallback"] = {{"version", m.rollout->fallback->version}, {"sha256", m.rollout->fallback->sha256}};
    j["rollout"] = std::move(r);
  }
  if (m.keyset_version) j["keyset_version"] = *m.keyset_version;
  return j;
}

ManifestV2 manifest_v2_from_v1(const Manifest& v1) {
  ManifestV2 m;
  copy_shared_members(v1, m);
  if (v1.rollout_percent) m.rollout = RolloutV2{*v1.rollout_percent, std::nullopt};
  for (const auto& f1 : v1.files) {
    FileEntryV2 f{f1.path, f1.sha256, f1.size, {}, {}};
    f.blobs.push_back(BlobV2{f1.encoding, f1.stored_size, f1.url, {}});
    for (const auto& d : f1.deltas) f.deltas.push_back(DeltaV2{d.from_sha256, "zstd-patch", d.stored_size, "", d.url});
    m.files.push_back(std::move(f));
  }
  return m;
}

Result<Manifest> manifest_v1_from_v2(const ManifestV2& v2) {
  Manifest m;
  copy_shared_members(v2, m);
  if (v2.rollout) m.rollout_percent = v2.rollout->percent;
  bool needs_format2 = false;
  for (const auto& f2 : v2.files) {
    auto blob = std::find_if(f2.blobs.begin(), f2.blobs.end(),
                             [](const BlobV2& b) { return b.encoding == "identity" || b.encoding == "zstd"; });
    if (blob == f2.blobs.end())
      return error(StatusCode::kInvalidArgument, f2.path + ": no identity or zstd blob, so format 1 cannot describe it");
    FileEntry f;
    f.path = f2.path;
    f.sha256 = f2.sha256;
    f.size = f2.size;
    f.encoding = blob->encoding;
    f.stored_size = blob->stored_size;
    f.url = blob_url_for(f2.sha256, blob->encoding);
    if (!blob->parts.empty()) needs_format2 = true;
    m.files.push_back(std::move(f));
  }
  // Format 1 cannot state a minimum OS: an older fetcher must refuse the version rather
  // than install it on an OS that cannot run it.
  if (!m.requirements.min_os_version.empty()) {
    m.requirements.min_os_version.clear();
    needs_format2 = true;
  }
  auto& features = m.requirements.features;
  if (needs_format2 && std::find(features.begin(), features.end(), kFormat2Feature) == features.end())
    features.push_back(kFormat2Feature);
  return m;
}

}  // namespace modelcast
