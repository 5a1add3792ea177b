#include "modelcast/file_system.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>

#include "modelcast/fs.h"

namespace modelcast {

namespace {

Status errno_status(const std::string& what, int err) {
  return error(StatusCode::kIOError, what + ": " + std::strerror(err));
}

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
    if (rc != 0 && errno != EINTR) return errno_status(path_ + ": close", errno);
    return OkStatus();
  }

 private:
  int fd_;
  std::string path_;
};

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
  Result<std::unique_ptr<WritableFile>> open_writable(const std::string& path, bool truncate) override {
    int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (truncate ? O_TRUNC : O_APPEND);
    int fd = ::open(path.c_str(), flags, 0644);
    if (fd < 0) return errno_status(path, errno);
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
  Status make_dirs(const std::string& dir) override { return modelcast::make_dirs(dir); }
  Status sync_dir(const std::string& dir) override { return fsync_dir(dir); }
  Status chmod(const std::string& path, unsigned mode) override {
    if (::chmod(path.c_str(), mode) != 0) return errno_status(path + ": chmod", errno);
    return OkStatus();
  }
  Status remove_all(const std::string& path) override { return remove_tree(path); }
  Status truncate(const std::string& path, uint64_t size) override {
    if (::truncate(path.c_str(), static_cast<off_t>(size)) != 0) return errno_status(path + ": truncate", errno);
    return OkStatus();
  }
};

}  // namespace

Status FileSystem::write_file_atomic(const std::string& path, std::string_view data) {
  std::string tmp = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(std::random_device{}());
  auto file = open_writable(tmp, true);
  if (!file.ok()) return file.status();
  Status s = (*file)->append(data.data(), data.size());
  if (s.ok()) s = (*file)->sync();
  Status c = (*file)->close();
  if (s.ok()) s = c;
  if (s.ok()) s = rename(tmp, path);
  if (!s.ok()) {
    ::unlink(tmp.c_str());
    return s;
  }
  return sync_dir(parent_dir(path));
}

std::shared_ptr<FileSystem> posix_file_system() {
  static std::shared_ptr<FileSystem> fs = std::make_shared<PosixFileSystem>();
  return fs;
}

}  // namespace modelcast
