#include "download.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <vector>

#include "modelcast/fs.h"
#include "modelcast/sha256.h"

namespace modelcast {

namespace {

struct DCtxDeleter {
  void operator()(ZSTD_DCtx* c) const { ZSTD_freeDCtx(c); }
};

Status mismatch(const FileEntry& f, const std::string& what) {
  return error(StatusCode::kHashMismatch, f.url + ": " + what);
}

// One attempt's state: what has been accepted so far and where decoded bytes go.
class BlobWriter : public HttpSink {
 public:
  BlobWriter(const DownloadParams& p, const FileEntry& f) : p_(p), f_(f), zstd_(f.encoding == "zstd") {}

  // Opens the files and replays an existing .part (resume). Returns the wire offset to
  // request from.
  Result<uint64_t> start() {
    const std::string part = p_.store.part_path(f_);
    struct stat st;
    uint64_t have = 0;
    if (::stat(part.c_str(), &st) == 0) have = static_cast<uint64_t>(st.st_size);
    if (have > f_.stored_size) {
      MC_RETURN_IF_ERROR(p_.fs->remove_all(part));
      have = 0;
    }
    if (zstd_) {
      dctx_.reset(ZSTD_createDCtx());
      if (!dctx_) return error(StatusCode::kIOError, "out of memory for a zstd context");
      ZSTD_DCtx_setParameter(dctx_.get(), ZSTD_d_windowLogMax, kZstdWindowLogMax);
      out_buf_.resize(ZSTD_DStreamOutSize());
      MC_ASSIGN_OR_RETURN(decoded_, p_.fs->open_writable(p_.store.decoded_path(f_), true));
    }
    MC_ASSIGN_OR_RETURN(part_, p_.fs->open_writable(part, false));
    if (have > 0) MC_RETURN_IF_ERROR(replay(part, have));
    return have;
  }

  // Forgets everything received (the server ignored our Range, or the partial was bad).
  Status restart() {
    MC_RETURN_IF_ERROR(part_->close());
    MC_RETURN_IF_ERROR(p_.fs->truncate(p_.store.part_path(f_), 0));
    MC_ASSIGN_OR_RETURN(part_, p_.fs->open_writable(p_.store.part_path(f_), false));
    if (zstd_) {
      ZSTD_DCtx_reset(dctx_.get(), ZSTD_reset_session_only);
      MC_RETURN_IF_ERROR(decoded_->close());
      MC_ASSIGN_OR_RETURN(decoded_, p_.fs->open_writable(p_.store.decoded_path(f_), true));
    }
    hash_ = Sha256();
    wire_ = decoded_size_ = 0;
    frame_done_ = false;
    return Status::ok();
  }

  void expect_offset(uint64_t offset) { requested_offset_ = offset; }

  Status on_response(const HttpResponse& r) override {
    status_ = r.status;
    if (r.status == 200) {
      if (wire_ > 0) MC_RETURN_IF_ERROR(restart());
    } else if (r.status == 206) {
      if (r.range_start != requested_offset_ || requested_offset_ != wire_)
        return error(StatusCode::kNetwork, f_.url + ": server answered a range from byte " + std::to_string(r.range_start) +
                                               ", asked for " + std::to_string(requested_offset_));
    } else if (r.status == 416) {
      return error(StatusCode::kNetwork, f_.url + ": server refused the resume range (HTTP 416)");
    } else {
      return error(StatusCode::kNetwork, f_.url + ": HTTP " + std::to_string(r.status));
    }
    if (r.content_length >= 0 && wire_ + static_cast<uint64_t>(r.content_length) > f_.stored_size)
      return mismatch(f_, "server announces " + std::to_string(wire_ + static_cast<uint64_t>(r.content_length)) +
                              " bytes, the manifest's stored_size is " + std::to_string(f_.stored_size));
    return Status::ok();
  }

  Status on_data(const char* data, size_t size) override {
    if (wire_ + size > f_.stored_size)
      return mismatch(f_, "server sent more than the manifest's stored_size of " + std::to_string(f_.stored_size) + " bytes");
    MC_RETURN_IF_ERROR(part_->append(data, size));
    MC_RETURN_IF_ERROR(consume(data, size));
    received_ += size;
    if (p_.on_bytes) MC_RETURN_IF_ERROR(p_.on_bytes(size));
    return Status::ok();
  }

