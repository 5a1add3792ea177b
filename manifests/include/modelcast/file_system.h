// FileSystem: the one seam between modelcast and the disk, for the publisher and the
// fetcher alike (after leveldb's Env). Reads, writes, listing, metadata, locks and the
// clock all go through it, so a test can swap the disk for memory, fail the Nth write,
// fsync or rename, or cut the power and drop everything not yet synced.
//
// Implementations: posix_file_system() (the real disk), MemFileSystem (memory, for fast
// tests), FileSystemWrapper (forwards everything; fault injectors override only what they
// break) and PowerLossFileSystem (a wrapper that can crash). Paths are '/'-separated.
// Errors name the path and the errno text ("...: No space left on device"). Every
// implementation here is thread-safe; the files they open are not.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "modelcast/status.h"

namespace modelcast {

// The Status for a failed system call on `what`: ENOENT is kNotFound, EEXIST kExists,
// anything else kIOError; the message is "what: <strerror>". The one place errno
// becomes a Status.
Status errno_status(const std::string& what, int err);

// Wall-clock seconds since the epoch; tests substitute a fixed clock to test expiry.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual int64_t now_unix() const = 0;
};
std::shared_ptr<Clock> system_clock();

enum class FileType { kRegular, kDirectory, kSymlink, kOther };

struct FileInfo {
  FileType type = FileType::kOther;
  uint64_t size = 0;
  uint64_t links = 1;    // hard links to the file
  uint64_t inode = 0;    // identifies the file across its links and renames
  unsigned mode = 0;     // permission bits
};

// A file open for reading, front to back. Not thread-safe.
class ReadableFile {
 public:
  virtual ~ReadableFile() = default;
  // Up to `size` bytes into `buf`; 0 at the end of the file.
  virtual Result<size_t> read(char* buf, size_t size) = 0;
  // Size and identity when opened.
  virtual const FileInfo& info() const = 0;
};

// A file open for writing. Not thread-safe. Destruction closes without syncing.
class WritableFile {
 public:
  virtual ~WritableFile() = default;
  virtual Status append(const char* data, size_t size) = 0;
  virtual Status sync() = 0;   // fsync (F_FULLFSYNC on Apple): the data survives power loss
  virtual Status close() = 0;  // idempotent
};

enum class WriteMode {
  kTruncate,   // create, or empty what is there
  kAppend,     // create, or append to what is there (resuming a download)
  kCreateNew,  // create; kExists when the path is taken (never replaces anything)
};

// A lock on a lock file (exclusive, or shared with other shared holders), held until
// destruction. Movable.
class FileLock {
 public:
  class Holder {
   public:
    virtual ~Holder() = default;
  };
  FileLock() = default;
  explicit FileLock(std::unique_ptr<Holder> holder) : holder_(std::move(holder)) {}
  bool held() const { return holder_ != nullptr; }
  // The lock of the real disk: wait=false fails at once with kBusy when another process
  // holds it.
  static Result<FileLock> acquire(const std::string& path, bool wait);

 private:
  std::unique_ptr<Holder> holder_;
};

class FileSystem : public Clock {
 public:
  ~FileSystem() override = default;

  // ---- Reads. Only regular files open: a FIFO, device or folder is refused with
  // kInvalidArgument (never blocks), and so is a symlink when follow_links is false.
  virtual Result<std::unique_ptr<ReadableFile>> open_readable(const std::string& path, bool follow_links = true) = 0;
  // Names in `dir` (no "." or ".."), sorted; kNotFound when it does not exist.
  virtual Result<std::vector<std::string>> list_dir(const std::string& dir) = 0;
  virtual Result<FileInfo> stat(const std::string& path) = 0;   // follows symlinks
  virtual Result<FileInfo> lstat(const std::string& path) = 0;  // describes a symlink itself
  virtual Result<std::string> read_link(const std::string& path) = 0;

