#include "download.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include <cerrno>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <cstring>
#include <memory>
#include <vector>

#include "cache_locks.h"
#include "modelcast/blob_check.h"
#include "modelcast/fs.h"
#include "modelcast/sha256.h"
#include "modelcast/xform.h"

namespace modelcast {

namespace {

struct DCtxDeleter {
  void operator()(ZSTD_DCtx* c) const { ZSTD_freeDCtx(c); }
};

Status mismatch(const FileEntry& f, const std::string& what) {
  return error(StatusCode::kHashMismatch, f.url + ": " + what);
}

// Turns wire bytes into content: zstd or xform decoding (window capped), size limits,
// SHA-256, and the decoded file (identity content is written only when asked: a download
// keeps it in its .part file). Used by one thread at a time.
class Decoder {
 public:
  Decoder(const FileEntry& f, bool write_identity = false)
      : f_(f), zstd_(f.encoding == "zstd"), xform_(f.encoding == "xform"), write_identity_(write_identity) {}

  Status open(FileSystem* fs, const std::string& decoded_path) {
    if (!zstd_ && !xform_ && !write_identity_) return OkStatus();
    if (zstd_) {
      dctx_.reset(ZSTD_createDCtx());
      if (!dctx_) return error(StatusCode::kOutOfMemory, "out of memory for a zstd context");
      ZSTD_DCtx_setParameter(dctx_.get(), ZSTD_d_windowLogMax, kMaxZstdWindowLog);
      out_buf_.resize(std::max<size_t>(ZSTD_DStreamOutSize(), 1 << 20));  // fewer, larger writes
    }
    if (xform_) {
      // A blob has no base; the decoder refuses any other target size than the manifest's.
      xform_dec_ = std::make_unique<XformDecoder>(
          -1, f_.size, [this](const uint8_t* data, size_t n) { return accept(reinterpret_cast<const char*>(data), n, true); });
    }
    MC_ASSIGN_OR_RETURN(out_, fs->open_writable(decoded_path, WriteMode::kTruncate));
    return OkStatus();
  }

  Status feed(const char* data, size_t size) {
    if (xform_) {
      Status s = xform_dec_->feed(data, size);
      const bool keep = s.ok() || s.code() == StatusCode::kHashMismatch || s.code() == StatusCode::kIOError;
      return keep ? s : mismatch(f_, s.message());
    }
    if (!zstd_) return accept(data, size, write_identity_);
    ZSTD_inBuffer in{data, size, 0};
    // Loop until the input is used up and the decoder has nothing more to flush.
    // Concatenated frames decode one after the other, as with `zstd -d`.
    for (;;) {
      ZSTD_outBuffer out{out_buf_.data(), out_buf_.size(), 0};
      const size_t in_before = in.pos;
      size_t rc = ZSTD_decompressStream(dctx_.get(), &out, &in);
      if (ZSTD_isError(rc)) return mismatch(f_, std::string("zstd: ") + ZSTD_getErrorName(rc));
      if (out.pos > 0) MC_RETURN_IF_ERROR(accept(out_buf_.data(), out.pos, true));
      // 0: a frame just ended and is flushed. A call after that without input answers
      // with the next frame's header hint, which must not undo it.
      if (rc == 0) frame_done_ = true;
      else if (in.pos > in_before || out.pos > 0) frame_done_ = false;
      if (in.pos == in.size && out.pos < out.size) break;
    }
    return OkStatus();
  }

  // After the last byte: an xform stream must end exactly where its header says.
  Status end() {
    if (!xform_) return OkStatus();
    auto done = xform_dec_->finish();
    if (!done.ok()) return mismatch(f_, done.status().message());
    frame_done_ = true;
    return OkStatus();
  }

  WritableFile* out() { return out_.get(); }
  void close() {
    if (out_) (void)out_->close();
  }
  bool frame_done() const { return (!zstd_ && !xform_) || frame_done_; }
  uint64_t size() const { return size_; }
  std::string finish_hex() { return hash_.finish_hex(); }

 private:
  Status accept(const char* data, size_t n, bool write) {
    size_ += n;
    if (size_ > f_.size)
      return mismatch(f_, "decodes to more than the declared size of " + std::to_string(f_.size) + " bytes");
    hash_.update(data, n);
    if (write) MC_RETURN_IF_ERROR(out_->append(data, n));
    return OkStatus();
  }

