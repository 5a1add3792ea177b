// The device cache on disk (DESIGN.md "The device cache"): paths, state.json, building a
// version folder from hard links, the atomic swap of `current`, pruning and crash
// recovery. Every write goes through the FileSystem seam. Callers that modify a model
// hold its update locks, and callers that delete what models share (recover_tmp, clear_tmp,
// gc_blobs) hold the cache's lock exclusively (cache_locks.h); reading functions take none.
// Private to the library.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "download.h"
#include "modelcast/fetcher.h"
#include "modelcast/file_system.h"
#include "modelcast/signed_manifest.h"

namespace modelcast {

struct ModelPaths {
  std::string cache_dir;
  std::string model;
  std::string model_dir() const { return cache_dir + "/models/" + model; }
  std::string versions_dir() const { return model_dir() + "/versions"; }
  std::string version_dir(uint64_t v) const { return versions_dir() + "/" + std::to_string(v); }
  std::string building_dir(uint64_t v) const { return versions_dir() + "/" + std::to_string(v) + ".partial"; }
  // The verified manifest sits beside its folder, never inside: a publisher's file may
  // have any name, manifest.json included.
  std::string version_manifest(uint64_t v) const { return versions_dir() + "/" + std::to_string(v) + ".manifest.json"; }
  // Where caches written before this layout kept it; still read.
  std::string legacy_version_manifest(uint64_t v) const { return version_dir(v) + "/manifest.json"; }
  std::string current_link() const { return model_dir() + "/current"; }
  std::string state_path() const { return model_dir() + "/state.json"; }
  std::string lock_path() const { return cache_dir + "/lock"; }  // the cache's (cache_locks.h)
  std::string model_lock_path() const { return model_dir() + "/lock"; }
};

// The version `current` points to; 0 when absent or not a "versions/<n>" link.
uint64_t current_version(FileSystem& fs, const ModelPaths& paths);
// Numbered, complete-looking folders under versions/, ascending.
std::vector<uint64_t> list_versions(FileSystem& fs, const ModelPaths& paths);

// Reads and checks versions/<v>: its manifest (versions/<v>.manifest.json, or the older
// versions/<v>/manifest.json) parses, names this model and version, and
// every file is present with its declared size (and hash when asked).
Result<OpenedModel> load_version(FileSystem& fs, const ModelPaths& paths, uint64_t version, const OpenOptions& options);
// `current`, or the newest complete kept version when `current` is damaged.
Result<OpenedModel> open_model(FileSystem& fs, const ModelPaths& paths, const OpenOptions& options);

// The cache's fixed folders (tmp, blobs, models, the model's folder and versions) are real
// folders or absent; a symbolic link there would send deletes and writes outside the cache.
Status check_fixed_folders(FileSystem& fs, const ModelPaths& paths);

ModelState read_state(FileSystem& fs, const ModelPaths& paths);
Status write_state(FileSystem& fs, const ModelPaths& paths, const ModelState& state);

// Under the lock, before anything else: when `current` is missing or not a link, points it
// at the newest complete version (a folder or file named current is removed first); then
// removes half-built (".partial") and never-activated version folders (above current),
// manifests without their folder, a stale "current.new",
// and tmp files that cannot be resumed (anything but regular files <sha256>.part,
// <sha256>.zst.part or <sha256>.xf.part; a link is removed, never followed).
Status recover_model(FileSystem& fs, const ModelPaths& paths);
Status recover_tmp(FileSystem& fs, const CacheBlobStore& store);
// What recover_tmp removes that no update ever makes (links, folders, other odd files), so
// it is safe while other updates download into tmp/.
Status remove_foreign_tmp_entries(FileSystem& fs, const CacheBlobStore& store);
// After a successful update: every partial belongs to no pending file any more.
Status clear_tmp(FileSystem& fs, const CacheBlobStore& store);

// versions/<v>.partial from hard links of verified blobs and versions/<v>.manifest.json,
// everything synced, then the folder renamed to versions/<v>. Returns the folder.
Result<std::string> build_version(FileSystem& fs, const CacheBlobStore& store, const ModelPaths& paths,
                                  const SignedManifest& manifest, const std::string& manifest_bytes);
// current.new -> versions/<v>, renamed over current, model folder synced.
Status activate_version(FileSystem& fs, const ModelPaths& paths, uint64_t version);
// Keeps current and the keep-1 newest older versions.
Status prune_versions(FileSystem& fs, const ModelPaths& paths, size_t keep);
// Blobs no version folder links to any more (link count 1).
Status gc_blobs(FileSystem& fs, const CacheBlobStore& store);

}  // namespace modelcast
