#include "refresh.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <map>
#include <optional>

#include "catalog.h"
#include "keyset.h"
#include "locked_tree.h"
#include "next_version.h"
#include "modelcast/names.h"
#include "modelcast/signed_manifest.h"
#include "modelcast/signed_manifest_v2.h"
#include "modelcast/signing.h"

namespace modelcast {

namespace {

constexpr int kMaxDays = 3650;

// Format 2 documents live under this folder of the tree, in the format 1 layout.
constexpr const char* kV2Root = "v2/";

struct Pending {
  RefreshedStream stream;
  std::string signed_v1;  // empty when the stream has no format 1 document
  std::string signed_v2;  // empty when the stream has no format 2 document
};

// One stream's current documents in either format.
struct StreamDocs {
  std::string model, channel, platform;
  bool has_v1 = false, has_v2 = false;
  uint64_t highest_version = 0;  // of the versioned documents in either format
  std::optional<Manifest> v1;
  std::optional<ManifestV2> v2;
  std::string current_rel;  // for messages
  uint64_t current_version = 0;
  std::string expires_at;  // the earlier of the two documents'
};

Status read_current(const Tree& tree, StreamDocs* d) {
  if (d->has_v1) {
    d->current_rel = TreeLayout::current_manifest(d->model, d->channel, d->platform);
    MC_ASSIGN_OR_RETURN(std::string text, read_file(tree.path(d->current_rel), kMaxManifestBytes));
    auto parsed = parse_signed_manifest(text);
    if (!parsed.ok()) return parsed.status().with_context(d->current_rel + " (run `modelcast verify`)");
    d->v1 = std::move(parsed->manifest);
    d->current_version = d->v1->version;
    d->expires_at = d->v1->expires_at;
  }
  if (d->has_v2) {
    const std::string rel = kV2Root + TreeLayout::current_manifest(d->model, d->channel, d->platform);
    MC_ASSIGN_OR_RETURN(std::string text, tree.fs().read_file(tree.path(rel), kMaxManifestBytes));
    auto parsed = parse_signed_manifest_v2(text);
    if (!parsed.ok()) return parsed.status().with_context(rel + " (run `modelcast verify`)");
    d->v2 = std::move(parsed->manifest);
    d->current_version = std::max(d->current_version, d->v2->version);
    // RFC 3339 UTC timestamps of one format order as strings.
    if (d->expires_at.empty() || d->v2->expires_at < d->expires_at) d->expires_at = d->v2->expires_at;
    if (d->current_rel.empty()) d->current_rel = rel;
  }
  return OkStatus();
}

std::string commit_title(const std::vector<Pending>& pending) {
  std::string title = "refresh " + std::to_string(pending.size()) + " stream(s):";
  for (size_t i = 0; i < pending.size(); ++i) {
    const RefreshedStream& s = pending[i].stream;
    title += (i ? ", " : " ") + s.model + " " + std::to_string(s.version) + " (" + s.channel + "/" + s.platform + ")";
  }
  return title;
}

std::string commit_body(const std::vector<Pending>& pending, const std::vector<std::string>& key_ids) {
  std::string body;
  for (const auto& id : key_ids) body += "signed-by: " + id + "\n";
  for (const auto& p : pending) {
    const RefreshedStream& s = p.stream;
    body += s.model + "/" + s.channel + "/" + s.platform + ": version " + std::to_string(s.previous_version) + " -> " +
            std::to_string(s.version) + ", same content, expires " + s.previous_expires_at + " -> " + s.expires_at + "\n";
  }
  return body;
}

}  // namespace

Status check_refresh_options(const RefreshOptions& o) {
  if (o.tree.empty()) return error(StatusCode::kInvalidArgument, "TREE is required");
  if (o.key_paths.empty()) return error(StatusCode::kInvalidArgument, "--key is required");
  if (o.within_days < 0 || o.within_days > kMaxDays) return error(StatusCode::kInvalidArgument, "--within: must be 0 to 3650 days");
  if (o.expires_in_days < 0 || o.expires_in_days > kMaxDays)
    return error(StatusCode::kInvalidArgument, "--expires-in: must be 1 to 3650 days");
  return OkStatus();
}

Result<RefreshResult> refresh(const RefreshOptions& o) {
  MC_RETURN_IF_ERROR(check_refresh_options(o));
  const int64_t now = o.now ? o.now : static_cast<int64_t>(std::time(nullptr));
  MC_ASSIGN_OR_RETURN(std::vector<PrivateKey> keys, load_signing_keys(o.key_paths, o.tree));
  MC_RETURN_IF_ERROR(check_signers_before_lock(o.tree, keys));
  MC_ASSIGN_OR_RETURN(LockedTree locked, LockedTree::open(o.tree, o.wait_for_lock, "refresh"));
  Tree& tree = locked.tree();

  RefreshResult result;
  std::vector<const PrivateKey*> signers;
  for (const auto& key : keys) {
    signers.push_back(&key);
    result.key_ids.push_back(key.public_key().key_id());
  }
  result.key_id = result.key_ids.front();
  // Devices pin the tree's keys (or follow its key-set statements): a manifest signed by any
  // other key, a revoked key or too few signers would make every device refuse the
  // refreshed manifests.
  MC_RETURN_IF_ERROR(check_manifest_signers(tree, keys));

  const int days = o.expires_in_days ? o.expires_in_days : tree.settings().expires_in_days;
  // Streams of both formats: a publisher writes a format 2 document (under v2/) beside
  // each format 1 one, with the same version numbers; both are re-signed together.
  std::map<std::string, StreamDocs> streams;
  for (const char* root : {"", kV2Root}) {
    std::vector<std::string> ignored;
    MC_ASSIGN_OR_RETURN(auto found, list_streams(tree.path(root), &ignored));
    for (const auto& s : found) {
      StreamDocs& d = streams[s.model + "/" + s.channel + "/" + s.platform];
      d.model = s.model;
      d.channel = s.channel;
      d.platform = s.platform;
      if (!s.versions.empty()) d.highest_version = std::max(d.highest_version, s.versions.back());
      if (s.has_current) (*root ? d.has_v2 : d.has_v1) = true;
    }
  }
  std::vector<Pending> pending;
  for (auto& [id, d] : streams) {
    if (!d.has_v1 && !d.has_v2) continue;
    ++result.streams;
    MC_RETURN_IF_ERROR(read_current(tree, &d));
    MC_ASSIGN_OR_RETURN(int64_t expires, parse_timestamp(d.expires_at, d.current_rel + " expires_at"));
    if (expires - now >= int64_t{o.within_days} * 86400) continue;

    // Files, config, requirements and rollout stay as they are.
    const uint64_t version = std::max(d.highest_version, d.current_version) + 1;
    const std::string published_at = format_timestamp(now), expires_at = format_timestamp(now + int64_t{days} * 86400);
    Pending p;
    p.stream = {d.model, d.channel, d.platform, d.current_version, version, d.expires_at, expires_at};
    if (d.v1) {
      Manifest next = *d.v1;
      next.version = version;
      next.published_at = published_at;
      next.expires_at = expires_at;
      MC_ASSIGN_OR_RETURN(p.signed_v1, sign_manifest(next, signers));
    }
    if (d.v2) {
      ManifestV2 next = *d.v2;
      next.version = version;
      next.published_at = published_at;
      next.expires_at = expires_at;
      MC_RETURN_IF_ERROR(name_key_set(tree, &next));
      MC_ASSIGN_OR_RETURN(p.signed_v2, sign_manifest_v2(next, signers));
    }
    pending.push_back(std::move(p));
  }
  if (pending.empty()) return result;

  std::vector<std::string> paths;
  for (const auto& p : pending) {
    const RefreshedStream& s = p.stream;
    for (const char* root : {"", kV2Root}) {
      if ((*root ? p.signed_v2 : p.signed_v1).empty()) continue;
      paths.push_back(root + TreeLayout::versioned_manifest(s.model, s.channel, s.platform, s.version));
      paths.push_back(root + TreeLayout::current_manifest(s.model, s.channel, s.platform));
    }
  }
  for (const auto& rel : catalog_file_paths()) paths.push_back(rel);
  MC_RETURN_IF_ERROR(locked.record(paths));
  for (const auto& p : pending) {
    const RefreshedStream& s = p.stream;
    if (!p.signed_v1.empty())
      MC_RETURN_IF_ERROR(write_manifest_version(tree, s.model, s.channel, s.platform, s.version, p.signed_v1));
    if (!p.signed_v2.empty())
      MC_RETURN_IF_ERROR(write_manifest_version(tree, s.model, s.channel, s.platform, s.version, p.signed_v2, kV2Root));
    result.refreshed.push_back(s);
  }
  std::vector<std::string> warnings;
  MC_RETURN_IF_ERROR(write_catalog(tree.root(), tree.settings().base_url, format_timestamp(now), &warnings).status());
  for (const auto& w : warnings) std::fprintf(stderr, "warning: catalog: %s\n", w.c_str());
  result.message = commit_title(pending);
  MC_ASSIGN_OR_RETURN(result.commit, locked.commit(paths, result.message + "\n\n" + commit_body(pending, result.key_ids)));
  return result;
}

}  // namespace modelcast
