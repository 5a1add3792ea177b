// A file opened read-only with its size, closed on destruction: what the xform encoder,
// planner and decoder read with pread. Private to manifests/src.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "modelcast/status.h"

namespace modelcast {

class InputFile {
 public:
  InputFile() = default;
  InputFile(InputFile&& other) noexcept : fd_(other.fd_), size_(other.size_) { other.fd_ = -1; }
  InputFile& operator=(InputFile&& other) noexcept {
    std::swap(fd_, other.fd_);
    std::swap(size_, other.size_);
    return *this;
  }
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;
  ~InputFile() {
    if (fd_ >= 0) ::close(fd_);
  }

  static Result<InputFile> open(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      int e = errno;
      return error(e == ENOENT ? StatusCode::kNotFound : StatusCode::kIOError, path + ": " + std::strerror(e));
    }
    InputFile f = adopt(fd, 0);
    struct stat st;
    if (::fstat(fd, &st) != 0) return error(StatusCode::kIOError, path + ": " + std::strerror(errno));
    if (!S_ISREG(st.st_mode)) return error(StatusCode::kInvalidArgument, path + ": not a regular file");
    f.size_ = static_cast<uint64_t>(st.st_size);
    return f;
  }
  // Takes ownership of an open descriptor.
  static InputFile adopt(int fd, uint64_t size) {
    InputFile f;
    f.fd_ = fd;
    f.size_ = size;
    return f;
  }

  int fd() const { return fd_; }
  uint64_t size() const { return size_; }

 private:
  int fd_ = -1;
  uint64_t size_ = 0;
};

}  // namespace modelcast
