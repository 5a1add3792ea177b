// Fetcher: keeps the newest acceptable version of each model in a device cache, and
// falls back to the version it has whenever anything is wrong.
//
// update(model) asks the server for the signed manifest (a conditional GET: an unchanged
// manifest costs one 304), checks it (pinned keys, schema, expiry, rollback, what the
// device supports, rollout), downloads only the files whose SHA-256 the cache lacks
// (streaming: decompress, hash and write while receiving; resumable), builds the new
// version folder from hard links, and swaps `current` with one atomic rename. Any failure
// leaves the active version untouched and is reported as status kFallback (or kNone
// when there is no model yet) with a `reason`.
//
// open(model) never touches the network and never blocks: it returns the active
// version's folder. A version folder is immutable once made current and is only removed
// when more than `keep_versions` newer folders exist, so a reader that resolved a
// version keeps consistent files while later updates run (files are hard links: even a
// removed folder's files stay readable through descriptors already open).
//
// Cache layout: blobs/sha256/<2>/<64>, models/<m>/versions/<v>/ (only the model's
// files), models/<m>/versions/<v>.manifest.json,
// models/<m>/current -> versions/<v>, models/<m>/state.json, models/<m>/lock, tmp/, lock.
//
// No function here throws; failures are a Status or an UpdateResult.
//
// Thread safety: a Fetcher may be shared by threads; its own update() calls run one at a
// time. Updates of different models by different Fetchers (threads or processes) run at
// the same time: each holds the cache's lock file shared and its model's lock file
// exclusive, so two updates of one model are serialised (README "Several models at once").
// open() and status() take no lock. cancel() may be called from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "modelcast/file_system.h"
#include "modelcast/health_check.h"
#include "modelcast/http_transport.h"
#include "modelcast/manifest.h"
#include "modelcast/rollout.h"
#include "modelcast/signing.h"
#include "modelcast/status.h"

