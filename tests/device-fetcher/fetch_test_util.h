// Helpers for the fetcher tests: scratch folders, a tree writer built on the format library
// (for what the publisher CLI will not produce: expired, re-signed, tampered, rolled-back
// manifests), the publisher CLI when it is built, fault-injecting transport and file system
// wrappers, and running the modelcast-fetch CLI.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "temp_dir.h"
#include "modelcast/fetcher.h"
#include "modelcast/file_system.h"
#include "modelcast/manifest.h"
#include "modelcast/signing.h"

namespace modelcast::testing {


std::string read_all(const std::string& path);
void write_all(const std::string& path, const std::string& bytes);
// Random bytes that zstd cannot shrink much (like weights), deterministic per seed.
std::string random_bytes(size_t size, uint32_t seed);
std::string zstd_compress(const std::string& bytes, int level = 3);

struct FixtureFile {
  std::string path;
  std::string content;
  bool zstd = true;
};

struct PublishSpec {
  std::string model = "classifier";
  std::string channel = "stable";
  std::string platform = "android-arm64";
  uint64_t version = 1;
  std::vector<FixtureFile> files;
  ModelConfig config;
  Requirements requirements;
  std::optional<int> rollout_percent;
  int64_t published_at = 0;  // 0: now - 60 s
  int64_t expires_at = 0;    // 0: now + 30 days
};

// A published tree written with the format library, laid out like the publisher's.
class TreeFixture {
 public:
  explicit TreeFixture(std::string root);
  const std::string& root() const { return root_; }
  const PrivateKey& key() const { return key_; }
  // keys/<keyid>.pub of the fixture's key.
  const std::string& pubkey_path() const { return pubkey_path_; }

  // Writes the blobs, the versioned manifest and the current manifest. Returns the text.
  std::string publish(const PublishSpec& spec, const std::vector<const PrivateKey*>& keys = {});
  std::string manifest_path(const std::string& model = "classifier", const std::string& channel = "stable",
                            const std::string& platform = "android-arm64") const;
  std::string blob_path(const FileEntry& file) const { return root_ + "/" + file.url; }
  // Replaces the current manifest's bytes; bumps its mtime so nginx's ETag changes.
  void set_current_manifest(const std::string& text, const std::string& model = "classifier");
  static Manifest manifest_of(const std::string& text);

 private:
  std::string root_;
  PrivateKey key_;
  std::string pubkey_path_;
};

// A small valid config with no features.
ModelConfig simple_config();

// Sets a file's mtime a few seconds into the future so nginx computes a new ETag.
void touch_later(const std::string& path, int seconds_ahead);

// ---- Fault injection --------------------------------------------------------------------

// Wraps a transport: counts requests, statuses and body bytes, and can cut a body after
// N bytes (as a dropped connection would) for the next `cut_count` blob requests.
class CountingTransport : public HttpTransport {
 public:
  explicit CountingTransport(std::shared_ptr<HttpTransport> inner) : inner_(std::move(inner)) {}
  Status get(const HttpRequest& request, HttpSink& sink) override;
  void cancel() override { inner_->cancel(); }
  void reset_cancel() override { inner_->reset_cancel(); }

  struct Seen {
    std::string url;
    int status = 0;
    uint64_t range_start = 0;
    std::string if_none_match;
    std::string user_agent;
    uint64_t body_bytes = 0;
  };
  std::vector<Seen> seen();
  void clear();
  uint64_t blob_bytes();  // body bytes of content requests: /blobs/, /parts/, /deltas/
  // The next `count` blob requests deliver at most `after_bytes` bytes, then fail kNetwork.
  void cut_blob_bodies(uint64_t after_bytes, int count);
  // Calls `hook` after the body bytes of each blob request cross `after_bytes` (once).
  void on_blob_bytes(uint64_t after_bytes, std::function<void()> hook);

 private:
  std::shared_ptr<HttpTransport> inner_;
  std::mutex mu_;
  std::vector<Seen> seen_;
  uint64_t cut_after_ = 0;
  int cut_count_ = 0;
  uint64_t hook_after_ = 0;
  std::function<void()> hook_;
};

// Wraps the POSIX file system; after `budget` bytes of appends every append fails with
// ENOSPC, like a full disk. Other failures: fail the Nth rename/link/symlink/sync.
class FaultyFileSystem : public FileSystemWrapper {
 public:
  explicit FaultyFileSystem(std::shared_ptr<FileSystem> inner = posix_file_system()) : FileSystemWrapper(std::move(inner)) {}
  Result<std::unique_ptr<WritableFile>> open_writable(const std::string& path, WriteMode mode,
                                                      unsigned permissions = 0644) override;
  Status rename(const std::string& from, const std::string& to) override;
  Status link(const std::string& existing, const std::string& new_path) override;
  Status symlink(const std::string& target, const std::string& link_path) override;
  Status sync_dir(const std::string& dir) override;

  std::atomic<int64_t> space_left{INT64_MAX};  // bytes appends may still write
  std::atomic<int> fail_op_at{-1};             // fail the Nth (0-based) rename/link/symlink/fsync
  std::atomic<int> ops{0};

  // Counts one operation and fails it when it is number fail_op_at.
  Status maybe_fail(const std::string& what);
};

// A fixed clock.
class FixedClock : public Clock {
 public:
  explicit FixedClock(int64_t now) : now_(now) {}
  int64_t now_unix() const override { return now_; }
  std::atomic<int64_t> now_;
};

// ---- Processes ---------------------------------------------------------------------------

struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};
// Runs argv[0] with the arguments, capturing stdout and stderr.
CommandResult run_command(const std::vector<std::string>& argv);
// The same, calling `while_running` with the child's pid once it has started (to signal it).
CommandResult run_command_with(const std::vector<std::string>& argv, const std::function<void(pid_t)>& while_running);

// Verifies every file of the active version against its manifest (size and SHA-256).
bool active_version_is_complete(const std::string& cache, const std::string& model, uint64_t* version,
                                std::string* problem);

}  // namespace modelcast::testing
