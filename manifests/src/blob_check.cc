#include "modelcast/blob_check.h"

#include <zstd.h>

#include <memory>
#include <vector>

#include "modelcast/manifest.h"
#include "modelcast/sha256.h"
#include "modelcast/xform.h"

namespace modelcast {

namespace {

constexpr size_t kReadBlock = 1 << 20;

struct DCtxFree {
  void operator()(ZSTD_DCtx* d) const { ZSTD_freeDCtx(d); }
};

// Content bytes in, SHA-256 and count out; refuses more than the declared size.
class ContentCheck {
 public:
  ContentCheck(const std::string& path, uint64_t size) : path_(path), size_(size) {}
  Status add(const char* data, size_t n) {
    hash_.update(data, n);
    produced_ += n;
    if (produced_ > size_)
      return error(StatusCode::kHashMismatch, path_ + ": decompresses to more than the manifest's size " + std::to_string(size_));
    return OkStatus();
  }
  Status finish(const std::string& sha256) {
    if (produced_ != size_)
      return error(StatusCode::kHashMismatch,
                   path_ + ": content is " + std::to_string(produced_) + " bytes, the manifest says " + std::to_string(size_));
    std::string actual = hash_.finish_hex();
    if (actual != sha256)
      return error(StatusCode::kHashMismatch, path_ + ": content SHA-256 is " + actual + ", the manifest says " + sha256);
    return OkStatus();
  }

 private:
  const std::string& path_;
  uint64_t size_;
  Sha256 hash_;
  uint64_t produced_ = 0;
};

// Decodes one zstd stream (concatenated frames allowed) into `content`.
class ZstdCheck {
 public:
  explicit ZstdCheck(const std::string& path) : path_(path), out_buf_(ZSTD_DStreamOutSize()) {}
  Status start() {
    dctx_.reset(ZSTD_createDCtx());
    if (!dctx_) return error(StatusCode::kOutOfMemory, "zstd: out of memory");
    ZSTD_DCtx_setParameter(dctx_.get(), ZSTD_d_windowLogMax, kMaxZstdWindowLog);
    return OkStatus();
  }
  Status feed(const char* data, size_t n, ContentCheck* content) {
    ZSTD_inBuffer input{data, n, 0};
    while (input.pos < input.size) MC_RETURN_IF_ERROR(step(&input, content).status());
    return OkStatus();
  }
  // A frame is complete when the decoder last returned 0; otherwise it may still hold
  // output (the last call filled out_buf) or the blob ends mid-frame.
  Status finish(ContentCheck* content) {
    while (last_ret_ != 0) {
      ZSTD_inBuffer input{nullptr, 0, 0};
      MC_ASSIGN_OR_RETURN(size_t produced, step(&input, content));
      if (produced == 0) break;
    }
    if (last_ret_ != 0) return error(StatusCode::kCorruption, path_ + ": truncated zstd frame");
    return OkStatus();
  }

 private:
  Result<size_t> step(ZSTD_inBuffer* input, ContentCheck* content) {
    ZSTD_outBuffer output{out_buf_.data(), out_buf_.size(), 0};
    last_ret_ = ZSTD_decompressStream(dctx_.get(), &output, input);
    if (ZSTD_isError(last_ret_))
      return error(StatusCode::kCorruption, path_ + ": does not decompress: " + ZSTD_getErrorName(last_ret_));
    MC_RETURN_IF_ERROR(content->add(out_buf_.data(), output.pos));
    return output.pos;
  }

  const std::string& path_;
  std::unique_ptr<ZSTD_DCtx, DCtxFree> dctx_;
  std::vector<char> out_buf_;
  size_t last_ret_ = 1;  // no complete frame seen yet
};

}  // namespace

Status check_blob(FileSystem& fs, const std::string& path, const BlobCheck& expected) {
  // Not following a link: a blob must be the file itself (static hosts do not serve links).
  auto opened = fs.open_readable(path, /*follow_links=*/false);
  if (!opened.ok()) {
    if (opened.status().code() == StatusCode::kNotFound) return error(StatusCode::kNotFound, path + ": missing");
    return opened.status();
  }
  std::unique_ptr<ReadableFile> file = std::move(opened).value();
  if (file->info().size != expected.stored_size)
    return error(StatusCode::kHashMismatch, path + ": " + std::to_string(file->info().size) +
                                                " bytes, the manifest says stored_size " + std::to_string(expected.stored_size));
  if (!expected.hash) return OkStatus();
  const bool zstd = expected.encoding == "zstd", xform = expected.encoding == "xform";
  ZstdCheck decoder(path);
  if (zstd) MC_RETURN_IF_ERROR(decoder.start());
  ContentCheck content(path, expected.size);
  // An xform blob has no base: its MCXF stream holds the content as byte planes.
  XformDecoder planes(-1, expected.size, [&content](const uint8_t* data, size_t n) {
    return content.add(reinterpret_cast<const char*>(data), n);
  });
  std::vector<char> buf(kReadBlock);
  for (;;) {
    MC_ASSIGN_OR_RETURN(size_t n, file->read(buf.data(), buf.size()));
    if (n == 0) break;
    if (xform) MC_RETURN_IF_ERROR(planes.feed(buf.data(), n).with_context(path));
    else MC_RETURN_IF_ERROR(zstd ? decoder.feed(buf.data(), n, &content) : content.add(buf.data(), n));
  }
  if (zstd) MC_RETURN_IF_ERROR(decoder.finish(&content));
  if (xform) MC_RETURN_IF_ERROR(planes.finish().status().with_context(path));
  return content.finish(expected.sha256);
}

}  // namespace modelcast