  // ---- Writes. Files are created without following a symlink at the last component.
  virtual Result<std::unique_ptr<WritableFile>> open_writable(const std::string& path, WriteMode mode,
                                                              unsigned permissions = 0644) = 0;
  virtual Status rename(const std::string& from, const std::string& to) = 0;
  // kExists when new_path is taken.
  virtual Status link(const std::string& existing, const std::string& new_path) = 0;
  virtual Status symlink(const std::string& target, const std::string& link_path) = 0;
  // Creates `dir` and missing parents; each new folder's entry is synced into its parent,
  // so a folder that a later sync_dir made durable does not vanish with its parent's
  // unsynced entry.
  virtual Status make_dirs(const std::string& dir) = 0;
  virtual Status sync_dir(const std::string& dir) = 0;
  virtual Status chmod(const std::string& path, unsigned mode) = 0;
  // Removes a file, a symlink, or a folder with everything in it; OK when absent.
  virtual Status remove_all(const std::string& path) = 0;
  virtual Status truncate(const std::string& path, uint64_t size) = 0;

  // ---- Locks: advisory, between processes (the real disk) or users of one FileSystem
  // object (memory). The lock file is created if missing, never through a symlink.
  // wait=false fails at once with kBusy when the lock is taken the other way (or, for
  // lock(), taken at all). A shared lock is not raised to exclusive in place: release it
  // first.
  virtual Result<FileLock> lock(const std::string& path, bool wait) = 0;
  virtual Result<FileLock> lock_shared(const std::string& path, bool wait) = 0;

  // ---- Time: Clock::now_unix().

  // ---- Built on the above.
  bool exists(const std::string& path);  // lstat succeeds
  // Whole file, refusing one larger than max_bytes (untrusted input must be bounded).
  Result<std::string> read_file(const std::string& path, size_t max_bytes);
  // tmp file in the same folder, sync, rename over `path`, sync of the folder.
  Status write_file_atomic(const std::string& path, std::string_view data, unsigned permissions = 0644);
  // Creates `path` (kExists when it is there), syncs it and its folder. For immutable
  // files: versioned manifests, keys.
  Status write_new_file(const std::string& path, std::string_view data, unsigned permissions = 0644);
};

// The real disk; one shared instance. Retries EINTR; sync is F_FULLFSYNC on Apple.
std::shared_ptr<FileSystem> posix_file_system();

// Forwards every call to `target`; subclasses override what they change.
class FileSystemWrapper : public FileSystem {
 public:
  explicit FileSystemWrapper(std::shared_ptr<FileSystem> target) : target_(std::move(target)) {}
  FileSystem& target() const { return *target_; }

  Result<std::unique_ptr<ReadableFile>> open_readable(const std::string& path, bool follow_links = true) override {
    return target_->open_readable(path, follow_links);
  }
  Result<std::vector<std::string>> list_dir(const std::string& dir) override { return target_->list_dir(dir); }
  Result<FileInfo> stat(const std::string& path) override { return target_->stat(path); }
  Result<FileInfo> lstat(const std::string& path) override { return target_->lstat(path); }
  Result<std::string> read_link(const std::string& path) override { return target_->read_link(path); }
  Result<std::unique_ptr<WritableFile>> open_writable(const std::string& path, WriteMode mode,
                                                      unsigned permissions = 0644) override {
    return target_->open_writable(path, mode, permissions);
  }
  Status rename(const std::string& from, const std::string& to) override { return target_->rename(from, to); }
  Status link(const std::string& existing, const std::string& new_path) override { return target_->link(existing, new_path); }
  Status symlink(const std::string& target, const std::string& link_path) override {
    return target_->symlink(target, link_path);
  }
  Status make_dirs(const std::string& dir) override { return target_->make_dirs(dir); }
  Status sync_dir(const std::string& dir) override { return target_->sync_dir(dir); }
  Status chmod(const std::string& path, unsigned mode) override { return target_->chmod(path, mode); }
  Status remove_all(const std::string& path) override { return target_->remove_all(path); }
  Status truncate(const std::string& path, uint64_t size) override { return target_->truncate(path, size); }
  Result<FileLock> lock(const std::string& path, bool wait) override { return target_->lock(path, wait); }
  Result<FileLock> lock_shared(const std::string& path, bool wait) override { return target_->lock_shared(path, wait); }
  int64_t now_unix() const override { return target_->now_unix(); }

 private:
  std::shared_ptr<FileSystem> target_;
};

}  // namespace modelcast
