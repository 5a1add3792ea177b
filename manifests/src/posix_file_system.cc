// The FileSystem of the real disk: POSIX calls, EINTR retried, F_FULLFSYNC on Apple
// (plain fsync there does not reach the platter), O_NOFOLLOW on every file we create,
// O_NONBLOCK on every open for reading so a FIFO cannot hang a caller holding a lock.
#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <ctime>

#include "modelcast/file_system.h"
#include "modelcast/fs.h"

namespace modelcast {

namespace {

// open() that retries EINTR; -1 with errno set on failure.
int open_retrying(const std::string& path, int flags, unsigned mode = 0) {
  for (;;) {
    int fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
    if (fd >= 0 || errno != EINTR) return fd;
  }
}

FileInfo info_from_stat(const struct stat& st) {
  FileInfo info;
  if (S_ISREG(st.st_mode)) info.type = FileType::kRegular;
  else if (S_ISDIR(st.st_mode)) info.type = FileType::kDirectory;
  else if (S_ISLNK(st.st_mode)) info.type = FileType::kSymlink;
  else info.type = FileType::kOther;
  info.size = static_cast<uint64_t>(st.st_size);
  info.links = static_cast<uint64_t>(st.st_nlink);
  info.inode = static_cast<uint64_t>(st.st_ino);
  info.mode = static_cast<unsigned>(st.st_mode & 07777);
  return info;
}

class PosixReadableFile : public ReadableFile {
 public:
  PosixReadableFile(int fd, std::string path, FileInfo info) : fd_(fd), path_(std::move(path)), info_(info) {}
  ~PosixReadableFile() override { ::close(fd_); }
  Result<size_t> read(char* buf, size_t size) override {
    for (;;) {
      ssize_t n = ::read(fd_, buf, size);
      if (n >= 0) return static_cast<size_t>(n);
      if (errno != EINTR) return errno_status(path_ + ": read", errno);
    }
  }
  const FileInfo& info() const override { return info_; }

 private:
  int fd_;
  std::string path_;
  FileInfo info_;
};

class PosixWritableFile : public WritableFile {
 public:
  PosixWritableFile(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  ~PosixWritableFile() override {
    if (fd_ >= 0) ::close(fd_);
  }
  Status append(const char* data, size_t size) override { return write_all(fd_, std::string_view(data, size), path_); }
  Status sync() override { return fsync_fd(fd_, path_); }
  Status close() override {
    if (fd_ < 0) return OkStatus();
    int rc = ::close(fd_);
    fd_ = -1;
    // After EINTR the descriptor is gone on Linux; retrying could close another one.
    if (rc != 0 && errno != EINTR) return errno_status(path_ + ": close", errno);
    return OkStatus();
  }

 private:
  int fd_;
  std::string path_;
};

class PosixLock : public FileLock::Holder {
 public:
  explicit PosixLock(int fd) : fd_(fd) {}
  ~PosixLock() override { ::close(fd_); }

 private:
  int fd_;
};

// flock() locks belong to the open file, so two opens conflict even within one process.
Result<FileLock> flock_file(const std::string& path, int operation, bool wait) {
  int fd = open_retrying(path, O_RDWR | O_CREAT | O_NOFOLLOW, 0644);
  if (fd < 0) return errno_status(path, errno);
  int rc;
  do {
    rc = ::flock(fd, operation | (wait ? 0 : LOCK_NB));
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    int e = errno;
    ::close(fd);
    if (e == EWOULDBLOCK) return error(StatusCode::kBusy, path + ": locked by another process");
    return errno_status(path + ": flock", e);
  }
  return FileLock(std::make_unique<PosixLock>(fd));
}

Status remove_tree(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return OkStatus();
    return errno_status(path, errno);
  }
  if (!S_ISDIR(st.st_mode)) {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) return errno_status(path, errno);
    return OkStatus();
  }
  DIR* dir = ::opendir(path.c_str());
  if (!dir) return errno_status(path, errno);
  Status result;
  while (struct dirent* e = ::readdir(dir)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    Status s = remove_tree(path + "/" + name);
    if (!s.ok() && result.ok()) result = s;
  }
  ::closedir(dir);
  MC_RETURN_IF_ERROR(result);
  if (::rmdir(path.c_str()) != 0 && errno != ENOENT) return errno_status(path, errno);
  return OkStatus();
}

class PosixFileSystem : public FileSystem {
 public:
  Result<std::unique_ptr<ReadableFile>> open_readable(const std::string& path, bool follow_links) override {
    // O_NONBLOCK: opening a FIFO would otherwise wait for a writer. Cleared once fstat
    // shows a regular file (where it changes nothing anyway).
    int fd = open_retrying(path, O_RDONLY | O_NONBLOCK | (follow_links ? 0 : O_NOFOLLOW));
    if (fd < 0) {
      if (errno == ELOOP && !follow_links) return error(StatusCode::kInvalidArgument, path + ": a symlink, not a regular file");
      return errno_status(path, errno);
    }
    struct stat st;
    if (::fstat(fd, &st) != 0) {
      int e = errno;
      ::close(fd);
      return errno_status(path, e);
    }
    if (!S_ISREG(st.st_mode)) {
      ::close(fd);
      return error(StatusCode::kInvalidArgument, path + ": not a regular file");
    }
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    // The kernel reads ahead further for a file read front to back once.
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    return std::unique_ptr<ReadableFile>(new PosixReadableFile(fd, path, info_from_stat(st)));
  }

