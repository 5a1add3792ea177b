#include "publish_deltas.h"

#include <optional>
#include <vector>

#include "delta_builder.h"
#include "modelcast/signed_manifest.h"
#include "modelcast/signed_manifest_v2.h"

namespace modelcast {

namespace {

constexpr const char* kV2Root = "v2/";

// One earlier version's files as format 2 entries, or nothing when gc removed it.
Result<std::optional<ManifestV2>> read_version(const Tree& tree, const ManifestV2& next, uint64_t version) {
  const std::string rel1 = TreeLayout::versioned_manifest(next.model, next.channel, next.platform, version);
  const std::string rel2 = kV2Root + rel1;
  for (const std::string& rel : {rel2, rel1}) {
    if (!tree.fs().exists(tree.path(rel))) continue;
    MC_ASSIGN_OR_RETURN(std::string text, tree.fs().read_file(tree.path(rel), kMaxManifestBytes));
    if (rel == rel2) {
      auto parsed = parse_signed_manifest_v2(text);
      if (!parsed.ok()) return parsed.status().with_context(tree.path(rel) + " (run `modelcast verify`)");
      return std::optional<ManifestV2>(std::move(parsed->manifest));
    }
    auto parsed = parse_signed_manifest(text);
    if (!parsed.ok()) return parsed.status().with_context(tree.path(rel) + " (run `modelcast verify`)");
    return std::optional<ManifestV2>(manifest_v2_from_v1(parsed->manifest));
  }
  return std::optional<ManifestV2>();
}

// The plain blob of an entry as a delta base, when it is one file still in the tree.
std::optional<DeltaBase> base_of(const Tree& tree, const FileEntryV2& f) {
  for (const BlobV2& b : f.blobs) {
    if (b.encoding != "zstd" && b.encoding != "identity") continue;
    if (b.url.empty() || !tree.fs().exists(tree.path(b.url))) return std::nullopt;  // parts, or collected
    return DeltaBase{f.sha256, f.size, b.encoding, b.url};
  }
  return std::nullopt;
}

const FileEntryV2* find_path(const ManifestV2& m, const std::string& path) {
  for (const FileEntryV2& f : m.files)
    if (f.path == path) return &f;
  return nullptr;
}

// The previous version's extras for unchanged content, those whose files are still there.
void keep_previous_extras(const Tree& tree, const FileEntryV2& previous, FileEntryV2* f) {
  for (const BlobV2& b : previous.blobs)
    if (b.encoding == "xform" && (b.url.empty() || tree.fs().exists(tree.path(b.url)))) {
      bool parts_present = true;
      for (const BlobPart& p : b.parts) parts_present = parts_present && tree.fs().exists(tree.path(p.url));
      if (parts_present) f->blobs.insert(f->blobs.begin(), b);
    }
  for (const DeltaV2& d : previous.deltas)
    if (!d.sha256.empty() && tree.fs().exists(tree.path(d.url))) f->deltas.push_back(d);
}

}  // namespace

Status add_deltas(const Tree& tree, const std::map<std::string, std::string>& sources, uint64_t last_version,
                  const DeltaPublishOptions& o, ManifestV2* next) {
  if (o.max_bases <= 0) return OkStatus();
  std::vector<ManifestV2> earlier;  // newest first
  for (uint64_t v = last_version; v >= 1 && last_version - v < static_cast<uint64_t>(o.max_bases); --v) {
    MC_ASSIGN_OR_RETURN(std::optional<ManifestV2> m, read_version(tree, *next, v));
    if (m) earlier.push_back(std::move(*m));
  }
  DeltaBuilder builder(tree.root(), o.tmp_dir, tree.fs());
  for (FileEntryV2& f : next->files) {
    const FileEntryV2* previous = earlier.empty() ? nullptr : find_path(earlier.front(), f.path);
    if (previous != nullptr && previous->sha256 == f.sha256) {
      keep_previous_extras(tree, *previous, &f);
      continue;
    }
    DeltaRequest r;
    r.source_path = sources.at(f.path);
    r.file_path = f.path;
    r.sha256 = f.sha256;
    r.size = f.size;
    r.plain_stored_size = f.blobs.front().stored_size;
    r.max_bases = o.max_bases;
    r.max_delta_bytes = o.max_file_bytes;
    for (const ManifestV2& m : earlier) {
      const FileEntryV2* old = find_path(m, f.path);
      if (old == nullptr) continue;
      if (std::optional<DeltaBase> base = base_of(tree, *old)) r.bases.push_back(*base);
    }
    MC_ASSIGN_OR_RETURN(DeltaResult built, builder.build(r));
    if (built.xform_blob) f.blobs.insert(f.blobs.begin(), *built.xform_blob);
    f.deltas = std::move(built.deltas);
  }
  return OkStatus();
}

}  // namespace modelcast