  const FileEntry& f_;
  bool zstd_;
  bool xform_;
  bool write_identity_;
  std::unique_ptr<ZSTD_DCtx, DCtxDeleter> dctx_;
  std::unique_ptr<XformDecoder> xform_dec_;
  std::vector<char> out_buf_;
  std::unique_ptr<WritableFile> out_;
  Sha256 hash_;
  uint64_t size_ = 0;
  bool frame_done_ = false;
};

// The decoded content is whole: size and SHA-256 as declared.
Status check_decoded(const FileEntry& f, Decoder& decoder) {
  if (!decoder.frame_done()) return mismatch(f, "zstd stream ends inside a frame");
  if (decoder.size() != f.size)
    return mismatch(f, "decoded size " + std::to_string(decoder.size()) + " differs from the declared " + std::to_string(f.size));
  std::string got = decoder.finish_hex();
  if (got != f.sha256) return mismatch(f, "SHA-256 " + got.substr(0, 16) + "… differs from the manifest");
  return OkStatus();
}

// A complete, verified file becomes the blob: synced, read-only, renamed into place.
Status publish_blob(FileSystem& fs, const CacheBlobStore& store, const FileEntry& f, WritableFile* content,
                    const std::string& src) {
  MC_RETURN_IF_ERROR(content->sync());
  MC_RETURN_IF_ERROR(content->close());
  std::string dst = store.blob_path(f.sha256);
  MC_RETURN_IF_ERROR(fs.make_dirs(parent_dir(dst)));
  MC_RETURN_IF_ERROR(fs.chmod(src, 0444));
  MC_RETURN_IF_ERROR(fs.rename(src, dst));
  return fs.sync_dir(parent_dir(dst));
}

// Runs a Decoder on its own thread so receiving (and appending to the .part) overlaps
// decoding, hashing and writing: the two halves cost about the same. Wire bytes travel in
// 1 MiB chunks through a queue of at most four, so memory stays bounded.
class DecodeWorker {
 public:
  explicit DecodeWorker(Decoder* decoder) : decoder_(decoder), thread_([this] { run(); }) {
    staging_.reserve(kChunk);
  }
  ~DecodeWorker() { stop(); }

  // An error the worker hit earlier is returned here, which stops the transfer.
  Status push(const char* data, size_t size) {
    while (size > 0) {
      size_t n = std::min(size, kChunk - staging_.size());
      staging_.append(data, n);
      data += n;
      size -= n;
      if (staging_.size() == kChunk) MC_RETURN_IF_ERROR(flush());
    }
    std::lock_guard<std::mutex> l(mu_);
    return status_;
  }

  // Waits until every byte pushed is decoded; the decoder may then be read.
  Status drain() {
    MC_RETURN_IF_ERROR(flush());
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait(l, [&] { return (queue_.empty() && !busy_) || !status_.ok(); });
    cv_.wait(l, [&] { return !busy_; });
    return status_;
  }