  Result<std::vector<std::string>> list_dir(const std::string& dir) override {
    DIR* d = ::opendir(dir.c_str());
    if (!d) return errno_status(dir, errno);
    std::vector<std::string> out;
    while (struct dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name != "." && name != "..") out.push_back(name);
    }
    ::closedir(d);
    std::sort(out.begin(), out.end());
    return out;
  }

  Result<FileInfo> stat(const std::string& path) override {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return errno_status(path, errno);
    return info_from_stat(st);
  }

  Result<FileInfo> lstat(const std::string& path) override {
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0) return errno_status(path, errno);
    return info_from_stat(st);
  }

  Result<std::string> read_link(const std::string& path) override {
    char buf[PATH_MAX];
    ssize_t n = ::readlink(path.c_str(), buf, sizeof buf - 1);
    if (n < 0) return errno_status(path, errno);
    return std::string(buf, static_cast<size_t>(n));
  }

  Result<std::unique_ptr<WritableFile>> open_writable(const std::string& path, WriteMode mode, unsigned permissions) override {
    int flags = O_WRONLY | O_CREAT | O_NOFOLLOW;
    if (mode == WriteMode::kTruncate) flags |= O_TRUNC;
    if (mode == WriteMode::kAppend) flags |= O_APPEND;
    if (mode == WriteMode::kCreateNew) flags |= O_EXCL;
    int fd = open_retrying(path, flags, permissions);
    if (fd < 0) {
      if (errno == EEXIST) return error(StatusCode::kExists, path + ": already exists; refusing to overwrite");
      return errno_status(path, errno);
    }
    return std::unique_ptr<WritableFile>(new PosixWritableFile(fd, path));
  }

  Status rename(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) return errno_status("rename " + from + " -> " + to, errno);
    return OkStatus();
  }
  Status link(const std::string& existing, const std::string& new_path) override {
    if (::link(existing.c_str(), new_path.c_str()) != 0) return errno_status("link " + existing + " -> " + new_path, errno);
    return OkStatus();
  }
  Status symlink(const std::string& target, const std::string& link_path) override {
    if (::symlink(target.c_str(), link_path.c_str()) != 0) return errno_status("symlink " + link_path, errno);
    return OkStatus();
  }

  Status make_dirs(const std::string& dir) override {
    if (dir.empty() || dir == "." || dir == "/") return OkStatus();
    struct stat st;
    if (::stat(dir.c_str(), &st) == 0) {
      if (S_ISDIR(st.st_mode)) return OkStatus();
      return error(StatusCode::kIOError, dir + ": exists and is not a folder");
    }
    const std::string parent = parent_dir(dir);
    MC_RETURN_IF_ERROR(make_dirs(parent));
    if (::mkdir(dir.c_str(), 0755) != 0) {
      if (errno == EEXIST) return OkStatus();  // made by a concurrent caller
      return errno_status(dir, errno);
    }
    return sync_dir(parent);
  }

  Status sync_dir(const std::string& dir) override {
    int fd = open_retrying(dir.empty() ? "." : dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0) return errno_status(dir, errno);
    Status s = fsync_fd(fd, dir);
    ::close(fd);
    return s;
  }

  Status chmod(const std::string& path, unsigned mode) override {
    if (::chmod(path.c_str(), mode) != 0) return errno_status(path + ": chmod", errno);
    return OkStatus();
  }
  Status remove_all(const std::string& path) override { return remove_tree(path); }
  Status truncate(const std::string& path, uint64_t size) override {
    if (::truncate(path.c_str(), static_cast<off_t>(size)) != 0) return errno_status(path + ": truncate", errno);
    return OkStatus();
  }

  Result<FileLock> lock(const std::string& path, bool wait) override { return flock_file(path, LOCK_EX, wait); }
  Result<FileLock> lock_shared(const std::string& path, bool wait) override { return flock_file(path, LOCK_SH, wait); }

  int64_t now_unix() const override { return static_cast<int64_t>(std::time(nullptr)); }
};

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

Status fsync_fd(int fd, const std::string& what) {
#ifdef __APPLE__
  if (::fcntl(fd, F_FULLFSYNC) == 0) return OkStatus();
#endif
  while (::fsync(fd) != 0) {
    if (errno != EINTR) return errno_status(what + ": fsync", errno);
  }
  return OkStatus();
}

std::shared_ptr<FileSystem> posix_file_system() {
  static std::shared_ptr<FileSystem> fs = std::make_shared<PosixFileSystem>();
  return fs;
}

}  // namespace modelcast
