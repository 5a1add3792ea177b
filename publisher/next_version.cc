#include "next_version.h"

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <cstdio>
#include <ctime>
#include <set>
#include <tuple>

#include "catalog.h"
#include "keyset.h"
#include "modelcast/names.h"

namespace modelcast {

namespace {

Status usage(const std::string& message) { return error(StatusCode::kInvalidArgument, message); }

Result<SignedManifest> read_manifest_file(const Tree& tree, const std::string& rel) {
  if (!path_exists(tree.path(rel))) return error(StatusCode::kNotFound, rel + ": no such manifest");
  MC_ASSIGN_OR_RETURN(std::string text, read_file(tree.path(rel), kMaxManifestBytes));
  auto parsed = parse_signed_manifest(text);
  if (!parsed.ok()) return parsed.status().with_context(tree.path(rel) + " (run `modelcast verify`)");
  return parsed;
}

}  // namespace

Result<ManifestV2> read_content(const Tree& tree, const std::string& rel) {
  const std::string rel_v2 = "v2/" + rel;
  if (tree.fs().exists(tree.path(rel_v2))) {
    MC_ASSIGN_OR_RETURN(std::string text, tree.fs().read_file(tree.path(rel_v2), kMaxManifestBytes));
    auto parsed = parse_signed_manifest_v2(text);
    if (!parsed.ok()) return parsed.status().with_context(tree.path(rel_v2) + " (run `modelcast verify`)");
    return std::move(parsed->manifest);
  }
  MC_ASSIGN_OR_RETURN(SignedManifest v1, read_manifest_file(tree, rel));
  return manifest_v2_from_v1(v1.manifest);
}

std::string version_commit_body(const Manifest& m, const std::vector<std::string>& key_ids) {
  std::string body = "model: " + m.model + "\nchannel: " + m.channel + "\nplatform: " + m.platform +
                     "\nversion: " + std::to_string(m.version) + "\nexpires: " + m.expires_at + "\n";
  if (m.rollout_percent) body += "rollout: " + std::to_string(*m.rollout_percent) + "%\n";
  for (const auto& id : key_ids) body += "signed-by: " + id + "\n";
  for (const auto& f : m.files)
    body += "file: " + f.path + " sha256:" + f.sha256 + " " + std::to_string(f.size) + " bytes (" + f.encoding + ", " +
            std::to_string(f.stored_size) + " stored)\n";
  return body;
}

Result<TreeSession> TreeSession::open(const std::string& tree_dir, bool wait_for_lock, const std::string& command) {
  MC_ASSIGN_OR_RETURN(LockedTree locked, LockedTree::open(tree_dir, wait_for_lock, command));
  return TreeSession(std::move(locked));
}

Result<uint64_t> TreeSession::last_version(const StreamName& s) {
  MC_ASSIGN_OR_RETURN(uint64_t last, highest_versioned(tree(), s.model, s.channel, s.platform));
  auto cur = current(s);
  if (cur.ok()) last = std::max(last, cur->manifest.version);
  else if (cur.status().code() != StatusCode::kNotFound) return cur.status();
  return last;
}

Result<SignedManifest> TreeSession::current(const StreamName& s) {
  return read_manifest_file(tree(), TreeLayout::current_manifest(s.model, s.channel, s.platform));
}

Result<SignedManifest> TreeSession::versioned(const StreamName& s, uint64_t version) {
  return read_manifest_file(tree(), TreeLayout::versioned_manifest(s.model, s.channel, s.platform, version));
}

Result<ManifestV2> TreeSession::current_content(const StreamName& s) {
  return read_content(tree(), TreeLayout::current_manifest(s.model, s.channel, s.platform));
}

Result<ManifestV2> TreeSession::versioned_content(const StreamName& s, uint64_t version) {
  return read_content(tree(), TreeLayout::versioned_manifest(s.model, s.channel, s.platform, version));
}

// A private key inside the tree would be committed and published with it: refused. A key
// file others can read is still used (CI runners often mount secrets 0644) but named, as
// ssh names it, so the owner can chmod it.
namespace {

Status check_signing_key_file(FileSystem& fs, const std::string& key_path, const std::string& tree_root) {
  char key_real[PATH_MAX], tree_real[PATH_MAX];
  // Only for a real tree: a folder that is none gets "not a modelcast tree" from opening it.
  if (fs.exists(tree_root + "/" + kSettingsFile) && ::realpath(key_path.c_str(), key_real) &&
      ::realpath(tree_root.c_str(), tree_real)) {
    const std::string key(key_real), tree(tree_real);
    if (key.compare(0, tree.size() + 1, tree + "/") == 0)
      return usage("--key " + key_path + ": the private key is inside the tree and would be published; keep it outside " +
                   tree_root);
  }
  auto info = fs.stat(key_path);
  if (info.ok() && (info->mode & 077) != 0) {
    char mode[16];
    std::snprintf(mode, sizeof mode, "%04o", info->mode & 07777u);
    std::fprintf(stderr, "warning: --key %s: readable by others (mode %s); chmod 600 it\n", key_path.c_str(), mode);
  }
  return OkStatus();
}

}  // namespace

Result<std::vector<PrivateKey>> load_signing_keys(const std::vector<std::string>& paths, const std::string& tree_root,
                                                  FileSystem& fs) {
  if (paths.empty()) return usage("--key is required");
  std::vector<PrivateKey> keys;
  std::set<std::string> ids;
  for (const auto& path : paths) {
    MC_RETURN_IF_ERROR(check_signing_key_file(fs, path, tree_root));
    auto key = PrivateKey::from_pem_file(path);
    if (!key.ok()) return key.status().with_context("--key " + path);
    if (!ids.insert(key->public_key().key_id()).second)
      return usage("--key " + path + ": the same key is given twice (a threshold counts distinct keys)");
    keys.push_back(std::move(key).value());
  }
  return keys;
}

std::vector<std::string> signing_key_paths(const std::vector<PrivateKey>& keys) {
  std::vector<std::string> out = {kSettingsFile};
  for (const auto& k : keys) out.push_back(TreeLayout::key_file(k.public_key().key_id()));
  return out;
}

Status record_signing_keys(Tree& tree, const std::vector<PrivateKey>& keys) {
  auto& trusted = tree.mutable_settings().trusted_keys;
  bool settings_changed = false;
  for (const auto& k : keys) {
    const std::string key_rel = TreeLayout::key_file(k.public_key().key_id());
    if (!path_exists(tree.path(key_rel))) {
      MC_RETURN_IF_ERROR(make_dirs(tree.path("keys")));
      MC_RETURN_IF_ERROR(write_file_atomic(tree.path(key_rel), k.public_key().to_pem()));
    }
    if (std::find(trusted.begin(), trusted.end(), k.public_key().key_id()) == trusted.end()) {
      trusted.push_back(k.public_key().key_id());
      settings_changed = true;
    }
  }
  return settings_changed ? tree.save_settings() : OkStatus();
}

Status check_signing_options(const SigningOptions& o) {
  if (o.tree.empty()) return usage("TREE is required");
  if (o.key_paths.empty()) return usage("--key is required");
  if (o.expires_in_days < 0 || o.expires_in_days > 3650) return usage("--expires-in: must be 1 to 3650 days");
  return OkStatus();
}

bool same_content(const ManifestV2& a, const ManifestV2& b) {
  auto files = [](const ManifestV2& m) {
    std::vector<std::tuple<std::string, std::string, uint64_t>> out;
    for (const auto& f : m.files) out.emplace_back(f.path, f.sha256, f.size);
    std::sort(out.begin(), out.end());
    return out;
  };
  Json ja = manifest_v2_to_json(a), jb = manifest_v2_to_json(b);
  return files(a) == files(b) && ja.at("config") == jb.at("config") && ja.at("requires") == jb.at("requires");
}

Result<NextVersionResult> prepare_next_version(TreeSession& session, ManifestV2 next, const std::vector<PrivateKey>& keys,
                                               const SigningOptions& o, bool check_signers) {
  Tree& tree = session.tree();
  const StreamName stream{next.model, next.channel, next.platform};
  if (check_signers) MC_RETURN_IF_ERROR(check_manifest_signers(tree, keys));
  const std::vector<std::string> stored = stored_paths(next);
  for (const auto& rel : stored)
    if (!tree.fs().exists(tree.path(rel))) return error(StatusCode::kNotFound, rel + ": stored file not in the tree");
  const int64_t now = o.now ? o.now : static_cast<int64_t>(std::time(nullptr));
  const int days = o.expires_in_days ? o.expires_in_days : tree.settings().expires_in_days;

  NextVersionResult result;
  result.stream = stream;
  MC_ASSIGN_OR_RETURN(result.previous_version, session.last_version(stream));
  next.version = result.previous_version + 1;
  next.published_at = format_timestamp(now);
  next.expires_at = format_timestamp(now + int64_t{days} * 86400);
  std::vector<const PrivateKey*> signers;
  for (const auto& k : keys) {
    signers.push_back(&k);
    result.key_ids.push_back(k.public_key().key_id());
  }
  // The format 1 document is derived from the format 2 one (it may require kFormat2Feature).
  MC_ASSIGN_OR_RETURN(result.manifest, manifest_v1_from_v2(next));
  MC_RETURN_IF_ERROR(name_key_set(tree, &next));
  MC_ASSIGN_OR_RETURN(result.signed_text_v2, sign_manifest_v2(next, signers));
  MC_ASSIGN_OR_RETURN(result.signed_text, sign_manifest(result.manifest, signers));
  result.version = next.version;
  result.manifest_path = TreeLayout::current_manifest(stream.model, stream.channel, stream.platform);
  result.versioned_path = TreeLayout::versioned_manifest(stream.model, stream.channel, stream.platform, next.version);
  result.paths = {TreeLayout::versioned_manifest_v2(stream.model, stream.channel, stream.platform, next.version),
                  TreeLayout::current_manifest_v2(stream.model, stream.channel, stream.platform), result.versioned_path,
                  result.manifest_path};
  result.paths.insert(result.paths.end(), stored.begin(), stored.end());  // committed only when HEAD lacks them
  result.manifest_v2 = std::move(next);
  return result;
}

Status write_prepared_version(TreeSession& session, const NextVersionResult& p) {
  // Format 2 first, so a format 1 document never names a version format 2 lacks.
  MC_RETURN_IF_ERROR(write_manifest_version(session.tree(), p.stream.model, p.stream.channel, p.stream.platform, p.version,
                                            p.signed_text_v2, "v2/"));
  return write_manifest_version(session.tree(), p.stream.model, p.stream.channel, p.stream.platform, p.version,
                                p.signed_text);
}

Result<std::string> record_write_commit(TreeSession& session, std::vector<std::string> paths,
                                        const std::function<Status()>& write, const std::string& published_at,
                                        const std::string& message) {
  for (const auto& rel : catalog_file_paths()) paths.push_back(rel);
  MC_RETURN_IF_ERROR(session.locked().record(paths));
  MC_RETURN_IF_ERROR(write());
  std::vector<std::string> warnings;
  MC_RETURN_IF_ERROR(write_catalog(session.tree().root(), session.tree().settings().base_url, published_at, &warnings).status());
  for (const auto& w : warnings) std::fprintf(stderr, "warning: catalog: %s\n", w.c_str());
  return session.locked().commit(paths, message);
}

Result<NextVersionResult> write_next_version(TreeSession& session, ManifestV2 next, const std::vector<PrivateKey>& keys,
                                             const SigningOptions& o, const TitleFor& title) {
  MC_ASSIGN_OR_RETURN(NextVersionResult result, prepare_next_version(session, std::move(next), keys, o));
  result.message = title(result.version);
  std::vector<std::string> paths = result.paths;
  for (const auto& rel : signing_key_paths(keys)) paths.push_back(rel);
  auto write = [&]() -> Status {
    MC_RETURN_IF_ERROR(write_prepared_version(session, result));
    return record_signing_keys(session.tree(), keys);
  };
  MC_ASSIGN_OR_RETURN(result.commit, record_write_commit(session, paths, write, result.manifest.published_at,
                                                         result.message + "\n\n" +
                                                             version_commit_body(result.manifest, result.key_ids)));
  return result;
}

}  // namespace modelcast
