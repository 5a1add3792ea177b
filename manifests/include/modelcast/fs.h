// Durable file operations shared by the publisher and the fetcher.
//
// Every write that must survive a crash goes through write_file_atomic: a temporary file
// in the same folder, fsync, rename over the target, fsync of the folder (F_FULLFSYNC on
// Apple, where plain fsync is not durable). Errors name the path and the errno text, so a
// full disk reads "…: No space left on device". Functions are thread-compatible.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "modelcast/status.h"

namespace modelcast {

// Whole file, refusing one larger than max_bytes (untrusted input must be bounded).
Result<std::string> read_file(const std::string& path, size_t max_bytes);

Status write_file_atomic(const std::string& path, std::string_view data, unsigned mode = 0644);
// Creates `path` (never replacing anything: kExists when it is there), fsyncs it and its
// folder. For immutable files: versioned manifests, keys.
Status write_new_file(const std::string& path, std::string_view data, unsigned mode = 0644);
Status fsync_fd(int fd, const std::string& what);
// Writes all of `data` to `fd`, retrying short writes and EINTR; `what` names it in errors.
Status write_all(int fd, std::string_view data, const std::string& what);
// Reads exactly `size` bytes at `offset` with pread (retrying short reads and EINTR); a
// file that ends first is kIOError "... ends before byte N".
Status read_at(int fd, void* data, size_t size, uint64_t offset, const std::string& what);
Status fsync_dir(const std::string& dir);
Status make_dirs(const std::string& dir);
bool path_exists(const std::string& path);
std::string parent_dir(const std::string& path);

// An exclusive advisory lock (flock) on a lock file, released on destruction.
class FileLock {
 public:
  // wait=false fails at once with kBusy when another process holds the lock.
  static Result<FileLock> acquire(const std::string& path, bool wait);
  FileLock(FileLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  FileLock& operator=(FileLock&& other) noexcept;
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  ~FileLock();

 private:
  explicit FileLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace modelcast
