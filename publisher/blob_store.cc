#include "blob_store.h"

#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <condition_variable>
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

// A temporary file in the tree's work folder, removed on destruction unless linked into
// place first (then removing it only drops the temporary name).
class BlobTempFile {
 public:
  explicit BlobTempFile(FileSystem& fs) : fs_(fs) {}
  BlobTempFile(const BlobTempFile&) = delete;
  BlobTempFile& operator=(const BlobTempFile&) = delete;
  ~BlobTempFile() {
    if (file_) (void)file_->close();
    if (!path_.empty()) (void)fs_.remove_all(path_);
  }
  Status create(const std::string& dir) {
    MC_RETURN_IF_ERROR(fs_.make_dirs(dir));
    std::random_device rd;
    std::string path = dir + "/blob." + std::to_string(::getpid()) + "." + std::to_string(rd()) + ".tmp";
    MC_ASSIGN_OR_RETURN(file_, fs_.open_writable(path, WriteMode::kCreateNew));
    path_ = path;
    return OkStatus();
  }
  // Starts the content over (the compressed copy was not worth keeping).
  Status restart() {
    MC_RETURN_IF_ERROR(file_->close());
    MC_ASSIGN_OR_RETURN(file_, fs_.open_writable(path_, WriteMode::kTruncate));
    return OkStatus();
  }
  Status write(const void* data, size_t size) { return file_->append(static_cast<const char*>(data), size); }
  Status sync_and_close() {
    Status s = file_->sync();
    Status closed = file_->close();
    return s.ok() ? closed : s;
  }
  const std::string& path() const { return path_; }

 private:
  FileSystem& fs_;
  std::unique_ptr<WritableFile> file_;
  std::string path_;
};

namespace {

constexpr size_t kReadBlock = 1 << 20;

struct CCtxFree {
  void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
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
    auto info = fs_.lstat(root_ + "/" + url);
    if (info.ok() && info->type == FileType::kRegular) {
      StoredBlob b;
      b.sha256 = sha256;
      b.size = size;
      b.encoding = zstd ? "zstd" : "identity";
      b.stored_size = info->size;
      b.url = url;
      return b;
    }
  }
  return error(StatusCode::kNotFound, "blob " + sha256 + " is not in the tree");
}

Status link_into_place(FileSystem& fs, const std::string& tmp_path, const std::string& final_path) {
  std::string dir = parent_dir(final_path);
  MC_RETURN_IF_ERROR(fs.make_dirs(dir));
  // link() never replaces an existing path, which is the write-if-absent rule itself.
  Status linked = fs.link(tmp_path, final_path);
  if (linked.code() == StatusCode::kExists) return OkStatus();
  // File systems without hard links: we hold the tree lock and checked absence.
  if (!linked.ok() && !fs.rename(tmp_path, final_path).ok()) return linked;
  return fs.sync_dir(dir);
}

Status BlobStore::copy_identity(const std::string& source, const std::string& expected_sha256, BlobTempFile* tmp,
                                const std::string& label, bool show_progress) {
  MC_ASSIGN_OR_RETURN(std::unique_ptr<ReadableFile> in, fs_.open_readable(source));
  MC_RETURN_IF_ERROR(tmp->restart());
  ByteProgressLog progress(label + " (copying)", in->info().size, show_progress);
  std::vector<char> buf(kReadBlock);
  Sha256 hash;
  uint64_t done = 0;
  for (;;) {
    MC_ASSIGN_OR_RETURN(size_t n, in->read(buf.data(), buf.size()));
    if (n == 0) break;
    hash.update(buf.data(), n);
    MC_RETURN_IF_ERROR(tmp->write(buf.data(), n));
    done += n;
    progress.update(done);
  }
  progress.finish();
  if (hash.finish_hex() != expected_sha256)
    return error(StatusCode::kHashMismatch, source + ": changed while it was being published; publish again");
  return OkStatus();
}

namespace {

// A zstd stream (level kZstdLevel, with checksum) appended to a temporary file.
class ZstdFileWriter {
 public:
  ZstdFileWriter(BlobTempFile* out, std::string source) : out_(out), source_(std::move(source)), out_buf_(ZSTD_CStreamOutSize()) {}

