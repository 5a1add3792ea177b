#include "blob_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "modelcast/fs.h"
#include "modelcast/names.h"
#include "modelcast/sha256.h"
#include "progress.h"

namespace modelcast {

namespace {

constexpr size_t kReadBlock = 1 << 20;

Status io_error(const std::string& what, int err) { return error(StatusCode::kIOError, what + ": " + std::strerror(err)); }

// Closes the descriptor and removes a temporary file unless released.
class TempFile {
 public:
  TempFile() = default;
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  ~TempFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!path_.empty()) ::unlink(path_.c_str());
  }
  Status create(const std::string& dir) {
    MC_RETURN_IF_ERROR(make_dirs(dir));
    std::random_device rd;
    path_ = dir + "/blob." + std::to_string(::getpid()) + "." + std::to_string(rd()) + ".tmp";
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd_ < 0) {
      int e = errno;
      path_.clear();
      return io_error(dir + "/blob.*.tmp", e);
    }
    return OkStatus();
  }
  Status write(const void* data, size_t size) {
    return write_all(fd_, std::string_view(static_cast<const char*>(data), size), path_);
  }
  Status sync_and_close() {
    Status s = fsync_fd(fd_, path_);
    if (::close(fd_) != 0 && s.ok()) s = io_error(path_ + ": close", errno);
    fd_ = -1;
    return s;
  }
  const std::string& path() const { return path_; }

 private:
  int fd_ = -1;
  std::string path_;
};

struct FdCloser {
  int fd;
  ~FdCloser() {
    if (fd >= 0) ::close(fd);
  }
};

// read() that retries EINTR; returns bytes read, 0 at end, or -1 with errno set.
ssize_t read_some(int fd, void* buf, size_t size) {
  for (;;) {
    ssize_t n = ::read(fd, buf, size);
    if (n < 0 && errno == EINTR) continue;
    return n;
  }
}

struct CCtxFree {
  void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
};
struct DCtxFree {
  void operator()(ZSTD_DCtx* d) const { ZSTD_freeDCtx(d); }
};

// SHA-256 of a stream on a second core while the caller compresses the same chunks:
// hashing is about a seventh of a publish and zstd cannot start any sooner. One chunk in
// flight; submit() waits for the previous one, so the caller may reuse that buffer.
class HashWorker {
 public:
  HashWorker() : thread_([this] { run(); }) {}
  ~HashWorker() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  HashWorker(const HashWorker&) = delete;
  HashWorker& operator=(const HashWorker&) = delete;

  void submit(const char* data, size_t size) {
    std::unique_lock<std::mutex> lock(mutex_);
    cv_.wait(lock, [&] { return !busy_; });
    data_ = data;
    size_ = size;
    busy_ = true;
    cv_.notify_all();
  }
  std::string finish_hex() {
    std::unique_lock<std::mutex> lock(mutex_);
    cv_.wait(lock, [&] { return !busy_; });
    return hash_.finish_hex();
  }

 private:
  void run() {
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      cv_.wait(lock, [&] { return busy_ || stop_; });
      if (!busy_) return;
      lock.unlock();
      hash_.update(data_, size_);
      lock.lock();
      busy_ = false;
      cv_.notify_all();
    }
  }

  Sha256 hash_;
  std::mutex mutex_;
  std::condition_variable cv_;
  const char* data_ = nullptr;
  size_t size_ = 0;
  bool busy_ = false;
  bool stop_ = false;
  std::thread thread_;  // last: starts after the members it uses exist
};

Status zstd_error(const std::string& what, size_t code) {
  return error(StatusCode::kIOError, what + ": zstd: " + ZSTD_getErrorName(code));
}

}  // namespace

Result<StoredBlob> BlobStore::existing(const std::string& sha256, uint64_t size) const {
  for (bool zstd : {true, false}) {
    std::string url = blob_url(sha256, zstd);
    struct stat st;
    if (::stat((root_ + "/" + url).c_str(), &st) == 0) {
      StoredBlob b;
      b.sha256 = sha256;
      b.size = size;
      b.encoding = zstd ? "zstd" : "identity";
      b.stored_size = static_cast<uint64_t>(st.st_size);
      b.url = url;
      return b;
    }
  }
  return error(StatusCode::kNotFound, "blob " + sha256 + " is not in the tree");
}

