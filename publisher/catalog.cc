#include "catalog.h"

#include <map>

#include "diff.h"
#include "modelcast/fs.h"
#include "modelcast/signed_manifest.h"
#include "tree.h"

namespace modelcast {

namespace {

// A version's format 1 text and, when the tree has it, its format 2 text ("" otherwise).
struct Documents {
  std::string v1, v2;
};

Result<Documents> read_documents(FileSystem& fs, const std::string& root, const std::string& v1_rel,
                                 const std::string& v2_rel) {
  Documents d;
  MC_ASSIGN_OR_RETURN(d.v1, fs.read_file(root + "/" + v1_rel, kMaxManifestBytes));
  if (fs.stat(root + "/" + v2_rel).ok()) {
    MC_ASSIGN_OR_RETURN(d.v2, fs.read_file(root + "/" + v2_rel, kMaxManifestBytes));
  }
  return d;
}

Result<StreamVersion> load_version(FileSystem& fs, const std::string& root, const std::string& v1_rel,
                                   const std::string& v2_rel) {
  auto docs = read_documents(fs, root, v1_rel, v2_rel);
  if (!docs.ok()) return docs.status().with_context(v1_rel);
  auto v = stream_version_from_text(docs->v1, docs->v2);
  if (!v.ok()) return v.status().with_context(docs->v2.empty() ? v1_rel : v1_rel + " or " + v2_rel);
  return v;
}

const BlobV2* first_blob(const FileEntryV2& f) { return f.blobs.empty() ? nullptr : &f.blobs.front(); }

// What a device downloads for the whole file: the blob it uses (a format 2 device takes
// the first of a known encoding), as one file (`url`) or as parts (`parts`).
Json blob_json(const BlobV2& b) {
  Json j = {{"encoding", b.encoding}, {"stored_size", b.stored_size}};
  if (b.parts.empty()) {
    j["url"] = b.url;
  } else {
    Json parts = Json::array();
    for (const auto& p : b.parts) parts.push_back({{"url", p.url}, {"size", p.size}, {"sha256", p.sha256}});
    j["parts"] = parts;
  }
  return j;
}

uint64_t download_size(const ManifestV2& m) {
  uint64_t total = 0;
  for (const auto& f : m.files)
    if (const BlobV2* b = first_blob(f)) total += b->stored_size;
  return total;
}

uint64_t content_size(const ManifestV2& m) {
  uint64_t total = 0;
  for (const auto& f : m.files) total += f.size;
  return total;
}

Json tensors_json(const std::vector<TensorSpec>& tensors) {
  Json out = Json::array();
  for (const auto& t : tensors) {
    Json j = {{"name", t.name}, {"dtype", t.dtype}, {"shape", t.shape}};
    if (!t.labels.empty()) j["labels"] = t.labels;
    out.push_back(j);
  }
  return out;
}

Json requires_json(const Requirements& r) {
  Json j = Json::object();
  if (!r.features.empty()) j["features"] = r.features;
  if (!r.min_app_version.empty()) j["min_app_version"] = r.min_app_version;
  if (!r.runtime.empty()) j["runtime"] = r.runtime;
  return j;
}

Json rollout_json(const ManifestV2& m) {
  if (!m.rollout || m.rollout->percent >= 100) return nullptr;
  Json j = {{"percent", m.rollout->percent}};
  if (m.rollout->fallback) j["fallback_version"] = m.rollout->fallback->version;
  return j;
}

struct LoadedVersion {
  std::string v1_rel, v2_rel;
  bool has_v2 = false;
  StreamVersion version;
};

// The current version's files: download (blob URL or parts), and each delta with the
// version whose content it starts from, when the history still has it.
Json files_json(const ManifestV2& m, const std::vector<LoadedVersion>& history) {
  Json files = Json::array();
  for (const auto& f : m.files) {
    Json j = {{"path", f.path}, {"sha256", f.sha256}, {"size", f.size}};
    if (const BlobV2* b = first_blob(f)) {
      j["download"] = blob_json(*b);
      j["download_size"] = b->stored_size;
      if (b->parts.empty()) j["url"] = b->url;
    }
    Json deltas = Json::array();
    for (const auto& d : f.deltas) {
      Json dj = {{"encoding", d.encoding}, {"stored_size", d.stored_size}, {"url", d.url}, {"from_sha256", d.from_sha256}};
      for (const auto& h : history)
        for (const auto& hf : h.version.manifest.files)
          if (hf.path == f.path && hf.sha256 == d.from_sha256) dj["from_version"] = h.version.manifest.version;
      deltas.push_back(dj);
    }
    j["deltas"] = deltas;
    files.push_back(j);
  }
  return files;
}

Json trusted_keys_json(const std::string& root, FileSystem& fs) {
  Json keys = Json::array();
  auto tree = Tree::open(root, fs);
  if (!tree.ok()) return keys;  // init writes the catalog before anything is trusted
  for (const auto& id : tree->settings().trusted_keys) {
    const std::string rel = TreeLayout::key_file(id);
    if (fs.stat(root + "/" + rel).ok()) keys.push_back({{"keyid", id}, {"url", rel}});
  }
  return keys;
}

}  // namespace

Result<Json> build_catalog(const std::string& root, const std::string& base_url, const std::string& generated_at,
                           std::vector<std::string>* warnings, FileSystem& fs) {
  MC_ASSIGN_OR_RETURN(auto streams, list_streams(root, nullptr, fs));
  auto warn = [&](const Status& s) {
    if (warnings) warnings->push_back(s.message());
  };
  Json models = Json::array();
  for (const auto& s : streams) {
    Json entry = {{"model", s.model}, {"channel", s.channel}, {"platform", s.platform}};
    std::vector<LoadedVersion> loaded;
    for (uint64_t v : s.versions) {
      LoadedVersion lv;
      lv.v1_rel = TreeLayout::versioned_manifest(s.model, s.channel, s.platform, v);
      lv.v2_rel = TreeLayout::versioned_manifest_v2(s.model, s.channel, s.platform, v);
      lv.has_v2 = fs.stat(root + "/" + lv.v2_rel).ok();
      auto version = load_version(fs, root, lv.v1_rel, lv.v2_rel);
      if (!version.ok()) {
        warn(version.status());
        continue;
      }
      lv.version = std::move(*version);
      loaded.push_back(std::move(lv));
    }
    // Newest first; each version says what changed since the one before it.
    Json versions = Json::array();
    for (size_t i = loaded.size(); i-- > 0;) {
      const LoadedVersion& lv = loaded[i];
      const ManifestV2& m = lv.version.manifest;
      Json changes = Json::array();
      if (i > 0) {
        Json d = manifest_diff(lv.v1_rel, s.model, s.channel, s.platform, loaded[i - 1].version, lv.version, nullptr);
        // The signers are worth a line only where they change.
        const bool same_signers = loaded[i - 1].version.signers == lv.version.signers;
        for (auto& line : describe_stream_changes(d, DiffStyle::kText))
          if (!same_signers || line.rfind("signed by ", 0) != 0) changes.push_back(std::move(line));
      }
      Json v = {{"version", m.version},
                {"published_at", m.published_at},
                {"expires_at", m.expires_at},
                {"files", m.files.size()},
                {"size", content_size(m)},
                {"download_size", download_size(m)},
                {"manifest", lv.v1_rel},
                {"signers", lv.version.signers},
                {"previous_version", i > 0 ? Json(loaded[i - 1].version.manifest.version) : Json(nullptr)},
                {"changes", changes}};
      if (lv.has_v2) v["manifest_v2"] = lv.v2_rel;
      versions.push_back(std::move(v));
    }
    entry["versions"] = versions;
    if (s.has_current) {
      const std::string rel = TreeLayout::current_manifest(s.model, s.channel, s.platform);
      const std::string rel2 = TreeLayout::current_manifest_v2(s.model, s.channel, s.platform);
      auto current = load_version(fs, root, rel, rel2);
      if (!current.ok()) {
        warn(current.status());
      } else {
        const ManifestV2& m = current->manifest;
        Json c = {{"version", m.version},
                  {"published_at", m.published_at},
                  {"expires_at", m.expires_at},
                  {"rollout", rollout_json(m)},
                  {"size", content_size(m)},
                  {"download_size", download_size(m)},
                  {"files", files_json(m, loaded)},
                  {"manifest", rel},
                  {"signers", current->signers},
                  {"config",
                   {{"inputs", tensors_json(m.config.inputs)},
                    {"outputs", tensors_json(m.config.outputs)},
                    {"features", m.config.features},
                    {"metadata", m.config.metadata}}},
                  {"requires", requires_json(m.requirements)}};
        if (fs.stat(root + "/" + rel2).ok()) c["manifest_v2"] = rel2;
        entry["current"] = std::move(c);
      }
    }
    models.push_back(std::move(entry));
  }
  return Json{{"schema", kCatalogSchema},
              {"generated_at", generated_at},
              {"base_url", base_url},
              {"keys", trusted_keys_json(root, fs)},
              {"models", models}};
}

const std::vector<std::string>& catalog_file_paths() {
  static const std::vector<std::string> kPaths = {"index.json", "index.html"};
  return kPaths;
}

Result<std::vector<std::string>> write_catalog(const std::string& root, const std::string& base_url,
                                               const std::string& generated_at, std::vector<std::string>* warnings,
                                               FileSystem& fs) {
  MC_ASSIGN_OR_RETURN(Json catalog, build_catalog(root, base_url, generated_at, warnings, fs));
  MC_RETURN_IF_ERROR(fs.write_file_atomic(root + "/index.json", pretty_json(catalog)));
  MC_RETURN_IF_ERROR(fs.write_file_atomic(root + "/index.html", render_catalog_html(catalog)));
  return catalog_file_paths();
}

}  // namespace modelcast