  Status start(uint64_t pledged_size) {
    cctx_.reset(ZSTD_createCCtx());
    if (!cctx_) return error(StatusCode::kOutOfMemory, "zstd: out of memory");
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

  BlobTempFile* out_;
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
Result<HashedAndCompressed> hash_and_compress(ReadableFile& in, uint64_t expected_size, const std::string& source,
                                              const std::string& label, bool show_progress, BlobTempFile* tmp) {
  ZstdFileWriter zstd(tmp, source);
  MC_RETURN_IF_ERROR(zstd.start(expected_size));
  // Two read buffers: one being hashed by the worker while the next is read and compressed.
  std::vector<char> in_bufs[2] = {std::vector<char>(kReadBlock), std::vector<char>(kReadBlock)};
  int current = 0;
  HashWorker hash;
  uint64_t done = 0;
  ByteProgressLog progress(label + " (sha256 + zstd)", expected_size, show_progress);
  for (;;) {
    std::vector<char>& in_buf = in_bufs[current];
    current ^= 1;
    MC_ASSIGN_OR_RETURN(size_t n, in.read(in_buf.data(), in_buf.size()));
    if (n == 0) break;
    hash.submit(in_buf.data(), n);
    done += n;
    if (done > expected_size) break;
    MC_RETURN_IF_ERROR(zstd.write(in_buf.data(), n));
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
  // Only a regular file opens (a FIFO would block the publish while it holds the lock).
  MC_ASSIGN_OR_RETURN(std::unique_ptr<ReadableFile> in, fs_.open_readable(source));
  BlobTempFile tmp(fs_);
  MC_RETURN_IF_ERROR(tmp.create(tmp_dir_));
  MC_ASSIGN_OR_RETURN(HashedAndCompressed content,
                      hash_and_compress(*in, in->info().size, source, label, show_progress, &tmp));
  in.reset();

  auto found = existing(content.sha256, content.size);
  if (found.ok()) return found;  // BlobTempFile removes the compressed copy

  StoredBlob blob;
  blob.sha256 = content.sha256;
  blob.size = content.size;
  bool keep_zstd = content.size > 0 && content.stored_size * 100 <= content.size * (100 - kMinZstdSavingPercent);
  blob.encoding = keep_zstd ? "zstd" : "identity";
  blob.stored_size = keep_zstd ? content.stored_size : content.size;
  blob.url = blob_url(blob.sha256, keep_zstd);
  if (!keep_zstd) MC_RETURN_IF_ERROR(copy_identity(source, blob.sha256, &tmp, label, show_progress));
  MC_RETURN_IF_ERROR(tmp.sync_and_close());
  MC_RETURN_IF_ERROR(link_into_place(fs_, tmp.path(), root_ + "/" + blob.url));
  blob.created = true;
  return blob;
}

Result<std::vector<BlobPart>> BlobStore::split_into_parts(const std::string& blob_url, uint64_t max_part_bytes) {
  const std::string path = root_ + "/" + blob_url;
  MC_ASSIGN_OR_RETURN(std::unique_ptr<ReadableFile> in, fs_.open_readable(path, /*follow_links=*/false));
  const uint64_t total = in->info().size;
  if (max_part_bytes == 0 || total <= max_part_bytes)
    return error(StatusCode::kInvalidArgument, blob_url + ": " + std::to_string(total) + " bytes need no parts");
  const uint64_t count = (total + max_part_bytes - 1) / max_part_bytes;
  if (count > kMaxParts)
    return error(StatusCode::kInvalidArgument, blob_url + ": would need " + std::to_string(count) + " parts, more than " +
                                                   std::to_string(kMaxParts) + "; raise the host's file limit");
  const uint64_t part_size = (total + count - 1) / count;
  std::vector<BlobPart> parts;
  std::vector<char> buf(kReadBlock);
  for (uint64_t offset = 0; offset < total;) {
    const uint64_t want = std::min(part_size, total - offset);
    BlobTempFile tmp(fs_);
    MC_RETURN_IF_ERROR(tmp.create(tmp_dir_));
    Sha256 hash;
    for (uint64_t done = 0; done < want;) {
      MC_ASSIGN_OR_RETURN(size_t n, in->read(buf.data(), static_cast<size_t>(std::min<uint64_t>(buf.size(), want - done))));
      if (n == 0) return error(StatusCode::kIOError, path + ": shorter than " + std::to_string(total) + " bytes while splitting");
      hash.update(buf.data(), n);
      MC_RETURN_IF_ERROR(tmp.write(buf.data(), n));
      done += n;
    }
    MC_RETURN_IF_ERROR(tmp.sync_and_close());
    BlobPart part{hash.finish_hex(), want, ""};
    part.url = part_url(part.sha256);
    MC_RETURN_IF_ERROR(link_into_place(fs_, tmp.path(), root_ + "/" + part.url));
    parts.push_back(std::move(part));
    offset += want;
  }
  in.reset();
  MC_RETURN_IF_ERROR(fs_.remove_all(path));
  MC_RETURN_IF_ERROR(fs_.sync_dir(parent_dir(path)));
  return parts;
}

}  // namespace modelcast