namespace modelcast {

struct Progress {
  std::string model;
  std::string file;            // manifest path of the file being received
  size_t file_index = 0;       // 0-based among the files to download
  size_t file_count = 0;       // files to download (not those already cached)
  uint64_t bytes_done = 0;     // stored (wire) bytes received for this update, resumed bytes included
  uint64_t bytes_total = 0;    // stored bytes of every file to download
};
// Called on the updating thread; return false to cancel the update. Also called, with
// bytes_done unchanged, every few milliseconds while the update waits for another model's
// update that is downloading the same file. Calling update() of the same Fetcher from
// inside it returns at once with kFallback/kNone, reason "busy".
using ProgressCallback = std::function<bool(const Progress&)>;

// What the app allows one update to download (Firebase's CustomModelDownloadConditions).
// An update that would break them downloads nothing and reports reason "deferred"
// (status kCurrent, or kNone without a model); the manifest check itself (a few KB) runs.
struct DownloadConditions {
  bool allow_metered = true;      // false: no model download while the network is metered
  uint64_t max_update_bytes = 0;  // 0: no limit; else the most stored bytes one update may need
};

struct FetcherOptions {
  std::string base_url;   // the tree's root: https://host/path, http://, or file:///abs/path
  std::string cache_dir;  // created when missing
  std::vector<PublicKey> trusted_keys;
  size_t threshold = 1;   // distinct trusted signatures required
  std::string platform;   // e.g. "android-arm64"
  std::string channel = "stable";
  std::string app_version;             // "2.10.1"; empty refuses manifests with min_app_version
  // The device's OS version on `platform` ("17.4" on iOS, "14" on Android), compared with a
  // manifest's requires.min_os_version: a device below it keeps its model (reason
  // "unsupported") and downloads nothing. Empty refuses manifests with a minimum.
  std::string os_version;
  std::vector<std::string> features;   // what this app can extract/understand
  std::vector<std::string> runtimes;   // e.g. {"tflite"}; empty: requires.runtime is not checked
  std::string device_id;  // stable id for rollout buckets; empty joins only 100% rollouts
  // A per-install random token (new_install_token(), never a hardware id) sent in the
  // User-Agent so the publisher can count devices per version (`modelcast report`).
  // Empty: not sent. 8 to 64 characters of [A-Za-z0-9_-].
  std::string install_token;
  // Called with the new version's folder before `current` moves (modelcast/health_check.h).
  HealthCheck health_check;
  // Most bytes the cache may hold (0: no limit). Unreferenced blobs and older versions go
  // first, never an active version; an update that cannot fit fails with reason "io".
  // With a budget, an update has the cache to itself (other models' updates wait).
  uint64_t max_cache_bytes = 0;
  int connect_timeout_ms = 10000;
  // Abort a transfer that moves fewer than low_speed_bytes per second, averaged over
  // low_speed_time_ms: a server trickling a few bytes a second counts as stalled.
  int low_speed_time_ms = 30000;
  int low_speed_bytes = 1024;
  // Bound on one update's downloads (the update holds its locks meanwhile). 0: derived
  // from the sizes the manifest declares, 60 s + stored bytes at deadline_rate_bytes per
  // second, at most 24 hours. A download cut by the deadline resumes in the next update.
  int64_t update_deadline_ms = 0;
  // The average rate the derived deadline allows for: 32 KiB/s (256 kbit/s, a weak mobile
  // link), so 1.8 MB gets 114 s. An app that expects slower links lowers it.
  int64_t deadline_rate_bytes = 32 * 1024;
  int manifest_timeout_ms = 30000;  // whole-request deadline for the (small) manifest
  int max_retries = 2;      // per request within one update, each resuming where the last stopped
  // Wait before retry n within an update: uniform in [0, min(retry_max_ms, retry_base_ms *
  // 2^n)] (full jitter), so a fleet does not hit a recovering server in step. 0: at once.
  int retry_base_ms = 200;
  int retry_max_ms = 5000;
  // After `network` failures in a row, UpdateResult::retry_after_s suggests the next check:
  // the server's Retry-After, else in [cap/2, cap], cap = min(max, base * 2^(failures-1)).
  int next_check_base_ms = 60000;
  int next_check_max_ms = 3600000;
  size_t keep_versions = 2;  // version folders kept: the active one and the previous (min 1)
  // false: kBusy at once when this model is being updated or the cache is held exclusive
  // (removing a model, recover(), an update with max_cache_bytes); other models' updates
  // never make it busy.
  bool wait_for_lock = true;
  std::shared_ptr<HttpTransport> transport;  // null: make_default_transport()
  std::shared_ptr<Clock> clock;              // null: the file system's clock
  std::shared_ptr<FileSystem> file_system;   // null: posix_file_system()
  ProgressCallback progress;
  DownloadConditions conditions;
  bool network_metered = false;  // the network at creation; Fetcher::set_network_metered updates it
};

enum class UpdateStatus {
  kUpdated,   // moved to a newer version
  kCurrent,   // the active version is the newest this device may take
  kFallback,  // something was wrong; the previous active version stays in use
  kNone,      // no usable version is active
};
const char* update_status_name(UpdateStatus status);

// How one file of the offered version was obtained (the path taken, for apps and logs).
struct FileTransfer {
  std::string path;  // as in the manifest
  // "cached" (already held), "blob-<encoding>" (zstd, identity, xform), "parts-<encoding>",
  // "delta-xform" or "delta-zstd-patch".
  std::string how;
  uint64_t wire_bytes = 0;  // received for this file by this update, a failed delta's included
  // Why a delta tried first was not used, "<reason>: <message>" (the file then came as a
  // blob in the same update); empty when no delta failed.
  std::string delta_fallback;
};

struct UpdateResult {
  UpdateStatus status = UpdateStatus::kNone;
  uint64_t version = 0;  // active version afterwards; 0 when none
  std::string path;      // its folder; empty when none
  // Why the device is not on the server's newest version: a status_code_name ("signature",
  // "hash-mismatch", "network", ...) or "rollout". Empty when nothing was refused.
  std::string reason;
  std::string message;          // one line naming what and where
  uint64_t offered_version = 0;  // version in the server's manifest; 0 when not read
  bool not_modified = false;     // the server answered 304
  uint64_t bytes_downloaded = 0;  // wire bytes of blobs (and parts) received by this update
  // Which manifest format this update read: 2 (v2/manifests/...), 1 (manifests/..., after
  // a 404 for format 2: a tree written by an older publisher); 0 when none was read.
  int manifest_format = 0;
  uint64_t wire_bytes = 0;  // bodies received by this update: manifests, blobs and parts
  uint64_t files_downloaded = 0;
  uint64_t files_reused = 0;  // already in the cache (dedupe)
  // Bytes the offered files the cache lacked would take on the path chosen for each (a delta
  // when the cache holds its base, else the blob); what DownloadConditions::max_update_bytes
  // is compared with. Also set when deferred.
  uint64_t bytes_needed = 0;
  uint64_t retries = 0;       // requests repeated within this update after a network failure
  // After a `network` failure: seconds the app should wait before checking again (grows
  // with failures in a row, jittered; the server's Retry-After when it sent one). 0 otherwise.
  double retry_after_s = 0;
  std::vector<FileTransfer> files;  // one per distinct file of the offered version, once downloading began
};

struct ModelFile {
  std::string path;       // relative, as in the manifest
  std::string full_path;  // absolute path inside the version folder
  std::string sha256;
  uint64_t size = 0;
};

struct OpenedModel {
  std::string model;
  uint64_t version = 0;
  // The version folder: exactly the manifest's files at their paths, nothing of the
  // fetcher's own (its manifest is kept beside the folder). Stable while kept.
  std::string path;
  // What an app loads: when every file lies in one top-level folder (a Core ML .mlpackage,
  // a TensorFlow SavedModel), that folder inside `path`; otherwise `path` itself. Pass it
  // to MLModel.compileModel(at:) or tf.saved_model.load.
  std::string root;
  std::vector<ModelFile> files;
  ModelConfig config;
  Json config_json;  // signed.config as published
  Manifest manifest;
};

struct OpenOptions {
  // Re-hash every file against the manifest (slow on big models); otherwise sizes only.
  bool verify_hashes = false;
};

// What state.json records for a model.
struct ModelState {
  uint64_t active_version = 0;  // from `current`; 0 when none
  uint64_t highest_seen = 0;    // highest authentic, unexpired version ever read (rollback floor)
  std::string etag;
  uint64_t etag_version = 0;
  int64_t last_check = 0;  // unix seconds of the last update attempt
  std::string last_status;
  std::string last_reason;
  std::string last_message;
  // SHA-256 of a manifest whose version failed the health check: not downloaded again.
  std::string bad_manifest_sha256;
  uint64_t network_failures = 0;  // updates in a row that ended with reason "network"
};

class Fetcher {
 public:
  // Checks the options (names, URL scheme, at least one key) and creates the cache folders.
  static Result<std::unique_ptr<Fetcher>> create(FetcherOptions options);
  ~Fetcher();
  Fetcher(const Fetcher&) = delete;
  Fetcher& operator=(const Fetcher&) = delete;

