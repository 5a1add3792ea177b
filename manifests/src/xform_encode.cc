// The MCXF encoder: header and table, then each segment's residual planes block by block,
// through one zstd frame (or raw, for golden vectors). Memory: three 1 MiB blocks plus
// zstd's own buffers, whatever the file size.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <thread>

#include "modelcast/fs.h"
#include "modelcast/xform_encode.h"
#include "xform_files.h"

namespace modelcast {

namespace {

struct CCtxFree {
  void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
};

// Sends bytes to the output file, through zstd unless writing raw MCXF.
class StreamWriter {
 public:
  StreamWriter(int fd, std::string what) : fd_(fd), what_(std::move(what)) {}

  Status start(const XformEncodeOptions& options, uint64_t total) {
    if (!options.compress) return OkStatus();
    cctx_.reset(ZSTD_createCCtx());
    if (!cctx_) return error(StatusCode::kOutOfMemory, "zstd: out of memory");
    ZSTD_CCtx_setParameter(cctx_.get(), ZSTD_c_compressionLevel, options.level);
    ZSTD_CCtx_setParameter(cctx_.get(), ZSTD_c_checksumFlag, 1);
    int workers = options.workers;
    if (workers < 0) workers = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    // Fails harmlessly on a libzstd built without threads: the frame is the same format.
    if (workers > 0) (void)ZSTD_CCtx_setParameter(cctx_.get(), ZSTD_c_nbWorkers, workers);
    // Levels up to 19 choose a window of at most 2^23 without long mode, far below the
    // decoder's limit of 2^kXformMaxWindowLog; the pledged size shrinks it for small files.
    ZSTD_CCtx_setPledgedSrcSize(cctx_.get(), total);
    out_buf_.resize(ZSTD_CStreamOutSize());
    return OkStatus();
  }

  Status write(const void* data, size_t size) { return pump(data, size, ZSTD_e_continue); }
  Status end() { return pump(nullptr, 0, ZSTD_e_end); }
  uint64_t written() const { return written_; }

 private:
  Status pump(const void* data, size_t size, ZSTD_EndDirective mode) {
    if (!cctx_) {
      written_ += size;
      return write_all(fd_, std::string_view(static_cast<const char*>(data), size), what_);
    }
    ZSTD_inBuffer in{data, size, 0};
    for (;;) {
      ZSTD_outBuffer out{out_buf_.data(), out_buf_.size(), 0};
      size_t remaining = ZSTD_compressStream2(cctx_.get(), &out, &in, mode);
      if (ZSTD_isError(remaining)) return error(StatusCode::kIOError, what_ + ": zstd: " + ZSTD_getErrorName(remaining));
      MC_RETURN_IF_ERROR(write_all(fd_, std::string_view(out_buf_.data(), out.pos), what_));
      written_ += out.pos;
      if (mode == ZSTD_e_end ? remaining == 0 : in.pos == in.size) return OkStatus();
    }
  }

  int fd_;
  std::string what_;
  std::unique_ptr<ZSTD_CCtx, CCtxFree> cctx_;
  std::vector<char> out_buf_;
  uint64_t written_ = 0;
};

}  // namespace

Result<uint64_t> xform_encode_file(const std::string& target_path, const std::string& base_path,
                                   const std::vector<XformSegment>& segments, const std::string& out_path,
                                   const XformEncodeOptions& options) {
  MC_ASSIGN_OR_RETURN(InputFile target, InputFile::open(target_path));
  InputFile base;
  if (!base_path.empty()) {
    MC_ASSIGN_OR_RETURN(base, InputFile::open(base_path));
  }
  Status plan = check_xform_segments(target.size(), segments, base_path.empty() ? -1 : static_cast<int64_t>(base.size()));
  if (!plan.ok()) return error(StatusCode::kInvalidArgument, "xform plan for " + target_path + ": " + plan.message());

  int out_fd = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (out_fd < 0) return error(StatusCode::kIOError, out_path + ": " + std::strerror(errno));
  InputFile out_guard = InputFile::adopt(out_fd, 0);  // closes it on every path

  const std::string header = xform_header_bytes(target.size(), segments);
  StreamWriter writer(out_fd, out_path);
  MC_RETURN_IF_ERROR(writer.start(options, header.size() + target.size()));
  MC_RETURN_IF_ERROR(writer.write(header.data(), header.size()));

  std::vector<uint8_t> target_block(kXformBlockSize), base_block(kXformBlockSize), planes(kXformBlockSize);
  uint64_t offset = 0;
  for (const XformSegment& s : segments) {
    for (uint64_t done = 0; done < s.length;) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(kXformBlockSize, s.length - done));
      MC_RETURN_IF_ERROR(read_at(target.fd(), target_block.data(), n, offset + done, target_path));
      if (s.op != XformOp::kNone)
        MC_RETURN_IF_ERROR(read_at(base.fd(), base_block.data(), n, s.base_offset + done, base_path));
      xform_forward_block(s.op, s.width, target_block.data(), base_block.data(), n, planes.data());
      MC_RETURN_IF_ERROR(writer.write(planes.data(), n));
      done += n;
    }
    offset += s.length;
  }
  MC_RETURN_IF_ERROR(writer.end());
  return writer.written();
}

}  // namespace modelcast