Status BlobStore::link_into_place(const std::string& tmp_path, const std::string& final_path) {
  std::string dir = parent_dir(final_path);
  MC_RETURN_IF_ERROR(make_dirs(dir));
  // link() never replaces an existing path, which is the write-if-absent rule itself.
  if (::link(tmp_path.c_str(), final_path.c_str()) != 0) {
    int e = errno;
    if (e == EEXIST) return OkStatus();
    if (e != EPERM && e != ENOTSUP && e != EXDEV) return io_error(final_path, e);
    // File systems without hard links: we hold the tree lock and checked absence.
    if (::rename(tmp_path.c_str(), final_path.c_str()) != 0) return io_error(final_path, errno);
  }
  MC_RETURN_IF_ERROR(fsync_dir(dir));
  return OkStatus();
}

Status BlobStore::copy_identity(const std::string& source, const std::string& expected_sha256, const std::string& tmp_path,
                                const std::string& label, bool show_progress) {
  int in = ::open(source.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) return io_error(source, errno);
  FdCloser in_closer{in};
  int out = ::open(tmp_path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
  if (out < 0) return io_error(tmp_path, errno);
  FdCloser out_closer{out};
  struct stat st;
  if (::fstat(in, &st) != 0) return io_error(source, errno);
  Progress progress(label + " (copying)", static_cast<uint64_t>(st.st_size), show_progress);
  std::vector<char> buf(kReadBlock);
  Sha256 hash;
  uint64_t done = 0;
  for (;;) {
    ssize_t n = read_some(in, buf.data(), buf.size());
    if (n < 0) return io_error(source, errno);
    if (n == 0) break;
    hash.update(buf.data(), static_cast<size_t>(n));
    for (ssize_t off = 0; off < n;) {
      ssize_t w = ::write(out, buf.data() + off, static_cast<size_t>(n - off));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) return io_error(tmp_path, errno);
      off += w;
    }
    done += static_cast<uint64_t>(n);
    progress.update(done);
  }
  progress.finish();
  if (hash.finish_hex() != expected_sha256)
    return error(StatusCode::kHashMismatch, source + ": changed while it was being published; publish again");
  return fsync_fd(out, tmp_path);
}

