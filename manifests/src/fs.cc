#include "modelcast/fs.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>

namespace modelcast {

namespace {
Status errno_status(const std::string& what, int err) {
  return error(StatusCode::kIOError, what + ": " + std::strerror(err));
}
}  // namespace

Status write_all(int fd, std::string_view data, const std::string& what) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_status(what, errno);
    done += static_cast<size_t>(n);
  }
  return OkStatus();
}

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
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    return error(e == ENOENT ? StatusCode::kNotFound : StatusCode::kIOError, path + ": " + std::strerror(e));
  }
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      ::close(fd);
      return errno_status(path, e);
    }
    if (n == 0) break;
    if (out.size() + static_cast<size_t>(n) > max_bytes) {
      ::close(fd);
      return error(StatusCode::kCorruption, path + ": larger than the limit of " + std::to_string(max_bytes) + " bytes");
    }
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

Status fsync_fd(int fd, const std::string& what) {
#ifdef __APPLE__
  if (::fcntl(fd, F_FULLFSYNC) == 0) return OkStatus();
#endif
  while (::fsync(fd) != 0) {
    if (errno != EINTR) return errno_status(what + ": fsync", errno);
  }
  return OkStatus();
}

Status fsync_dir(const std::string& dir) {
  int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errno_status(dir, errno);
  Status s = fsync_fd(fd, dir);
  ::close(fd);
  return s;
}

std::string parent_dir(const std::string& path) {
  auto pos = path.find_last_of('/');
  if (pos == std::string::npos) return ".";
  if (pos == 0) return "/";
  return path.substr(0, pos);
}

bool path_exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

Status make_dirs(const std::string& dir) {
  if (dir.empty() || dir == "." || dir == "/") return OkStatus();
  struct stat st;
  if (::stat(dir.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return OkStatus();
    return error(StatusCode::kIOError, dir + ": exists and is not a folder");
  }
  MC_RETURN_IF_ERROR(make_dirs(parent_dir(dir)));
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) return errno_status(dir, errno);
  return OkStatus();
}

Status write_file_atomic(const std::string& path, std::string_view data, unsigned mode) {
  std::string dir = parent_dir(path);
  std::string tmp = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(std::random_device{}());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) return errno_status(tmp, errno);
  Status s = write_all(fd, data, path);
  if (s.ok()) s = fsync_fd(fd, path);
  if (::close(fd) != 0 && s.ok()) s = errno_status(path + ": close", errno);
  if (s.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) s = errno_status(path + ": rename", errno);
  if (!s.ok()) {
    ::unlink(tmp.c_str());
    return s;
  }
  return fsync_dir(dir);
}

Status write_new_file(const std::string& path, std::string_view data, unsigned mode) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) {
    if (errno == EEXIST) return error(StatusCode::kExists, path + ": already exists; refusing to overwrite");
    return errno_status(path, errno);
  }
  Status s = write_all(fd, data, path);
  if (s.ok()) s = fsync_fd(fd, path);
  if (::close(fd) != 0 && s.ok()) s = errno_status(path + ": close", errno);
  if (!s.ok()) {
    ::unlink(path.c_str());
    return s;
  }
  return fsync_dir(parent_dir(path));
}

Result<FileLock> FileLock::acquire(const std::string& path, bool wait) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return errno_status(path, errno);
  int rc;
  do {
    rc = ::flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB));
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    int e = errno;
    ::close(fd);
    if (e == EWOULDBLOCK) return error(StatusCode::kBusy, path + ": locked by another process");
    return errno_status(path + ": flock", e);
  }
  return FileLock(fd);
}

FileLock& FileLock::operator=(FileLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.fd_;
    other.fd_ = -1;
  }
  return *this;
}

FileLock::~FileLock() {
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace modelcast