  // After the transfer ended normally: checks sizes and hash, then publishes the blob.
  Status finish() {
    if (wire_ != f_.stored_size)
      return mismatch(f_, "body truncated: " + std::to_string(wire_) + " of " + std::to_string(f_.stored_size) + " bytes");
    if (zstd_ && !frame_done_) return mismatch(f_, "zstd stream ends inside a frame");
    if (decoded_size_ != f_.size)
      return mismatch(f_, "decoded size " + std::to_string(decoded_size_) + " differs from the declared " +
                              std::to_string(f_.size));
    std::string got = hash_.finish_hex();
    if (got != f_.sha256) return mismatch(f_, "SHA-256 " + got.substr(0, 16) + "… differs from the manifest");
    WritableFile* content = zstd_ ? decoded_.get() : part_.get();
    MC_RETURN_IF_ERROR(content->sync());
    MC_RETURN_IF_ERROR(content->close());
    MC_RETURN_IF_ERROR(part_->close());
    std::string src = zstd_ ? p_.store.decoded_path(f_) : p_.store.part_path(f_);
    std::string dst = p_.store.blob_path(f_.sha256);
    MC_RETURN_IF_ERROR(p_.fs->make_dirs(parent_dir(dst)));
    MC_RETURN_IF_ERROR(p_.fs->chmod(src, 0444));
    MC_RETURN_IF_ERROR(p_.fs->rename(src, dst));
    MC_RETURN_IF_ERROR(p_.fs->sync_dir(parent_dir(dst)));
    if (zstd_) MC_RETURN_IF_ERROR(p_.fs->remove_all(p_.store.part_path(f_)));
    return Status::ok();
  }

  // Drops the partial: it cannot be trusted any more.
  void discard() {
    if (part_) (void)part_->close();
    if (decoded_) (void)decoded_->close();
    (void)p_.fs->remove_all(p_.store.part_path(f_));
    (void)p_.fs->remove_all(p_.store.decoded_path(f_));
  }

  void close_quietly() {
    if (part_) (void)part_->close();
    if (decoded_) (void)decoded_->close();
  }

  int http_status() const { return status_; }
  uint64_t received() const { return received_; }

 private:
  Status replay(const std::string& part, uint64_t have) {
    int fd = ::open(part.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return error(StatusCode::kIOError, part + ": " + std::strerror(errno));
    std::vector<char> buf(1 << 20);
    uint64_t done = 0;
    Status s;
    while (s.is_ok() && done < have) {
      ssize_t n = ::read(fd, buf.data(), static_cast<size_t>(std::min<uint64_t>(buf.size(), have - done)));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        s = error(StatusCode::kIOError, part + ": short read while resuming");
        break;
      }
      s = consume(buf.data(), static_cast<size_t>(n));
      done += static_cast<uint64_t>(n);
      if (s.is_ok() && p_.on_bytes) s = p_.on_bytes(static_cast<uint64_t>(n));
    }
    ::close(fd);
    return s;
  }

