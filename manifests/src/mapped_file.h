// A file memory-mapped whole, unmapped on destruction: the base and output of a zstd-patch
// delta (zstd needs them as plain memory), and the protobuf model files of manifests/models.
// Mapped pages are page cache, not heap; release() drops a range from the process's
// resident set (the data stays in the file). Private to modelcast_format.
#pragma once

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>

#include "modelcast/file_system.h"
#include "modelcast/status.h"

namespace modelcast {

class MappedFile {
 public:
  MappedFile() = default;
  MappedFile(MappedFile&& o) noexcept { *this = std::move(o); }
  MappedFile& operator=(MappedFile&& o) noexcept {
    std::swap(data_, o.data_);
    std::swap(size_, o.size_);
    std::swap(fd_, o.fd_);
    return *this;
  }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile() {
    if (data_ != nullptr) ::munmap(data_, size_);
    if (fd_ >= 0) ::close(fd_);
  }

  // A regular file, read-only. An empty file maps to no memory (data() is nullptr).
  static Result<MappedFile> open_read(const std::string& path) {
    MappedFile f;
    f.fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (f.fd_ < 0) return errno_status(path, errno);
    struct stat st;
    if (::fstat(f.fd_, &st) != 0) return errno_status(path, errno);
    if (!S_ISREG(st.st_mode)) return error(StatusCode::kInvalidArgument, path + ": not a regular file");
    MC_RETURN_IF_ERROR(f.map(path, static_cast<uint64_t>(st.st_size), PROT_READ, MAP_PRIVATE));
    ::posix_madvise(f.data_, f.size_, POSIX_MADV_SEQUENTIAL);
    return f;
  }

  // Creates or truncates `path` to `size` bytes and maps it for writing (shared: stores
  // reach the file).
  static Result<MappedFile> create_write(const std::string& path, uint64_t size) {
    MappedFile f;
    f.fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (f.fd_ < 0) return errno_status(path, errno);
    if (::ftruncate(f.fd_, static_cast<off_t>(size)) != 0) return errno_status(path, errno);
    MC_RETURN_IF_ERROR(f.map(path, size, PROT_READ | PROT_WRITE, MAP_SHARED));
    return f;
  }

  uint8_t* data() const { return static_cast<uint8_t*>(data_); }
  uint64_t size() const { return size_; }
  int fd() const { return fd_; }

  // Drops [0, end) from the resident set; the pages come back from the file if touched.
  void release(uint64_t end) {
    const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
    end -= end % page;
    if (data_ != nullptr && end > 0) ::madvise(data_, static_cast<size_t>(end), MADV_DONTNEED);
  }

 private:
  Status map(const std::string& path, uint64_t size, int prot, int flags) {
    if (size == 0) return OkStatus();
    if (size > static_cast<uint64_t>(SIZE_MAX))
      return error(StatusCode::kIOError, path + ": too large to map on this device");
    void* p = ::mmap(nullptr, static_cast<size_t>(size), prot, flags, fd_, 0);
    if (p == MAP_FAILED) return error(StatusCode::kIOError, path + ": mmap: " + std::strerror(errno));
    data_ = p;
    size_ = size;
    return OkStatus();
  }

  void* data_ = nullptr;
  uint64_t size_ = 0;
  int fd_ = -1;
};

}  // namespace modelcast
