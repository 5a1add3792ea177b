#include "refresh.h"

#include <algorithm>
#include <cstdio>
#include <ctime>

#include "catalog.h"
#include "locked_tree.h"
#include "modelcast/names.h"
#include "modelcast/signed_manifest.h"
#include "modelcast/signing.h"

namespace modelcast {

namespace {

constexpr int kMaxDays = 3650;

struct Pending {
  RefreshedStream stream;
  std::string signed_text;
};

std::string commit_title(const std::vector<Pending>& pending) {
  std::string title = "refresh " + std::to_string(pending.size()) + " stream(s):";
  for (size_t i = 0; i < pending.size(); ++i) {
    const RefreshedStream& s = pending[i].stream;
    title += (i ? ", " : " ") + s.model + " " + std::to_string(s.version) + " (" + s.channel + "/" + s.platform + ")";
  }
  return title;
}

std::string commit_body(const std::vector<Pending>& pending, const std::string& key_id) {
  std::string body = "signed-by: " + key_id + "\n";
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
  if (o.key_path.empty()) return error(StatusCode::kInvalidArgument, "--key is required");
  if (o.within_days < 0 || o.within_days > kMaxDays) return error(StatusCode::kInvalidArgument, "--within: must be 0 to 3650 days");
  if (o.expires_in_days < 0 || o.expires_in_days > kMaxDays)
    return error(StatusCode::kInvalidArgument, "--expires-in: must be 1 to 3650 days");
  return OkStatus();
}

Result<RefreshResult> refresh(const RefreshOptions& o) {
  MC_RETURN_IF_ERROR(check_refresh_options(o));
  const int64_t now = o.now ? o.now : static_cast<int64_t>(std::time(nullptr));
  MC_ASSIGN_OR_RETURN(LockedTree locked, LockedTree::open(o.tree, o.wait_for_lock, "refresh"));
  Tree& tree = locked.tree();

  auto key = PrivateKey::from_pem_file(o.key_path);
  if (!key.ok()) return key.status().with_context("--key " + o.key_path);
  RefreshResult result;
  result.key_id = key->public_key().key_id();
  // Devices pin the tree's keys: a manifest signed by any other key would make them all
  // fall back, so refresh never introduces a key (publish does, visibly, in a diff).
  const auto& trusted = tree.settings().trusted_keys;
  if (std::find(trusted.begin(), trusted.end(), result.key_id) == trusted.end() ||
      !path_exists(tree.path(TreeLayout::key_file(result.key_id))))
    return error(StatusCode::kSignature, "--key " + o.key_path + ": key " + result.key_id + " is not trusted by " + tree.root() +
                                             " (" + kSettingsFile + " trusted_keys); refresh with a key the tree trusts");

  const int days = o.expires_in_days ? o.expires_in_days : tree.settings().expires_in_days;
  std::vector<std::string> ignored;
  MC_ASSIGN_OR_RETURN(auto streams, list_streams(tree.root(), &ignored));
  std::vector<Pending> pending;
  for (const auto& s : streams) {
    if (!s.has_current) continue;
    ++result.streams;
    const std::string current_rel = TreeLayout::current_manifest(s.model, s.channel, s.platform);
    MC_ASSIGN_OR_RETURN(std::string text, read_file(tree.path(current_rel), kMaxManifestBytes));
    auto parsed = parse_signed_manifest(text);
    if (!parsed.ok()) return parsed.status().with_context(current_rel + " (run `modelcast verify`)");
    const Manifest& current = parsed->manifest;
    MC_ASSIGN_OR_RETURN(int64_t expires, parse_timestamp(current.expires_at, current_rel + " expires_at"));
    if (expires - now >= int64_t{o.within_days} * 86400) continue;

    Manifest next = current;  // files, config, requirements and rollout stay as they are
    next.version = std::max(current.version, s.versions.empty() ? 0 : s.versions.back()) + 1;
    next.published_at = format_timestamp(now);
    next.expires_at = format_timestamp(now + int64_t{days} * 86400);
    Pending p;
    p.stream = {s.model, s.channel, s.platform, current.version, next.version, current.expires_at, next.expires_at};
    MC_ASSIGN_OR_RETURN(p.signed_text, sign_manifest(next, {&key.value()}));
    pending.push_back(std::move(p));
  }
  if (pending.empty()) return result;

  std::vector<std::string> paths;
  for (const auto& p : pending) {
    const RefreshedStream& s = p.stream;
    paths.push_back(TreeLayout::versioned_manifest(s.model, s.channel, s.platform, s.version));
    paths.push_back(TreeLayout::current_manifest(s.model, s.channel, s.platform));
  }
  for (const auto& rel : catalog_file_paths()) paths.push_back(rel);
  MC_RETURN_IF_ERROR(locked.record(paths));
  for (const auto& p : pending) {
    const RefreshedStream& s = p.stream;
    MC_RETURN_IF_ERROR(write_manifest_version(tree, s.model, s.channel, s.platform, s.version, p.signed_text));
    result.refreshed.push_back(s);
  }
  std::vector<std::string> warnings;
  MC_RETURN_IF_ERROR(write_catalog(tree.root(), tree.settings().base_url, format_timestamp(now), &warnings).status());
  for (const auto& w : warnings) std::fprintf(stderr, "warning: catalog: %s\n", w.c_str());
  result.message = commit_title(pending);
  MC_ASSIGN_OR_RETURN(result.commit, locked.commit(paths, result.message + "\n\n" + commit_body(pending, result.key_id)));
  return result;
}

}  // namespace modelcast