  // Accepts wire bytes already stored in the .part file.
  Status consume(const char* data, size_t size) {
    wire_ += size;
    if (!zstd_) {
      decoded_size_ += size;
      if (decoded_size_ > f_.size) return mismatch(f_, "more than the declared size of " + std::to_string(f_.size) + " bytes");
      hash_.update(data, size);
      return Status::ok();
    }
    ZSTD_inBuffer in{data, size, 0};
    while (in.pos < in.size) {
      if (frame_done_) return mismatch(f_, "data after the end of the zstd frame");
      ZSTD_outBuffer out{out_buf_.data(), out_buf_.size(), 0};
      size_t rc = ZSTD_decompressStream(dctx_.get(), &out, &in);
      if (ZSTD_isError(rc)) return mismatch(f_, std::string("zstd: ") + ZSTD_getErrorName(rc));
      if (out.pos > 0) {
        decoded_size_ += out.pos;
        if (decoded_size_ > f_.size)
          return mismatch(f_, "decodes to more than the declared size of " + std::to_string(f_.size) + " bytes");
        hash_.update(out_buf_.data(), out.pos);
        MC_RETURN_IF_ERROR(decoded_->append(out_buf_.data(), out.pos));
      }
      if (rc == 0) frame_done_ = true;
    }
    // Flush what the decoder still holds for this input.
    for (;;) {
      if (frame_done_) break;
      ZSTD_outBuffer out{out_buf_.data(), out_buf_.size(), 0};
      size_t rc = ZSTD_decompressStream(dctx_.get(), &out, &in);
      if (ZSTD_isError(rc)) return mismatch(f_, std::string("zstd: ") + ZSTD_getErrorName(rc));
      if (out.pos > 0) {
        decoded_size_ += out.pos;
        if (decoded_size_ > f_.size)
          return mismatch(f_, "decodes to more than the declared size of " + std::to_string(f_.size) + " bytes");
        hash_.update(out_buf_.data(), out.pos);
        MC_RETURN_IF_ERROR(decoded_->append(out_buf_.data(), out.pos));
      }
      if (rc == 0) frame_done_ = true;
      if (out.pos < out.size) break;
    }
    return Status::ok();
  }

  const DownloadParams& p_;
  const FileEntry& f_;
  bool zstd_;
  std::unique_ptr<ZSTD_DCtx, DCtxDeleter> dctx_;
  std::vector<char> out_buf_;
  std::unique_ptr<WritableFile> part_;
  std::unique_ptr<WritableFile> decoded_;
  Sha256 hash_;
  uint64_t wire_ = 0;
  uint64_t decoded_size_ = 0;
  uint64_t received_ = 0;
  uint64_t requested_offset_ = 0;
  bool frame_done_ = false;
  int status_ = 0;
};

}  // namespace

bool have_blob(const BlobStore& store, const FileEntry& file) {
  struct stat st;
  return ::stat(store.blob_path(file.sha256).c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
         static_cast<uint64_t>(st.st_size) == file.size;
}

Status download_blob(const DownloadParams& p, const FileEntry& f, DownloadStats* stats) {
  MC_RETURN_IF_ERROR(p.fs->make_dirs(p.store.tmp_dir()));
  const std::string blob = p.store.blob_path(f.sha256);
  if (path_exists(blob)) MC_RETURN_IF_ERROR(p.fs->remove_all(blob));  // wrong size: replace
  const std::string url = p.base_url + "/" + f.url;
  int network_retries = 0;
  bool fresh_retry_used = false;
  Status last;
  for (;;) {
    BlobWriter writer(p, f);
    auto offset = writer.start();
    if (!offset.ok()) {
      writer.discard();
      // Replaying the kept partial showed it is not the start of this file: start over.
      if (offset.status().code() == StatusCode::kHashMismatch && !fresh_retry_used) {
        fresh_retry_used = true;
        continue;
      }
      return offset.status();
    }
    stats->attempts++;
    Status s;
    if (offset.value() < f.stored_size) {
      HttpRequest req = p.request_template;
      req.url = url;
      req.range_start = offset.value();
      if (req.range_start > 0) stats->resumed = true;
      writer.expect_offset(req.range_start);
      s = p.transport->get(req, writer);
      stats->wire_bytes += writer.received();
    }
    if (s.is_ok()) s = writer.finish();
    if (s.is_ok()) return s;
    last = s;
    const bool resumed_attempt = offset.value() > 0;
    const int http = writer.http_status();
    if (s.code() == StatusCode::kNetwork && http != 416 && http < 400) {
      writer.close_quietly();  // keep the .part: the next attempt (or update) resumes from it
      if (network_retries++ < p.max_retries) continue;
      break;
    }
    writer.discard();
    // A partial from an earlier attempt may have been the culprit: one clean download.
    if ((s.code() == StatusCode::kHashMismatch || http == 416) && resumed_attempt && !fresh_retry_used) {
      fresh_retry_used = true;
      continue;
    }
    break;
  }
  return last;
}

}  // namespace modelcast
