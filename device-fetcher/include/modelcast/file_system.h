// FileSystem: every write the fetcher makes to its cache goes through this seam, so a
// test can fail the Nth write, fsync, link or rename (a full disk, a yanked SD card) and
// prove the active model survives. Reads go straight to POSIX: they cannot break a cache.
//
// Errors name the path and the errno text ("...: No space left on device"). The POSIX
// implementation is thread-safe; wrappers should be too when several fetchers share one.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "modelcast/status.h"

namespace modelcast {

// A file open for writing. Not thread-safe. Destruction closes without syncing.
class WritableFile {
 public:
  virtual ~WritableFile() = default;
  virtual Status append(const char* data, size_t size) = 0;
  virtual Status sync() = 0;   // fsync (F_FULLFSYNC on Apple)
  virtual Status close() = 0;  // idempotent
};

class FileSystem {
 public:
  virtual ~FileSystem() = default;
  // truncate=false opens for appending to what is there (resuming a download).
  virtual Result<std::unique_ptr<WritableFile>> open_writable(const std::string& path, bool truncate) = 0;
  virtual Status rename(const std::string& from, const std::string& to) = 0;
  virtual Status link(const std::string& existing, const std::string& new_path) = 0;
  virtual Status symlink(const std::string& target, const std::string& link_path) = 0;
  virtual Status make_dirs(const std::string& dir) = 0;
  virtual Status sync_dir(const std::string& dir) = 0;
  virtual Status chmod(const std::string& path, unsigned mode) = 0;
  // Removes a file, a symlink, or a folder with everything in it; OK when absent.
  virtual Status remove_all(const std::string& path) = 0;
  virtual Status truncate(const std::string& path, uint64_t size) = 0;

  // tmp file + sync + rename + sync of the folder, through the methods above.
  Status write_file_atomic(const std::string& path, std::string_view data);
};

// The real thing; one shared instance.
std::shared_ptr<FileSystem> posix_file_system();

}  // namespace modelcast
