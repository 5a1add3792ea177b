#include "publish.h"

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>

#include "blob_store.h"
#include "catalog.h"
#include "keygen.h"
#include "locked_tree.h"
#include "modelcast/fs.h"
#include "modelcast/names.h"
#include "modelcast/signed_manifest.h"
#include "modelcast/signed_manifest_v2.h"
#include "modelcast/signing.h"
#include "keyset.h"
#include "next_version.h"
#include "progress.h"
#include "publish_deltas.h"
#include "rollout.h"
#include "tree.h"
#include "model_inspect.h"

namespace modelcast {

namespace {

constexpr uint64_t kLargeBlobWarningBytes = 100ull * 1000 * 1000;

Status usage(const std::string& message) { return error(StatusCode::kInvalidArgument, message); }


Result<ModelConfig> load_config(FileSystem& fs, const std::string& path) {
  auto text = fs.read_file(path, kMaxConfigBytes);
  if (!text.ok()) return text.status().with_context("config");
  MC_ASSIGN_OR_RETURN(Json doc, parse_json_strict(*text, kMaxConfigBytes, path));
  return config_from_json(doc, path);
}

std::string commit_title(const ManifestV2& next, const ManifestV2* previous) {
  std::string title = "publish " + next.model + " " + std::to_string(next.version) + " (" + next.channel + "/" + next.platform +
                      "):";
  std::map<std::string, const FileEntryV2*> before;
  if (previous)
    for (const auto& f : previous->files) before[f.path] = &f;
  std::vector<std::string> parts;
  for (const auto& f : next.files) {
    auto it = before.find(f.path);
    if (it == before.end()) {
      parts.push_back(f.path + " " + human_size(f.size) + (previous ? " (added)" : ""));
    } else {
      if (it->second->sha256 != f.sha256) parts.push_back(f.path + " " + human_size(it->second->size) + " -> " + human_size(f.size));
      before.erase(it);
    }
  }
  for (const auto& kv : before) parts.push_back(kv.first + " removed");
  if (previous) {
    Json a = manifest_v2_to_json(*previous), b = manifest_v2_to_json(next);
    if (a.at("config") != b.at("config")) parts.push_back("config changed");
    if (a.at("requires") != b.at("requires")) parts.push_back("requirements changed");
  }
  if (parts.empty()) parts.push_back("refresh, expires " + next.expires_at);
  for (size_t i = 0; i < parts.size(); ++i) title += (i ? ", " : " ") + parts[i];
  return title;
}

// The model file is the source of truth: a config naming tensors it does not have would
// make every device fall back, so it is refused here, before anything is written. Returns
// the newest minimum iOS the files state (a Core ML specificationVersion), or "".
Result<std::string> check_models_fit(const ModelConfig& config, const std::vector<SourceFile>& files) {
  std::string minimum_ios;
  for (const auto& f : files) {
    MC_ASSIGN_OR_RETURN(ModelInfo info, inspect_model_file(f.source));
    if (info.format == "opaque") continue;
    MC_RETURN_IF_ERROR(check_config_fits(config, info, f.source));
    auto ios = info.minimum_os.find("ios");
    if (ios != info.minimum_os.end() && (minimum_ios.empty() || compare_app_versions(ios->second, minimum_ios) > 0))
      minimum_ios = ios->second;
  }
  return minimum_ios;
}

// An iOS stream ("ios", "ios-arm64") requires what its Core ML files need: --min-os when
// given (refused when older than the files), else the files' own minimum. Other platforms
// keep --min-os as given: a Core ML minimum is an iOS version, not theirs.
Result<std::string> stream_minimum_os(const PublishOptions& o, const std::string& files_minimum_ios) {
  if (files_minimum_ios.empty() || o.platform.rfind("ios", 0) != 0) return o.min_os_version;
  if (o.min_os_version.empty()) return files_minimum_ios;
  if (compare_app_versions(o.min_os_version, files_minimum_ios) < 0)
    return error(StatusCode::kConfigMismatch, "--min-os " + o.min_os_version + ": the Core ML model needs iOS " +
                                                  files_minimum_ios + " (its specificationVersion); give --min-os " +
                                                  files_minimum_ios + " or leave it out");
  return o.min_os_version;
}

}  // namespace

Status check_publish_options(const PublishOptions& o, std::vector<SourceFile>* resolved) {
  if (o.tree.empty()) return usage("TREE is required");
  MC_RETURN_IF_ERROR(check_name(o.model, "--model"));
  MC_RETURN_IF_ERROR(check_name(o.platform, "--platform"));
  if (!o.channel.empty()) MC_RETURN_IF_ERROR(check_name(o.channel, "--channel"));
  if (o.config_path.empty()) return usage("--config is required");
  if (o.key_paths.empty()) return usage("--key is required");
  if (o.deltas < 0 || o.deltas > static_cast<int>(kMaxDeltasPerFile))
    return usage("--deltas: " + std::to_string(o.deltas) + " is outside 0.." + std::to_string(kMaxDeltasPerFile));
  if (o.rollout_percent && (*o.rollout_percent < 0 || *o.rollout_percent > 100))
    return usage("--rollout: " + std::to_string(*o.rollout_percent) + " is outside 0..100");
  if (o.expires_in_days < 0 || o.expires_in_days > 3650) return usage("--expires-in: must be 1 to 3650 days");
  if (o.refresh_within_days < 0 || o.refresh_within_days > 3650) return usage("--refresh-within: must be 0 to 3650 days");
  if (!o.min_app_version.empty()) MC_RETURN_IF_ERROR(check_app_version(o.min_app_version, "--min-app-version"));
  if (!o.min_os_version.empty()) MC_RETURN_IF_ERROR(check_app_version(o.min_os_version, "--min-os"));
  if (!o.runtime.empty()) MC_RETURN_IF_ERROR(check_name(o.runtime, "--runtime"));
  if (o.features) {
    std::set<std::string> seen;
    for (const auto& f : *o.features) {
      MC_RETURN_IF_ERROR(check_name(f, "--features"));
      if (!seen.insert(f).second) return usage("--features: \"" + f + "\" given twice");
    }
  }
  if (!o.path_prefix.empty()) MC_RETURN_IF_ERROR(check_file_path(o.path_prefix, "--path-prefix"));
  FileSystem& fs = o.file_system ? *o.file_system : *posix_file_system();
  MC_ASSIGN_OR_RETURN(std::vector<SourceFile> out, resolve_source_files(o.files, o.path_prefix, fs));
  if (resolved) *resolved = std::move(out);
  return OkStatus();
}

namespace {

// What a stream holds on disk before this publish.
struct StreamState {
  // The current version's content (format 2 values: only they carry a minimum OS).
  std::optional<ManifestV2> previous;
  uint64_t last_version = 0;  // the highest of the current and the versioned manifests
};

Result<StreamState> read_stream_state(const Tree& tree, const std::string& model, const std::string& channel,
                                      const std::string& platform) {
  StreamState state;
  const std::string current_rel = TreeLayout::current_manifest(model, channel, platform);
  if (tree.fs().exists(tree.path(current_rel)) || tree.fs().exists(tree.path("v2/" + current_rel))) {
    auto content = read_content(tree, current_rel);
    if (!content.ok()) return content.status().with_context("the current manifest");
    state.previous = std::move(content).value();
    // A format 1 document requires kFormat2Feature only because of what format 1 cannot
    // state (parts, a minimum OS); it is not part of what the publisher was asked to require.
    auto& features = state.previous->requirements.features;
    features.erase(std::remove(features.begin(), features.end(), kFormat2Feature), features.end());
  }
  MC_ASSIGN_OR_RETURN(uint64_t versioned, highest_versioned(tree, model, channel, platform));
  state.last_version = std::max(state.previous ? state.previous->version : 0, versioned);
  return state;
}

Manifest draft_manifest(const PublishOptions& o, const std::string& channel, const ModelConfig& config) {
  Manifest next;
  next.model = o.model;
  next.channel = channel;
  next.platform = o.platform;
  next.config = config;
  next.requirements.features = o.features ? *o.features : config.features;
  next.requirements.min_app_version = o.min_app_version;
  next.requirements.min_os_version = o.min_os_version;
  next.requirements.runtime = o.runtime;
  if (o.rollout_percent && *o.rollout_percent < 100) next.rollout_percent = *o.rollout_percent;
  return next;
}

// Stores every source file as a blob and lists it in `next`.
Status store_files(BlobStore& store, const std::vector<SourceFile>& sources, bool show_progress, uint64_t max_file_bytes,
                   Manifest* next, PublishResult* result) {
  for (const auto& f : sources) {
    MC_ASSIGN_OR_RETURN(StoredBlob blob, store.put_file(f.source, f.path, show_progress));
    FileEntry e;
    e.path = f.path;
    e.sha256 = blob.sha256;
    e.size = blob.size;
    e.url = blob.url;
    e.encoding = blob.encoding;
    e.stored_size = blob.stored_size;
    next->files.push_back(e);
    if (blob.created) result->blobs_created.push_back(blob.url);
    // A tree that does not name its host gets no parts; say so before a push is rejected.
    if (max_file_bytes == 0 && blob.stored_size > kLargeBlobWarningBytes)
      std::fprintf(stderr,
                   "warning: %s is stored as %s; GitHub refuses files over 100 MB and Cloudflare Pages over 25 MiB "
                   "(set the host with `modelcast init --host` to publish large files as parts)\n",
                   blob.url.c_str(), human_size(blob.stored_size).c_str());
  }
  return OkStatus();
}

// Every stored blob above the host's file limit becomes parts (FORMAT.md "Format 2"); the
// whole blob file is removed so it is never committed.
Status split_large_blobs(BlobStore& store, uint64_t max_file_bytes, ManifestV2* next, PublishResult* result) {
  if (max_file_bytes == 0) return OkStatus();
  for (auto& f : next->files) {
    for (auto& b : f.blobs) {
      if (b.stored_size <= max_file_bytes || b.url.empty()) continue;
      MC_ASSIGN_OR_RETURN(b.parts, store.split_into_parts(b.url, max_file_bytes));
      auto& created = result->blobs_created;
      created.erase(std::remove(created.begin(), created.end(), b.url), created.end());
      for (const auto& p : b.parts) created.push_back(p.url);
      b.url.clear();
    }
  }
  return OkStatus();
}

// Deltas and xform blobs for the files that changed (publish_deltas.h).
Status store_deltas(const Tree& tree, const PublishOptions& o, const std::string& tmp_dir,
                    const std::vector<SourceFile>& sources, uint64_t last_version, ManifestV2* next) {
  std::map<std::string, std::string> source_of;
  for (const auto& f : sources) source_of[f.path] = f.source;
  DeltaPublishOptions options;
  options.max_bases = o.deltas;
  options.max_file_bytes = tree.settings().max_file_bytes;
  options.tmp_dir = tmp_dir;
  return add_deltas(tree, source_of, last_version, options, next);
}

// True when `next` has the current version's content and that version is not due for a
// refresh; sets result->refreshed when the content is the same but the expiry is near.
Result<bool> keeps_current_version(const ManifestV2& previous, const ManifestV2& next, int64_t now, int refresh_within_days,
                                   PublishResult* result) {
  if (!same_content(previous, next)) return false;
  MC_ASSIGN_OR_RETURN(int64_t expires, parse_timestamp(previous.expires_at, "current manifest expires_at"));
  if (expires - now >= int64_t{refresh_within_days} * 86400) return true;
  result->refreshed = true;
  return false;
}

// Trees made before init wrote .gitattributes get it with their next publish (a tree's
// own, different .gitattributes is left alone; verify reports it when it does not protect).
Status add_git_attributes_if_missing(const Tree& tree) {
  if (tree.fs().exists(tree.path(kGitAttributesFile))) return OkStatus();
  return tree.fs().write_file_atomic(tree.path(kGitAttributesFile), git_attributes_file());
}

Result<std::vector<std::string>> rewrite_catalog(const Tree& tree, const std::string& published_at) {
  std::vector<std::string> warnings;
  MC_ASSIGN_OR_RETURN(auto catalog_files, write_catalog(tree.root(), tree.settings().base_url, published_at, &warnings, tree.fs()));
  for (const auto& w : warnings) std::fprintf(stderr, "warning: catalog: %s\n", w.c_str());
  return catalog_files;
}

}  // namespace

Result<PublishResult> publish(const PublishOptions& o) {
  std::vector<SourceFile> sources;
  MC_RETURN_IF_ERROR(check_publish_options(o, &sources));
  FileSystem& fs = o.file_system ? *o.file_system : *posix_file_system();
  const int64_t now = o.now ? o.now : fs.now_unix();

  // Keys first: a key inside the tree is named as such, not as an uncommitted change.
  MC_ASSIGN_OR_RETURN(std::vector<PrivateKey> keys, load_signing_keys(o.key_paths, o.tree, fs));
  const UntrustedSigners untrusted = o.trust_new_key ? UntrustedSigners::kTrust : UntrustedSigners::kTrustFirstKey;
  MC_RETURN_IF_ERROR(check_signers_before_lock(o.tree, keys, untrusted, fs));
  // Takes the lock, and commits whatever an interrupted command left before anything else.
  MC_ASSIGN_OR_RETURN(LockedTree locked, LockedTree::open(o.tree, o.wait_for_lock, "publish", fs));
  Tree& tree = locked.tree();
  const std::string channel = o.channel.empty() ? tree.settings().default_channel : o.channel;
  const int days = o.expires_in_days ? o.expires_in_days : tree.settings().expires_in_days;

  MC_RETURN_IF_ERROR(check_manifest_signers(tree, keys, untrusted));
  MC_ASSIGN_OR_RETURN(ModelConfig config, load_config(fs, o.config_path));
  MC_ASSIGN_OR_RETURN(std::string files_minimum_ios, check_models_fit(config, sources));
  MC_ASSIGN_OR_RETURN(std::string min_os_version, stream_minimum_os(o, files_minimum_ios));
  MC_ASSIGN_OR_RETURN(StreamState stream, read_stream_state(tree, o.model, channel, o.platform));

  PublishResult result;
  result.channel = channel;
  result.previous_version = stream.last_version;
  result.manifest_path = TreeLayout::current_manifest(o.model, channel, o.platform);
  result.key_id = keys.front().public_key().key_id();
  std::vector<const PrivateKey*> signers;
  for (const auto& k : keys) {
    signers.push_back(&k);
    result.key_ids.push_back(k.public_key().key_id());
  }

  Manifest next = draft_manifest(o, channel, config);
  next.requirements.min_os_version = min_os_version;
  BlobStore store(tree.root(), locked.tmp_dir(), fs);
  const uint64_t max_file_bytes = tree.settings().max_file_bytes;
  MC_RETURN_IF_ERROR(store_files(store, sources, o.show_progress, max_file_bytes, &next, &result));
  ManifestV2 next2 = manifest_v2_from_v1(next);
  MC_RETURN_IF_ERROR(split_large_blobs(store, max_file_bytes, &next2, &result));
  if (stream.previous) {
    MC_ASSIGN_OR_RETURN(bool unchanged, keeps_current_version(*stream.previous, next2, now, o.refresh_within_days, &result));
    if (unchanged) {
      result.unchanged = true;
      result.version = stream.previous->version;
      MC_ASSIGN_OR_RETURN(Manifest shown, manifest_v1_from_v2(*stream.previous));
      result.files = shown.files;
      return result;
    }
  }

  MC_RETURN_IF_ERROR(store_deltas(tree, o, locked.tmp_dir(), sources, stream.last_version, &next2));
  MC_RETURN_IF_ERROR(split_large_blobs(store, max_file_bytes, &next2, &result));  // a large .xf too

  next.version = stream.last_version + 1;
  next.published_at = format_timestamp(now);
  next.expires_at = format_timestamp(now + int64_t{days} * 86400);
  next2.version = next.version;
  next2.published_at = next.published_at;
  next2.expires_at = next.expires_at;
  if (next2.rollout) {  // devices outside the percentage get the last release all had
    MC_ASSIGN_OR_RETURN(next2.rollout->fallback, fallback_release(tree, StreamName{o.model, channel, o.platform}));
  }
  // The format 1 document is derived from the format 2 one (it may require kFormat2Feature).
  MC_ASSIGN_OR_RETURN(Manifest next1, manifest_v1_from_v2(next2));
  MC_RETURN_IF_ERROR(name_key_set(tree, &next2));
  MC_ASSIGN_OR_RETURN(std::string signed_v2, sign_manifest_v2(next2, signers));
  MC_ASSIGN_OR_RETURN(std::string signed_v1, sign_manifest(next1, signers));
  const std::string versioned_rel = TreeLayout::versioned_manifest(o.model, channel, o.platform, next.version);
  // Everything the commit holds, recorded before the first manifest is written, so an
  // interrupted publish is committed by the next command. Unchanged files (the key, the
  // settings) add nothing to the commit; blobs already committed are not re-read.
  std::vector<std::string> commit_paths = stored_paths(next2);
  for (const auto& rel : {versioned_rel, result.manifest_path, TreeLayout::versioned_manifest_v2(o.model, channel, o.platform, next.version),
                          TreeLayout::current_manifest_v2(o.model, channel, o.platform), std::string(kGitAttributesFile)})
    commit_paths.push_back(rel);
  for (const auto& rel : signing_key_paths(keys)) commit_paths.push_back(rel);
  for (const auto& rel : catalog_file_paths()) commit_paths.push_back(rel);
  MC_RETURN_IF_ERROR(locked.record(commit_paths));
  // The keys are trusted before a manifest they signed exists: recovery after a crash only
  // commits manifests a trusted key signed.
  std::vector<std::string> newly_trusted;
  const auto& trusted = tree.settings().trusted_keys;
  const char* why = trusted.empty() ? "the tree's first key" : "--trust-new-key";
  for (const auto& id : result.key_ids)
    if (std::find(trusted.begin(), trusted.end(), id) == trusted.end()) newly_trusted.push_back(id);
  MC_RETURN_IF_ERROR(record_signing_keys(tree, keys));
  // Format 2 first, so a format 1 document never names a version format 2 lacks.
  MC_RETURN_IF_ERROR(write_manifest_version(tree, next.model, next.channel, next.platform, next.version, signed_v2, "v2/"));
  MC_RETURN_IF_ERROR(write_manifest_version(tree, next.model, next.channel, next.platform, next.version, signed_v1));
  MC_RETURN_IF_ERROR(rewrite_catalog(tree, next.published_at).status());
  MC_RETURN_IF_ERROR(add_git_attributes_if_missing(tree));

  result.message = commit_title(next2, stream.previous ? &*stream.previous : nullptr);
  MC_ASSIGN_OR_RETURN(result.commit,
                      locked.commit(commit_paths, result.message + "\n\n" + version_commit_body(next, result.key_ids)));
  for (const auto& id : newly_trusted)
    std::fprintf(stderr, "note: %s now trusts key %s (%s); devices must pin keys/%s.pub\n", o.tree.c_str(), id.c_str(), why,
                 id.c_str());
  result.version = next.version;
  result.versioned_path = versioned_rel;
  result.files = next.files;
  return result;
}

}  // namespace modelcast
