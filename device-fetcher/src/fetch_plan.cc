#include "fetch_plan.h"

#include <algorithm>

namespace modelcast {

bool fetcher_decodes_blob(const std::string& encoding) {
  return encoding == "identity" || encoding == "zstd" || encoding == "xform";
}

const BlobV2* choose_blob(const FileEntryV2& file) {
  for (const auto& b : file.blobs)
    if (fetcher_decodes_blob(b.encoding)) return &b;
  return nullptr;
}

FetchPlan plan_from_v1(SignedManifest sm) {
  FetchPlan plan;
  plan.format = 1;
  plan.view = std::move(sm);
  // Such a format 1 document names blobs that exist only as parts (FORMAT.md, "How format 1
  // readers are served"): this fetcher declares the feature, but the parts are listed only
  // in the format 2 document, which this update could not read.
  const auto& features = plan.view.manifest.requirements.features;
  if (std::find(features.begin(), features.end(), kFormat2Feature) != features.end())
    plan.unsupported = "v" + std::to_string(plan.view.manifest.version) +
                       ": its format 1 document requires " + kFormat2Feature +
                       " (files stored only as parts), and its format 2 document was not found";
  return plan;
}

FetchPlan plan_from_v2(const SignedManifestV2& sm) {
  const ManifestV2& m = sm.manifest;
  FetchPlan plan;
  plan.format = 2;
  Manifest& v = plan.view.manifest;
  v.schema = m.schema;
  v.model = m.model;
  v.channel = m.channel;
  v.platform = m.platform;
  v.version = m.version;
  v.published_at = m.published_at;
  v.expires_at = m.expires_at;
  v.config = m.config;
  v.requirements = m.requirements;
  if (m.rollout) {
    v.rollout_percent = m.rollout->percent;
    plan.rollout_fallback = m.rollout->fallback;
  }
  for (const auto& f : m.files) {
    FileEntry e;
    e.path = f.path;
    e.sha256 = f.sha256;
    e.size = f.size;
    const BlobV2* b = choose_blob(f);
    if (!b) {
      if (plan.unsupported.empty())
        plan.unsupported = "v" + std::to_string(m.version) + ": " + f.path + " is stored in no encoding this fetcher decodes";
    } else {
      e.encoding = b->encoding;
      e.stored_size = b->stored_size;
      e.url = b->url;
      if (!b->parts.empty()) plan.parts[f.sha256] = b->parts;
    }
    if (!f.deltas.empty()) plan.deltas[f.sha256] = f.deltas;
    v.files.push_back(std::move(e));
  }
  plan.view.signed_json = sm.signed_json;
  plan.view.signatures = sm.signatures;
  return plan;
}

Result<SignedManifest> parse_cached_manifest(std::string_view bytes) {
  auto v1 = parse_signed_manifest(bytes);
  if (v1.ok()) return v1;
  auto v2 = parse_signed_manifest_v2(bytes);
  if (!v2.ok()) return v1.status();
  return plan_from_v2(*v2).view;
}

}  // namespace modelcast