  // Abandons whatever is queued and joins the thread.
  void stop() {
    {
      std::lock_guard<std::mutex> l(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  static constexpr size_t kChunk = 1 << 20;
  static constexpr size_t kMaxQueued = 4;

  Status flush() {
    if (staging_.empty()) return OkStatus();
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait(l, [&] { return queue_.size() < kMaxQueued || !status_.ok(); });
    if (!status_.ok()) return status_;
    queue_.push_back(std::move(staging_));
    if (!spare_.empty()) {
      staging_ = std::move(spare_.back());
      spare_.pop_back();
    } else {
      staging_ = std::string();
      staging_.reserve(kChunk);
    }
    staging_.clear();
    l.unlock();
    cv_.notify_all();
    return OkStatus();
  }

  void run() {
    for (;;) {
      std::string chunk;
      {
        std::unique_lock<std::mutex> l(mu_);
        cv_.wait(l, [&] { return stopping_ || !queue_.empty(); });
        if (stopping_) return;
        chunk = std::move(queue_.front());
        queue_.pop_front();
        busy_ = true;
      }
      Status s;
      {
        std::lock_guard<std::mutex> l(mu_);
        s = status_;
      }
      if (s.ok()) s = decoder_->feed(chunk.data(), chunk.size());
      {
        std::lock_guard<std::mutex> l(mu_);
        busy_ = false;
        if (status_.ok()) status_ = s;
        if (spare_.size() < kMaxQueued) spare_.push_back(std::move(chunk));
      }
      cv_.notify_all();
    }
  }

  Decoder* decoder_;
  std::string staging_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> queue_;
  std::vector<std::string> spare_;
  bool busy_ = false;
  bool stopping_ = false;
  Status status_;
  std::thread thread_;  // last: starts after everything it uses exists
};

// One attempt's state: what has been accepted so far and where decoded bytes go.
class BlobWriter : public HttpSink {
 public:
  BlobWriter(const DownloadParams& p, const FileEntry& f) : p_(p), f_(f), decoded_(f.encoding != "identity") {}

  // Opens the files and replays an existing .part (resume). Returns the wire offset to
  // request from.
  Result<uint64_t> start() {
    const std::string part = p_.store.part_path(f_);
    uint64_t have = 0;
    if (auto info = p_.fs->stat(part); info.ok()) have = info->size;
    if (have > f_.stored_size) {
      MC_RETURN_IF_ERROR(p_.fs->remove_all(part));
      have = 0;
    }
    MC_RETURN_IF_ERROR(start_decoder());
    MC_ASSIGN_OR_RETURN(part_, p_.fs->open_writable(part, WriteMode::kAppend));
    if (have > 0) MC_RETURN_IF_ERROR(replay(part, have));
    return have;
  }

  // Forgets everything received (the server ignored our Range, or the partial was bad).
  Status restart() {
    part_buf_.clear();
    MC_RETURN_IF_ERROR(part_->close());
    MC_RETURN_IF_ERROR(p_.fs->truncate(p_.store.part_path(f_), 0));
    MC_ASSIGN_OR_RETURN(part_, p_.fs->open_writable(p_.store.part_path(f_), WriteMode::kAppend));
    worker_.reset();
    decoder_.reset();
    wire_ = 0;
    MC_RETURN_IF_ERROR(start_decoder());
    return OkStatus();
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
    return OkStatus();
  }

  Status on_data(const char* data, size_t size) override {
    if (wire_ + size > f_.stored_size)
      return mismatch(f_, "server sent more than the manifest's stored_size of " + std::to_string(f_.stored_size) + " bytes");
    part_buf_.append(data, size);
    if (part_buf_.size() >= kPartBatch) MC_RETURN_IF_ERROR(flush_part());
    MC_RETURN_IF_ERROR(consume(data, size));
    received_ += size;
    if (p_.on_bytes) MC_RETURN_IF_ERROR(p_.on_bytes(size));
    return OkStatus();
  }

  // After the transfer ended normally: checks sizes and hash, then publishes the blob.
  Status finish() {
    MC_RETURN_IF_ERROR(flush_part());
    if (wire_ != f_.stored_size)
      return mismatch(f_, "body truncated: " + std::to_string(wire_) + " of " + std::to_string(f_.stored_size) + " bytes");
    MC_RETURN_IF_ERROR(worker_->drain());
    worker_.reset();
    MC_RETURN_IF_ERROR(decoder_->end());
    MC_RETURN_IF_ERROR(check_decoded(f_, *decoder_));
    WritableFile* content = decoded_ ? decoder_->out() : part_.get();
    if (decoded_) MC_RETURN_IF_ERROR(part_->close());
    std::string src = decoded_ ? p_.store.decoded_path(f_) : p_.store.part_path(f_);
    MC_RETURN_IF_ERROR(publish_blob(*p_.fs, p_.store, f_, content, src));
    if (decoded_) MC_RETURN_IF_ERROR(p_.fs->remove_all(p_.store.part_path(f_)));
    return OkStatus();
  }

  // Drops the partial: it cannot be trusted any more.
  void discard() {
    close_quietly();
    (void)p_.fs->remove_all(p_.store.part_path(f_));
    (void)p_.fs->remove_all(p_.store.decoded_path(f_));
  }

  void close_quietly() {
    worker_.reset();  // joins the thread before the files close
    if (part_) (void)flush_part();  // what arrived stays resumable
    if (part_) (void)part_->close();
    if (decoder_) decoder_->close();
  }

  int http_status() const { return status_; }
  uint64_t received() const { return received_; }

 private:
  Status replay(const std::string& part, uint64_t have) {
    MC_ASSIGN_OR_RETURN(std::unique_ptr<ReadableFile> file, p_.fs->open_readable(part, /*follow_links=*/false));
    std::vector<char> buf(1 << 20);
    uint64_t done = 0;
    while (done < have) {
      MC_ASSIGN_OR_RETURN(size_t n, file->read(buf.data(), static_cast<size_t>(std::min<uint64_t>(buf.size(), have - done))));
      if (n == 0) return error(StatusCode::kIOError, part + ": short read while resuming");
      MC_RETURN_IF_ERROR(consume(buf.data(), n));
      done += n;
      if (p_.on_bytes) MC_RETURN_IF_ERROR(p_.on_bytes(n));
    }
    return OkStatus();
  }

  Status flush_part() {
    if (part_buf_.empty()) return OkStatus();
    Status s = part_->append(part_buf_.data(), part_buf_.size());
    part_buf_.clear();
    return s;
  }

  Status start_decoder() {
    decoder_ = std::make_unique<Decoder>(f_);
    MC_RETURN_IF_ERROR(decoder_->open(p_.fs, p_.store.decoded_path(f_)));
    worker_ = std::make_unique<DecodeWorker>(decoder_.get());
    return OkStatus();
  }

  // Accepts wire bytes already stored in the .part file.
  Status consume(const char* data, size_t size) {
    wire_ += size;
    return worker_->push(data, size);
  }

  const DownloadParams& p_;
  const FileEntry& f_;
  bool decoded_;  // zstd or xform: the content goes to tmp/<sha256>.dec
  static constexpr size_t kPartBatch = 1 << 20;
  std::unique_ptr<WritableFile> part_;
  std::string part_buf_;  // wire bytes not yet appended to the .part (batched writes)
  std::unique_ptr<Decoder> decoder_;
  std::unique_ptr<DecodeWorker> worker_;  // after decoder_: destroyed (joined) first
  uint64_t wire_ = 0;
  uint64_t received_ = 0;
  uint64_t requested_offset_ = 0;
  int status_ = 0;
};

// The blob's lock (cache_locks.h): two writers of one .part or .dec would corrupt it, and
// the second would replace a stored blob. Waiting still checks the deadline and cancel.
Result<FileLock> lock_blob(const DownloadParams& p, const std::string& sha256) {
  const auto wait_tick = [&p] { return p.on_bytes ? p.on_bytes(0) : OkStatus(); };
  return lock_polling(*p.fs, p.store.blob_lock_path(sha256), wait_tick);
}

}  // namespace

bool have_blob(FileSystem& fs, const CacheBlobStore& store, const FileEntry& file) {
  return check_blob(fs, store.blob_path(file.sha256), BlobCheck{"identity", file.sha256, file.size, file.size, false}).ok();
}

Status download_blob(const DownloadParams& p, const FileEntry& f, DownloadStats* stats) {
  MC_RETURN_IF_ERROR(p.fs->make_dirs(p.store.tmp_dir()));
  MC_ASSIGN_OR_RETURN(FileLock held, lock_blob(p, f.sha256));
  if (have_blob(*p.fs, p.store, f)) {
    stats->stored_meanwhile = true;
    return OkStatus();
  }
  const std::string blob = p.store.blob_path(f.sha256);
  if (p.fs->exists(blob)) MC_RETURN_IF_ERROR(p.fs->remove_all(blob));  // wrong size: replace
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
    if (s.ok()) s = writer.finish();
    if (s.ok()) return s;
    last = s;
    const bool resumed_attempt = offset.value() > 0;
    const int http = writer.http_status();
    if (s.code() == StatusCode::kNetwork && http != 416 && (http < 400 || http >= 500)) {
      writer.close_quietly();  // keep the .part: the next attempt (or update) resumes from it
      const bool again = p.wait_before_retry ? p.wait_before_retry(network_retries) : network_retries < p.max_retries;
      ++network_retries;
      if (again) continue;
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

namespace {

// Part i of a file stored as parts, as a blob of its own.
FileEntry part_entry(const FileEntry& f, const std::vector<BlobPart>& parts, size_t i) {
  FileEntry piece;
  piece.path = f.path + " (part " + std::to_string(i + 1) + " of " + std::to_string(parts.size()) + ")";
  piece.sha256 = parts[i].sha256;
  piece.size = piece.stored_size = parts[i].size;
  piece.url = parts[i].url;
  piece.encoding = "identity";
  return piece;
}

// Reads the parts in order through the file's decoder into tmp/<sha256>.dec and checks the
// content. A part kept from an earlier update (`kept[i]`) is hashed on the way: it was
// verified when stored, but the device's storage may have changed it since. Such a part
// is reported in `*bad` (its index) with kHashMismatch.
Status assemble_parts(const DownloadParams& p, const FileEntry& f, const std::vector<BlobPart>& parts,
                      const std::vector<bool>& kept, size_t* bad) {
  const std::string decoded = p.store.decoded_path(f);
  Decoder decoder(f, /*write_identity=*/true);
  Status s = decoder.open(p.fs, decoded);
  std::vector<char> buf(1 << 20);
  for (size_t i = 0; s.ok() && i < parts.size(); ++i) {
    const FileEntry piece = part_entry(f, parts, i);
    auto in = p.fs->open_readable(p.store.blob_path(parts[i].sha256), /*follow_links=*/false);
    if (!in.ok()) {
      s = in.status();
      break;
    }
    Sha256 part_hash;
    for (;;) {
      auto n = (*in)->read(buf.data(), buf.size());
      if (!n.ok()) s = n.status();
      if (!s.ok() || *n == 0) break;
      if (kept[i]) part_hash.update(buf.data(), *n);
      s = decoder.feed(buf.data(), *n);
      if (!s.ok()) break;
    }
    if (s.ok() && kept[i]) {
      const std::string got = part_hash.finish_hex();
      if (got != parts[i].sha256) {
        *bad = i;
        s = mismatch(piece, "kept in the cache, its SHA-256 is now " + got.substr(0, 16) + "… (changed since it was verified)");
      }
    }
  }
  if (s.ok()) s = decoder.end();
  if (s.ok()) s = check_decoded(f, decoder);
  if (s.ok()) s = publish_blob(*p.fs, p.store, f, decoder.out(), decoded);
  if (!s.ok()) {
    decoder.close();
    (void)p.fs->remove_all(decoded);
  }
  return s;
}

}  // namespace

Status download_parts(const DownloadParams& p, const FileEntry& file, const std::vector<BlobPart>& parts, DownloadStats* stats) {
  // Messages about the whole file name where its bytes came from: its parts.
  FileEntry f = file;
  if (!parts.empty())
    f.url = parts[0].url + (parts.size() > 1 ? " and " + std::to_string(parts.size() - 1) + " more part(s)" : "");
  uint64_t total = 0;
  for (const auto& part : parts) total += part.size;
  if (total != f.stored_size)
    return mismatch(f, "parts sum to " + std::to_string(total) + " bytes, the manifest's stored_size is " +
                           std::to_string(f.stored_size));
  std::vector<bool> kept(parts.size(), false);
  // A kept part found damaged is removed and fetched again, once per update.
  for (bool refetched = false;; refetched = true) {
    for (size_t i = 0; i < parts.size(); ++i) {
      const FileEntry piece = part_entry(f, parts, i);
      kept[i] = have_blob(*p.fs, p.store, piece);
      if (!kept[i]) MC_RETURN_IF_ERROR(download_blob(p, piece, stats));
    }
    // The parts in order are the stored blob: decode them into the file's content. Each part
    // was downloaded under its own lock; the assembly holds the file's (never two at once).
    MC_ASSIGN_OR_RETURN(FileLock held, lock_blob(p, f.sha256));
    if (have_blob(*p.fs, p.store, f)) {
      stats->stored_meanwhile = true;
      return OkStatus();
    }
    size_t bad = parts.size();
    Status s = assemble_parts(p, f, parts, kept, &bad);
    if (s.ok() || bad == parts.size() || refetched) return s;
    MC_RETURN_IF_ERROR(p.fs->remove_all(p.store.blob_path(parts[bad].sha256)));
  }
}

}  // namespace modelcast