namespace {

// The source opened for one front-to-back read; refuses anything but a regular file.
Status open_source(const std::string& source, FdCloser* in, uint64_t* size) {
  in->fd = ::open(source.c_str(), O_RDONLY | O_CLOEXEC);
  if (in->fd < 0) {
    int e = errno;
    return error(e == ENOENT ? StatusCode::kNotFound : StatusCode::kIOError, source + ": " + std::strerror(e));
  }
  struct stat st;
  if (::fstat(in->fd, &st) != 0) return io_error(source, errno);
  if (!S_ISREG(st.st_mode)) return error(StatusCode::kInvalidArgument, source + ": not a regular file");
  *size = static_cast<uint64_t>(st.st_size);
  // The kernel reads ahead further for a file read front to back once.
  ::posix_fadvise(in->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  return OkStatus();
}

// A zstd stream (level kZstdLevel, with checksum) appended to a temporary file.
class ZstdFileWriter {
 public:
  ZstdFileWriter(TempFile* out, std::string source) : out_(out), source_(std::move(source)), out_buf_(ZSTD_CStreamOutSize()) {}

  Status start(uint64_t pledged_size) {
    cctx_.reset(ZSTD_createCCtx());
    if (!cctx_) return error(StatusCode::kIOError, "zstd: out of memory");
    ZSTD_CCtx_setParameter(cctx_.get(), ZSTD_c_compressionLevel, kZstdLevel);
    ZSTD_CCtx_setParameter(cctx_.get(), ZSTD_c_checksumFlag, 1);
    // Single-threaded on purpose: measured on a 1 GiB file here, ZSTD_c_nbWorkers=1 took
    // 4.4 s and 50 MB RSS against 3.2-3.5 s and 18 MB without workers (reading dominates).
    ZSTD_CCtx_setPledgedSrcSize(cctx_.get(), pledged_size);  // lets devices size the output up front
    return OkStatus();
  }
  Status write(const char* data, size_t size) {
    ZSTD_inBuffer input{data, size, 0};
    return pump(input, ZSTD_e_continue);
  }
  Status finish() {
    ZSTD_inBuffer empty{nullptr, 0, 0};
    return pump(empty, ZSTD_e_end);
  }
  uint64_t stored_size() const { return stored_; }

 private:
  Status pump(ZSTD_inBuffer& input, ZSTD_EndDirective mode) {
    for (;;) {
      ZSTD_outBuffer output{out_buf_.data(), out_buf_.size(), 0};
      size_t remaining = ZSTD_compressStream2(cctx_.get(), &output, &input, mode);
      if (ZSTD_isError(remaining)) return zstd_error(source_, remaining);
      MC_RETURN_IF_ERROR(out_->write(out_buf_.data(), output.pos));
      stored_ += output.pos;
      bool finished = mode == ZSTD_e_end ? remaining == 0 : input.pos == input.size;
      if (finished) return OkStatus();
    }
  }

  TempFile* out_;
  std::string source_;
  std::unique_ptr<ZSTD_CCtx, CCtxFree> cctx_;
  std::vector<char> out_buf_;
  uint64_t stored_ = 0;
};

struct HashedAndCompressed {
  std::string sha256;
  uint64_t size = 0;
  uint64_t stored_size = 0;  // of the zstd stream
};

// One pass over the source: SHA-256 on a second core, zstd into `tmp`. Fails when the
// source does not have `expected_size` bytes (it changed while being read).
Result<HashedAndCompressed> hash_and_compress(int in, uint64_t expected_size, const std::string& source,
                                              const std::string& label, bool show_progress, TempFile* tmp) {
  ZstdFileWriter zstd(tmp, source);
  MC_RETURN_IF_ERROR(zstd.start(expected_size));
  // Two read buffers: one being hashed by the worker while the next is read and compressed.
  std::vector<char> in_bufs[2] = {std::vector<char>(kReadBlock), std::vector<char>(kReadBlock)};
  int current = 0;
  HashWorker hash;
  uint64_t done = 0;
  Progress progress(label + " (sha256 + zstd)", expected_size, show_progress);
  for (;;) {
    std::vector<char>& in_buf = in_bufs[current];
    current ^= 1;
    ssize_t n = read_some(in, in_buf.data(), in_buf.size());
    if (n < 0) return io_error(source, errno);
    if (n == 0) break;
    hash.submit(in_buf.data(), static_cast<size_t>(n));
    done += static_cast<uint64_t>(n);
    if (done > expected_size) break;
    MC_RETURN_IF_ERROR(zstd.write(in_buf.data(), static_cast<size_t>(n)));
    progress.update(done);
  }
  if (done != expected_size)
    return error(StatusCode::kIOError, source + ": changed size while it was being read; publish again");
  MC_RETURN_IF_ERROR(zstd.finish());
  progress.finish();
  HashedAndCompressed out;
  out.sha256 = hash.finish_hex();
  out.size = done;
  out.stored_size = zstd.stored_size();
  return out;
}

}  // namespace

Result<StoredBlob> BlobStore::put_file(const std::string& source, const std::string& label, bool show_progress) {
  FdCloser in{-1};
  uint64_t expected_size = 0;
  MC_RETURN_IF_ERROR(open_source(source, &in, &expected_size));
  TempFile tmp;
  MC_RETURN_IF_ERROR(tmp.create(tmp_dir_));
  MC_ASSIGN_OR_RETURN(HashedAndCompressed content, hash_and_compress(in.fd, expected_size, source, label, show_progress, &tmp));

  auto found = existing(content.sha256, content.size);
  if (found.ok()) return found;  // TempFile removes the compressed copy

  StoredBlob blob;
  blob.sha256 = content.sha256;
  blob.size = content.size;
  bool keep_zstd = content.size > 0 && content.stored_size * 100 <= content.size * (100 - kMinZstdSavingPercent);
  blob.encoding = keep_zstd ? "zstd" : "identity";
  blob.stored_size = keep_zstd ? content.stored_size : content.size;
  blob.url = blob_url(blob.sha256, keep_zstd);
  if (!keep_zstd) MC_RETURN_IF_ERROR(copy_identity(source, blob.sha256, tmp.path(), label, show_progress));
  MC_RETURN_IF_ERROR(tmp.sync_and_close());
  MC_RETURN_IF_ERROR(link_into_place(tmp.path(), root_ + "/" + blob.url));
  blob.created = true;
  return blob;
}

Status check_blob(const std::string& path, const std::string& encoding, const std::string& sha256, uint64_t size,
                  uint64_t stored_size) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    return error(e == ENOENT ? StatusCode::kNotFound : StatusCode::kIOError,
                 path + (e == ENOENT ? ": missing" : std::string(": ") + std::strerror(e)));
  }
  FdCloser closer{fd};
  struct stat st;
  if (::fstat(fd, &st) != 0) return io_error(path, errno);
  if (static_cast<uint64_t>(st.st_size) != stored_size)
    return error(StatusCode::kHashMismatch, path + ": " + std::to_string(st.st_size) + " bytes, the manifest says stored_size " +
                                                std::to_string(stored_size));
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  std::unique_ptr<ZSTD_DCtx, DCtxFree> dctx;
  if (encoding == "zstd") {
    dctx.reset(ZSTD_createDCtx());
    if (!dctx) return error(StatusCode::kIOError, "zstd: out of memory");
    ZSTD_DCtx_setParameter(dctx.get(), ZSTD_d_windowLogMax, kMaxZstdWindowLog);
  }
  std::vector<char> in_buf(kReadBlock);
  std::vector<char> out_buf(ZSTD_DStreamOutSize());
  Sha256 hash;
  uint64_t produced = 0;
  size_t last_ret = 1;  // no complete zstd frame seen yet
  for (;;) {
    ssize_t n = read_some(fd, in_buf.data(), in_buf.size());
    if (n < 0) return io_error(path, errno);
    if (n == 0) break;
    if (!dctx) {
      hash.update(in_buf.data(), static_cast<size_t>(n));
      produced += static_cast<uint64_t>(n);
      continue;
    }
    ZSTD_inBuffer input{in_buf.data(), static_cast<size_t>(n), 0};
    while (input.pos < input.size) {
      ZSTD_outBuffer output{out_buf.data(), out_buf.size(), 0};
      last_ret = ZSTD_decompressStream(dctx.get(), &output, &input);
      if (ZSTD_isError(last_ret))
        return error(StatusCode::kCorruption, path + ": does not decompress: " + ZSTD_getErrorName(last_ret));
      hash.update(out_buf.data(), output.pos);
      produced += output.pos;
      if (produced > size)
        return error(StatusCode::kHashMismatch, path + ": decompresses to more than the manifest's size " + std::to_string(size));
    }
  }
  if (dctx) {
    // A frame is complete when the decoder last returned 0; otherwise it may still hold
    // output (the last call filled out_buf) or the blob ends mid-frame.
    while (last_ret != 0) {
      ZSTD_inBuffer input{nullptr, 0, 0};
      ZSTD_outBuffer output{out_buf.data(), out_buf.size(), 0};
      last_ret = ZSTD_decompressStream(dctx.get(), &output, &input);
      if (ZSTD_isError(last_ret))
        return error(StatusCode::kCorruption, path + ": does not decompress: " + ZSTD_getErrorName(last_ret));
      hash.update(out_buf.data(), output.pos);
      produced += output.pos;
      if (output.pos == 0) break;
    }
    if (last_ret != 0) return error(StatusCode::kCorruption, path + ": truncated zstd frame");
  }
  if (produced != size)
    return error(StatusCode::kHashMismatch,
                 path + ": content is " + std::to_string(produced) + " bytes, the manifest says " + std::to_string(size));
  std::string actual = hash.finish_hex();
  if (actual != sha256)
    return error(StatusCode::kHashMismatch, path + ": content SHA-256 is " + actual + ", the manifest says " + sha256);
  return OkStatus();
}

}  // namespace modelcast
