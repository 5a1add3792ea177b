// Device side of zstd-patch: decode into a map of the output file against a map of the
// base (see modelcast/zstd_patch.h for why maps).
#define ZSTD_STATIC_LINKING_ONLY  // ZSTD_d_stableOutBuffer (a parameter value; no extra symbol)
#include "modelcast/zstd_patch.h"

#include <sys/mman.h>
#include <zstd.h>
#include <zstd_errors.h>

#include <memory>
#include <vector>

#include "mapped_file.h"
#include "modelcast/fs.h"
#include "modelcast/sha256.h"
#include "xform_files.h"

namespace modelcast {

namespace {

constexpr size_t kPatchReadBytes = 1 << 20;
// Output decoded between two drops of the mapped pages from the resident set: bounds the
// apply's resident memory whatever the model size.
constexpr uint64_t kReleaseEvery = 16ull << 20;

struct DCtxFree {
  void operator()(ZSTD_DCtx* d) const { ZSTD_freeDCtx(d); }
};

// Removes the output unless the apply succeeded: a half-written or wrong file never stays.
class RemoveUnlessKept {
 public:
  explicit RemoveUnlessKept(std::string path) : path_(std::move(path)) {}
  ~RemoveUnlessKept() {
    if (!kept_) ::unlink(path_.c_str());
  }
  void keep() { kept_ = true; }

 private:
  std::string path_;
  bool kept_ = false;
};

class PatchDecoder {
 public:
  PatchDecoder(const std::string& patch_path, uint64_t expected_size)
      : what_("zstd-patch " + patch_path), expected_size_(expected_size) {}

  Status start(const MappedFile& base, MappedFile* out) {
    out_ = out;
    dctx_.reset(ZSTD_createDCtx());
    if (!dctx_) return error(StatusCode::kOutOfMemory, what_ + ": out of memory for a zstd context");
    size_t rc = ZSTD_DCtx_setParameter(dctx_.get(), ZSTD_d_windowLogMax, kZstdPatchMaxWindowLog);
    if (!ZSTD_isError(rc)) rc = ZSTD_DCtx_setParameter(dctx_.get(), ZSTD_d_stableOutBuffer, 1);
    if (!ZSTD_isError(rc) && base.size() > 0) rc = ZSTD_DCtx_refPrefix(dctx_.get(), base.data(), base.size());
    if (ZSTD_isError(rc)) return error(StatusCode::kIOError, what_ + ": zstd: " + ZSTD_getErrorName(rc));
    output_ = ZSTD_outBuffer{out->data() != nullptr ? out->data() : &empty_, expected_size_, 0};
    return OkStatus();
  }

  // The frame header's declared content size is checked before anything is decoded, so a
  // bomb that announces itself writes nothing.
  Status check_header(const uint8_t* data, size_t size, bool whole_file) {
    unsigned long long declared = ZSTD_getFrameContentSize(data, size);
    if (declared == ZSTD_CONTENTSIZE_ERROR) {
      if (size >= ZSTD_FRAMEHEADERSIZE_MAX || whole_file) return corrupt("not a zstd frame");
      return OkStatus();  // header not complete yet: the decoder checks the rest
    }
    if (declared != ZSTD_CONTENTSIZE_UNKNOWN && declared != expected_size_)
      return error(StatusCode::kHashMismatch, what_ + ": declares " + std::to_string(declared) +
                                                  " bytes of output, the manifest says " + std::to_string(expected_size_));
    return OkStatus();
  }

  Status feed(const uint8_t* data, size_t size, MappedFile* base) {
    ZSTD_inBuffer input{data, size, 0};
    while (input.pos < input.size) {
      if (frame_done_) return corrupt("bytes after the zstd frame");
      const size_t in_before = input.pos, out_before = output_.pos;
      size_t rc = ZSTD_decompressStream(dctx_.get(), &output_, &input);
      if (ZSTD_isError(rc)) {
        if (ZSTD_getErrorCode(rc) == ZSTD_error_dstSize_tooSmall) return bomb();
        return corrupt(std::string("does not decode: ") + ZSTD_getErrorName(rc));
      }
      hash_.update(static_cast<const uint8_t*>(output_.dst) + out_before, output_.pos - out_before);
      if (rc == 0) frame_done_ = true;
      if (input.pos == in_before && output_.pos == out_before)
        return output_.pos == output_.size ? bomb() : corrupt("decoder made no progress");
      if (output_.pos - released_ >= kReleaseEvery) {
        out_->release(output_.pos);
        base->release(base->size());
        released_ = output_.pos;
      }
    }
    return OkStatus();
  }

