#include "modelcast/fs.h"

#include <errno.h>
#include <unistd.h>

namespace modelcast {

Status read_at(int fd, void* data, size_t size, uint64_t offset, const std::string& what) {
  char* p = static_cast<char*>(data);
  size_t got = 0;
  while (got < size) {
    ssize_t n = ::pread(fd, p + got, size - got, static_cast<off_t>(offset + got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_status(what, errno);
    if (n == 0) return error(StatusCode::kIOError, what + ": ends before byte " + std::to_string(offset + size));
    got += static_cast<size_t>(n);
  }
  return OkStatus();
}

Result<std::string> read_file(const std::string& path, size_t max_bytes) {
  return posix_file_system()->read_file(path, max_bytes);
}

Status write_file_atomic(const std::string& path, std::string_view data, unsigned mode) {
  return posix_file_system()->write_file_atomic(path, data, mode);
}

Status write_new_file(const std::string& path, std::string_view data, unsigned mode) {
  return posix_file_system()->write_new_file(path, data, mode);
}

Status make_dirs(const std::string& dir) { return posix_file_system()->make_dirs(dir); }

Status fsync_dir(const std::string& dir) { return posix_file_system()->sync_dir(dir); }

bool path_exists(const std::string& path) { return posix_file_system()->exists(path); }

std::string parent_dir(const std::string& path) {
  auto pos = path.find_last_of('/');
  if (pos == std::string::npos) return ".";
  if (pos == 0) return "/";
  return path.substr(0, pos);
}

}  // namespace modelcast
