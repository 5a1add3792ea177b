#include "modelcast/file_system.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <random>

#include "modelcast/fs.h"

namespace modelcast {

Status errno_status(const std::string& what, int err) {
  StatusCode code = StatusCode::kIOError;
  if (err == ENOENT) code = StatusCode::kNotFound;
  if (err == EEXIST) code = StatusCode::kExists;
  return error(code, what + ": " + std::strerror(err));
}

namespace {
class SystemClock : public Clock {
 public:
  int64_t now_unix() const override { return static_cast<int64_t>(std::time(nullptr)); }
};
}  // namespace

std::shared_ptr<Clock> system_clock() {
  static std::shared_ptr<Clock> clock = std::make_shared<SystemClock>();
  return clock;
}

Result<FileLock> FileLock::acquire(const std::string& path, bool wait) { return posix_file_system()->lock(path, wait); }

bool FileSystem::exists(const std::string& path) { return lstat(path).ok(); }

Result<std::string> FileSystem::read_file(const std::string& path, size_t max_bytes) {
  MC_ASSIGN_OR_RETURN(std::unique_ptr<ReadableFile> file, open_readable(path));
  if (file->info().size > max_bytes)
    return error(StatusCode::kCorruption, path + ": larger than the limit of " + std::to_string(max_bytes) + " bytes");
  std::string out;
  char buf[65536];
  for (;;) {
    MC_ASSIGN_OR_RETURN(size_t n, file->read(buf, sizeof buf));
    if (n == 0) break;
    // The size may grow after open: the limit holds for what is read.
    if (out.size() + n > max_bytes)
      return error(StatusCode::kCorruption, path + ": larger than the limit of " + std::to_string(max_bytes) + " bytes");
    out.append(buf, n);
  }
  return out;
}

namespace {
// Writes all of `data` to a new file and syncs it; the caller makes it visible.
Status write_and_sync(FileSystem& fs, const std::string& path, WriteMode mode, std::string_view data, unsigned permissions) {
  MC_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> file, fs.open_writable(path, mode, permissions));
  Status s = file->append(data.data(), data.size());
  if (s.ok()) s = file->sync();
  Status closed = file->close();
  return s.ok() ? closed : s;
}
}  // namespace

Status FileSystem::write_file_atomic(const std::string& path, std::string_view data, unsigned permissions) {
  std::string tmp = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(std::random_device{}());
  Status s = write_and_sync(*this, tmp, WriteMode::kCreateNew, data, permissions);
  if (s.ok()) s = rename(tmp, path);
  if (!s.ok()) {
    (void)remove_all(tmp);
    return s;
  }
  return sync_dir(parent_dir(path));
}

Status FileSystem::write_new_file(const std::string& path, std::string_view data, unsigned permissions) {
  Status s = write_and_sync(*this, path, WriteMode::kCreateNew, data, permissions);
  if (s.code() == StatusCode::kExists) return s;
  if (!s.ok()) {
    (void)remove_all(path);
    return s;
  }
  return sync_dir(parent_dir(path));
}

}  // namespace modelcast
