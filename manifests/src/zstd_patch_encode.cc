// Publisher side of zstd-patch: the target and the base are mapped, the base is the
// reference prefix, the target the one stable input (zstd keeps no window copy of it).
#define ZSTD_STATIC_LINKING_ONLY  // ZSTD_c_stableInBuffer (a parameter value; no extra symbol)
#include <zstd.h>

#include <memory>
#include <vector>

#include "mapped_file.h"
#include "modelcast/fs.h"
#include "modelcast/zstd_patch.h"

namespace modelcast {

namespace {

struct CCtxFree {
  void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
};

// Same level as blobs: higher levels gain nothing on weights (bench/README.md).
constexpr int kPatchLevel = 3;

int ceil_log2(uint64_t n) {
  int log = 0;
  while (log < 63 && (uint64_t{1} << log) < n) ++log;
  return log;
}

}  // namespace

Result<uint64_t> zstd_patch_encode_file(const std::string& target_path, const std::string& base_path,
                                        const std::string& out_path) {
  MC_ASSIGN_OR_RETURN(MappedFile target, MappedFile::open_read(target_path));
  MC_ASSIGN_OR_RETURN(MappedFile base, MappedFile::open_read(base_path));
  // Every target byte must reach back to the start of the base: the window spans both.
  const int window_log = std::max(ZSTD_WINDOWLOG_MIN, ceil_log2(base.size() + target.size()));
  if (window_log > kZstdPatchMaxWindowLog)
    return error(StatusCode::kInvalidArgument, target_path + " and " + base_path +
                                                   ": together above 2 GiB, the largest zstd-patch window");

  std::unique_ptr<ZSTD_CCtx, CCtxFree> cctx(ZSTD_createCCtx());
  if (!cctx) return error(StatusCode::kOutOfMemory, "zstd: out of memory");
  const std::pair<ZSTD_cParameter, int> params[] = {
      {ZSTD_c_compressionLevel, kPatchLevel},    {ZSTD_c_checksumFlag, 1},
      {ZSTD_c_windowLog, window_log},            {ZSTD_c_enableLongDistanceMatching, 1},
      {ZSTD_c_stableInBuffer, 1},
  };
  for (const auto& [param, value] : params) {
    size_t rc = ZSTD_CCtx_setParameter(cctx.get(), param, value);
    if (ZSTD_isError(rc)) return error(StatusCode::kIOError, out_path + ": zstd: " + ZSTD_getErrorName(rc));
  }
  size_t rc = ZSTD_CCtx_setPledgedSrcSize(cctx.get(), target.size());
  if (!ZSTD_isError(rc) && base.size() > 0) rc = ZSTD_CCtx_refPrefix(cctx.get(), base.data(), base.size());
  if (ZSTD_isError(rc)) return error(StatusCode::kIOError, out_path + ": zstd: " + ZSTD_getErrorName(rc));

  int out_fd = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (out_fd < 0) return error(StatusCode::kIOError, out_path + ": " + std::strerror(errno));
  struct FdCloser {
    int fd;
    ~FdCloser() { ::close(fd); }
  } closer{out_fd};

  const uint8_t empty = 0;
  ZSTD_inBuffer input{target.data() != nullptr ? target.data() : &empty, static_cast<size_t>(target.size()), 0};
  std::vector<char> out_buf(ZSTD_CStreamOutSize());
  uint64_t written = 0;
  for (;;) {
    ZSTD_outBuffer output{out_buf.data(), out_buf.size(), 0};
    size_t remaining = ZSTD_compressStream2(cctx.get(), &output, &input, ZSTD_e_end);
    if (ZSTD_isError(remaining)) return error(StatusCode::kIOError, out_path + ": zstd: " + ZSTD_getErrorName(remaining));
    MC_RETURN_IF_ERROR(write_all(out_fd, std::string_view(out_buf.data(), output.pos), out_path));
    written += output.pos;
    if (remaining == 0) return written;
  }
}

}  // namespace modelcast