  Result<ZstdPatchApplied> finish() {
    if (!frame_done_) return corrupt("the zstd frame is truncated");
    if (output_.pos != expected_size_)
      return error(StatusCode::kHashMismatch, what_ + ": decodes to " + std::to_string(output_.pos) +
                                                  " bytes, the manifest says " + std::to_string(expected_size_));
    return ZstdPatchApplied{output_.pos, hash_.finish_hex()};
  }

 private:
  Status corrupt(const std::string& problem) const { return error(StatusCode::kCorruption, what_ + ": " + problem); }
  Status bomb() const {
    return error(StatusCode::kHashMismatch,
                 what_ + ": decodes to more than the manifest's size of " + std::to_string(expected_size_) + " bytes");
  }

  std::string what_;
  uint64_t expected_size_;
  std::unique_ptr<ZSTD_DCtx, DCtxFree> dctx_;
  MappedFile* out_ = nullptr;
  uint8_t empty_ = 0;
  ZSTD_outBuffer output_{};
  uint64_t released_ = 0;
  bool frame_done_ = false;
  Sha256 hash_;
};

Result<ZstdPatchApplied> apply(const std::string& patch_path, const std::string& base_path, uint64_t expected_size,
                               const std::string& expected_sha256, const std::string& out_path) {
  MC_ASSIGN_OR_RETURN(InputFile patch, InputFile::open(patch_path));
  Result<MappedFile> base = MappedFile::open_read(base_path);
  if (!base.ok()) return base.status().with_context("zstd-patch base");
  std::vector<uint8_t> buf(kPatchReadBytes);
  PatchDecoder decoder(patch_path, expected_size);
  bool first = true;
  MappedFile out;
  for (uint64_t offset = 0;;) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(buf.size(), patch.size() - offset));
    if (want == 0) break;
    MC_RETURN_IF_ERROR(read_at(patch.fd(), buf.data(), want, offset, patch_path));
    offset += want;
    if (first) {
      MC_RETURN_IF_ERROR(decoder.check_header(buf.data(), want, offset == patch.size()));
      MC_ASSIGN_OR_RETURN(out, MappedFile::create_write(out_path, expected_size));
      MC_RETURN_IF_ERROR(decoder.start(base.value(), &out));
      first = false;
    }
    MC_RETURN_IF_ERROR(decoder.feed(buf.data(), want, &base.value()));
  }
  if (first) return error(StatusCode::kCorruption, "zstd-patch " + patch_path + ": empty");
  MC_ASSIGN_OR_RETURN(ZstdPatchApplied applied, decoder.finish());
  if (!expected_sha256.empty() && applied.sha256 != expected_sha256)
    return error(StatusCode::kHashMismatch,
                 "zstd-patch " + patch_path + ": decodes to sha256 " + applied.sha256 + ", expected " + expected_sha256);
  if (out.data() != nullptr && ::msync(out.data(), static_cast<size_t>(out.size()), MS_SYNC) != 0)
    return error(StatusCode::kIOError, out_path + ": msync: " + std::strerror(errno));
  MC_RETURN_IF_ERROR(fsync_fd(out.fd(), out_path));
  return applied;
}

}  // namespace

Result<ZstdPatchApplied> zstd_patch_apply_file(const std::string& patch_path, const std::string& base_path,
                                               uint64_t expected_size, const std::string& expected_sha256,
                                               const std::string& out_path) {
  RemoveUnlessKept cleanup(out_path);
  Result<ZstdPatchApplied> r = apply(patch_path, base_path, expected_size, expected_sha256, out_path);
  if (r.ok()) cleanup.keep();
  return r;
}

}  // namespace modelcast
