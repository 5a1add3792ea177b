// Shorthands for the real disk, and the fd-level helpers the POSIX FileSystem is built on.
//
// Code that a test must be able to break or move into memory takes a FileSystem& instead
// (modelcast/file_system.h); these forward to posix_file_system(). Errors name the path
// and the errno text, so a full disk reads "…: No space left on device".
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "modelcast/file_system.h"
#include "modelcast/status.h"

namespace modelcast {

// Whole file, refusing one larger than max_bytes (untrusted input must be bounded) and
// anything but a regular file.
Result<std::string> read_file(const std::string& path, size_t max_bytes);
// tmp file + fsync + rename + fsync of the folder.
Status write_file_atomic(const std::string& path, std::string_view data, unsigned mode = 0644);
// Creates `path` (never replacing anything: kExists when it is there), fsyncs it and its
// folder. For immutable files: versioned manifests, keys.
Status write_new_file(const std::string& path, std::string_view data, unsigned mode = 0644);
// Reads exactly `size` bytes at `offset` with pread (retrying short reads and EINTR); a
// file that ends first is kIOError "... ends before byte N".
Status read_at(int fd, void* data, size_t size, uint64_t offset, const std::string& what);
Status make_dirs(const std::string& dir);
Status fsync_dir(const std::string& dir);
bool path_exists(const std::string& path);
std::string parent_dir(const std::string& path);

// fsync (F_FULLFSYNC on Apple), retrying EINTR; `what` names the file in errors.
Status fsync_fd(int fd, const std::string& what);
// Writes all of `data` to `fd`, retrying short writes and EINTR.
Status write_all(int fd, std::string_view data, const std::string& what);

}  // namespace modelcast