  // Never fails and never throws: every problem becomes kFallback/kNone with a reason
  // (an unexpected exception inside the library is reason "internal"). Text a server
  // supplied is stored and reported only as printable UTF-8 (other bytes as \xNN); an
  // ETag that is not printable ASCII of at most 256 bytes is not kept.
  UpdateResult update(const std::string& model);

  // Offline. kNotFound when no complete version is active. When `current` is damaged
  // (it never is after a crash, but a user may delete files) the newest complete kept
  // version is returned instead.
  Result<OpenedModel> open(const std::string& model, const OpenOptions& options = {}) const;

  // Stops every update() called before cancel() and not yet returned, the running one and
  // any still waiting for the lock (each returns kFallback/kNone with reason "cancelled").
  // An update() called after cancel() returns runs normally: a cancel never lingers.
  void cancel();

  // Thread-safe: whether the network is metered now (read by the next update()).
  void set_network_metered(bool metered);

  // Removes partial state left by a crash: tmp files that cannot be resumed, half-built
  // or never-activated version folders. update() does this itself under the lock.
  Status recover();

  const FetcherOptions& options() const { return options_; }

 private:
  explicit Fetcher(FetcherOptions options);
  static Result<std::unique_ptr<Fetcher>> create_unguarded(FetcherOptions options);
  Status recover_unguarded();
  struct Impl;
  FetcherOptions options_;
  std::unique_ptr<Impl> impl_;
};

// Offline helpers that need no keys (the CLI's `open` and `status`).
Result<OpenedModel> open_cached_model(const std::string& cache_dir, const std::string& model,
                                      const OpenOptions& options = {});
// kNotFound when the cache folder does not exist or holds no such model.
Result<ModelState> read_model_state(const std::string& cache_dir, const std::string& model);

// 32 random lowercase hex characters for FetcherOptions::install_token.
std::string new_install_token();
// The token stored in CACHE/install-token, created on first use: one per installation (a
// new cache is a new install).
Result<std::string> cached_install_token(const std::string& cache_dir);
// OK for "" (no token) or a well-formed token.
Status check_install_token(const std::string& token);

}  // namespace modelcast
