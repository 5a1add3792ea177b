// The MCXF decoder and the block transform both sides share (see modelcast/xform.h).
//
// The decoder is a state machine over the decompressed bytes: header, segment table, then
// one 1 MiB block at a time. Nothing is written before the whole table has been checked,
// so a stream that lies about its size or points outside the base is refused before it
// can fill a disk. Base bytes are read with pread at the segment's base_offset, never
// mapped or loaded whole.

#include "modelcast/xform.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>
#include <zstd_errors.h>

#include <cerrno>
#include <cstring>

#include "modelcast/fs.h"
#include "modelcast/sha256.h"
#include "xform_files.h"

namespace modelcast {

namespace {

constexpr char kMagic[4] = {'M', 'C', 'X', 'F'};
constexpr size_t kStreamReadBytes = 256 * 1024;

Status corrupt(const std::string& problem) { return error(StatusCode::kCorruption, "xform stream: " + problem); }

void put_le(std::string& out, uint64_t v, unsigned bytes) {
  for (unsigned i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint64_t get_le(const uint8_t* p, unsigned bytes) {
  uint64_t v = 0;
  for (unsigned i = 0; i < bytes; ++i) v |= static_cast<uint64_t>(p[i]) << (8 * i);
  return v;
}

// Element-wise residual and its inverse, modulo 2^(8 * width) for subtraction.
inline uint32_t residual(XformOp op, uint32_t t, uint32_t b) {
  switch (op) {
    case XformOp::kXor: return t ^ b;
    case XformOp::kSub: return t - b;
    case XformOp::kNone: break;
  }
  return t;
}
inline uint32_t restore(XformOp op, uint32_t r, uint32_t b) {
  switch (op) {
    case XformOp::kXor: return r ^ b;
    case XformOp::kSub: return r + b;
    case XformOp::kNone: break;
  }
  return r;
}

// Width as a template parameter so the per-element loops compile to straight code.
template <unsigned W>
void forward(XformOp op, const uint8_t* target, const uint8_t* base, size_t n, uint8_t* out) {
  const size_t e = n / W;
  for (size_t i = 0; i < e; ++i) {
    uint32_t t = static_cast<uint32_t>(get_le(target + i * W, W));
    uint32_t b = base != nullptr ? static_cast<uint32_t>(get_le(base + i * W, W)) : 0;
    uint32_t r = residual(op, t, b);
    for (unsigned j = 0; j < W; ++j) out[j * e + i] = static_cast<uint8_t>(r >> (8 * j));
  }
  for (size_t k = e * W; k < n; ++k)
    out[k] = static_cast<uint8_t>(residual(op, target[k], base != nullptr ? base[k] : 0));
}

template <unsigned W>
void inverse(XformOp op, const uint8_t* planes, const uint8_t* base, size_t n, uint8_t* out) {
  const size_t e = n / W;
  for (size_t i = 0; i < e; ++i) {
    uint32_t r = 0;
    for (unsigned j = 0; j < W; ++j) r |= static_cast<uint32_t>(planes[j * e + i]) << (8 * j);
    uint32_t b = base != nullptr ? static_cast<uint32_t>(get_le(base + i * W, W)) : 0;
    uint32_t t = restore(op, r, b);
    for (unsigned j = 0; j < W; ++j) out[i * W + j] = static_cast<uint8_t>(t >> (8 * j));
  }
  for (size_t k = e * W; k < n; ++k)
    out[k] = static_cast<uint8_t>(restore(op, planes[k], base != nullptr ? base[k] : 0));
}

std::string op_name(XformOp op) {
  switch (op) {
    case XformOp::kNone: return "none";
    case XformOp::kXor: return "xor";
    case XformOp::kSub: return "sub";
  }
  return "op " + std::to_string(static_cast<unsigned>(op));
}

struct DCtxFree {
  void operator()(ZSTD_DCtx* d) const { ZSTD_freeDCtx(d); }
};

}  // namespace

std::string xform_header_bytes(uint64_t target_size, const std::vector<XformSegment>& segments) {
  std::string out(kMagic, sizeof kMagic);
  put_le(out, kXformVersion, 4);
  put_le(out, target_size, 8);
  put_le(out, segments.size(), 4);
  for (const XformSegment& s : segments) {
    out.push_back(static_cast<char>(s.op));
    out.push_back(static_cast<char>(s.width));
    put_le(out, 0, 2);
    put_le(out, s.length, 8);
    put_le(out, s.base_offset, 8);
  }
  return out;
}

Status check_xform_segments(uint64_t target_size, const std::vector<XformSegment>& segments, int64_t base_size) {
  if (segments.size() > kXformMaxSegments)
    return corrupt(std::to_string(segments.size()) + " segments, more than the limit of " +
                   std::to_string(kXformMaxSegments));
  uint64_t covered = 0;
  for (size_t i = 0; i < segments.size(); ++i) {
    const XformSegment& s = segments[i];
    const std::string where = "segment " + std::to_string(i) + ": ";
    if (s.width != 1 && s.width != 2 && s.width != 4)
      return corrupt(where + "element width " + std::to_string(s.width) + " is not 1, 2 or 4");
    if (s.op != XformOp::kNone && s.op != XformOp::kXor && s.op != XformOp::kSub)
      return corrupt(where + "unknown op " + std::to_string(static_cast<unsigned>(s.op)));
    if (s.length == 0) return corrupt(where + "is empty");
    if (s.op == XformOp::kNone) {
      if (s.base_offset != 0)
        return corrupt(where + "op none with base_offset " + std::to_string(s.base_offset) + " (must be 0)");
    } else if (base_size < 0) {
      return corrupt(where + "op " + op_name(s.op) + " in a blob, which has no base");
    } else if (s.base_offset > static_cast<uint64_t>(base_size) ||
               s.length > static_cast<uint64_t>(base_size) - s.base_offset) {
      return corrupt(where + "base range [" + std::to_string(s.base_offset) + ", +" + std::to_string(s.length) +
                     ") lies outside the " + std::to_string(base_size) + "-byte base");
    }
    if (s.length > target_size - covered)
      return corrupt("segment lengths add up to more than target_size " + std::to_string(target_size));
    covered += s.length;
  }
  if (covered != target_size)
    return corrupt("segment lengths add up to " + std::to_string(covered) + ", not target_size " +
                   std::to_string(target_size));
  return OkStatus();
}

void xform_forward_block(XformOp op, unsigned width, const uint8_t* target, const uint8_t* base, size_t n,
                         uint8_t* out) {
  if (op == XformOp::kNone) base = nullptr;
  switch (width) {
    case 4: return forward<4>(op, target, base, n, out);
    case 2: return forward<2>(op, target, base, n, out);
    default: return forward<1>(op, target, base, n, out);
  }
}

void xform_inverse_block(XformOp op, unsigned width, const uint8_t* planes, const uint8_t* base, size_t n,
                         uint8_t* out) {
  if (op == XformOp::kNone) base = nullptr;
  switch (width) {
    case 4: return inverse<4>(op, planes, base, n, out);
    case 2: return inverse<2>(op, planes, base, n, out);
    default: return inverse<1>(op, planes, base, n, out);
  }
}

struct XformDecoder::Impl {
  enum class Phase { kHeader, kTable, kPayload, kDone };

  int base_fd;
  int64_t base_size = -1;
  uint64_t expected_size;
  XformOutput out;
  Status failed;

  std::unique_ptr<ZSTD_DCtx, DCtxFree> dctx;
  std::vector<uint8_t> staging;
  bool frame_done = false;

  Phase phase = Phase::kHeader;
  std::string head;  // header, then header + table, until parsed
  uint64_t target_size = 0;
  uint32_t segment_count = 0;
  std::vector<XformSegment> segments;
  size_t segment = 0;       // current segment
  uint64_t segment_pos = 0;  // bytes of it already written
  std::vector<uint8_t> block, base_block, out_block;
  size_t block_len = 0, block_fill = 0;
  uint64_t written = 0;
  Sha256 hash;

  Impl(int fd, uint64_t expected, XformOutput o) : base_fd(fd), expected_size(expected), out(std::move(o)) {}

  Status start() {
    if (base_fd >= 0) {
      struct stat st;
      if (::fstat(base_fd, &st) != 0) return error(StatusCode::kIOError, std::string("xform base: ") + std::strerror(errno));
      base_size = static_cast<int64_t>(st.st_size);
    }
    dctx.reset(ZSTD_createDCtx());
    if (!dctx) return error(StatusCode::kOutOfMemory, "xform: out of memory for a zstd context");
    ZSTD_DCtx_setParameter(dctx.get(), ZSTD_d_windowLogMax, kXformMaxWindowLog);
    staging.resize(ZSTD_DStreamOutSize());
    return OkStatus();
  }

  Status feed(const uint8_t* data, size_t size) {
    ZSTD_inBuffer in{data, size, 0};
    for (;;) {
      ZSTD_outBuffer o{staging.data(), staging.size(), 0};
      const size_t in_before = in.pos;
      size_t rc = ZSTD_decompressStream(dctx.get(), &o, &in);
      if (ZSTD_isError(rc)) {
        if (ZSTD_getErrorCode(rc) == ZSTD_error_frameParameter_windowTooLarge)
          return corrupt("zstd window larger than 2^" + std::to_string(kXformMaxWindowLog) + " bytes");
        return corrupt(std::string("zstd: ") + ZSTD_getErrorName(rc));
      }
      if (o.pos > 0) MC_RETURN_IF_ERROR(consume(staging.data(), o.pos));
      // 0: a frame ended and is flushed; later calls without input must not undo that.
      if (rc == 0) frame_done = true;
      else if (in.pos > in_before || o.pos > 0) frame_done = false;
      if (in.pos == in.size && o.pos < o.size) return OkStatus();
    }
  }

  Status consume(const uint8_t* p, size_t n) {
    while (n > 0) {
      switch (phase) {
        case Phase::kHeader:
        case Phase::kTable: {
          size_t want = (phase == Phase::kHeader ? kXformHeaderSize
                                                 : kXformHeaderSize + size_t{segment_count} * kXformSegmentEntrySize) -
                        head.size();
          size_t take = std::min(want, n);
          head.append(reinterpret_cast<const char*>(p), take);
          p += take;
          n -= take;
          if (take == want) MC_RETURN_IF_ERROR(phase == Phase::kHeader ? parse_header() : parse_table());
          break;
        }
        case Phase::kPayload: {
          size_t take = std::min(block_len - block_fill, n);
          std::memcpy(block.data() + block_fill, p, take);
          block_fill += take;
          p += take;
          n -= take;
          if (block_fill == block_len) MC_RETURN_IF_ERROR(finish_block());
          break;
        }
        case Phase::kDone:
          return corrupt("payload is longer than the segment table says");
      }
    }
    return OkStatus();
  }

  Status parse_header() {
    const uint8_t* h = reinterpret_cast<const uint8_t*>(head.data());
    if (std::memcmp(h, kMagic, sizeof kMagic) != 0) return corrupt("bad magic (not an MCXF stream)");
    uint32_t version = static_cast<uint32_t>(get_le(h + 4, 4));
    if (version != kXformVersion) return corrupt("unsupported version " + std::to_string(version));
    target_size = get_le(h + 8, 8);
    if (target_size != expected_size)
      return error(StatusCode::kHashMismatch, "xform stream: declares " + std::to_string(target_size) +
                                                  " bytes of output, the manifest says " +
                                                  std::to_string(expected_size));
    segment_count = static_cast<uint32_t>(get_le(h + 16, 4));
    if (segment_count > kXformMaxSegments)
      return corrupt(std::to_string(segment_count) + " segments, more than the limit of " +
                     std::to_string(kXformMaxSegments));
    phase = Phase::kTable;
    head.reserve(kXformHeaderSize + size_t{segment_count} * kXformSegmentEntrySize);
    return segment_count == 0 ? parse_table() : OkStatus();
  }

  Status parse_table() {
    const uint8_t* e = reinterpret_cast<const uint8_t*>(head.data()) + kXformHeaderSize;
    segments.resize(segment_count);
    for (uint32_t i = 0; i < segment_count; ++i, e += kXformSegmentEntrySize) {
      if (e[2] != 0 || e[3] != 0) return corrupt("segment " + std::to_string(i) + ": reserved bytes are not zero");
      segments[i].op = static_cast<XformOp>(e[0]);
      segments[i].width = e[1];
      segments[i].length = get_le(e + 4, 8);
      segments[i].base_offset = get_le(e + 12, 8);
    }
    MC_RETURN_IF_ERROR(check_xform_segments(target_size, segments, base_size));
    std::string().swap(head);
    if (target_size == 0) {
      phase = Phase::kDone;
      return OkStatus();
    }
    const size_t block_bytes = static_cast<size_t>(std::min<uint64_t>(kXformBlockSize, target_size));
    block.resize(block_bytes);
    out_block.resize(block_bytes);
    phase = Phase::kPayload;
    next_block();
    return OkStatus();
  }

  void next_block() {
    block_fill = 0;
    block_len = static_cast<size_t>(std::min<uint64_t>(kXformBlockSize, segments[segment].length - segment_pos));
  }

  Status finish_block() {
    const XformSegment& s = segments[segment];
    const uint8_t* base = nullptr;
    if (s.op != XformOp::kNone) {
      base_block.resize(block.size());
      MC_RETURN_IF_ERROR(read_at(base_fd, base_block.data(), block_len, s.base_offset + segment_pos, "xform base"));
      base = base_block.data();
    }
    xform_inverse_block(s.op, s.width, block.data(), base, block_len, out_block.data());
    hash.update(out_block.data(), block_len);
    MC_RETURN_IF_ERROR(out(out_block.data(), block_len));
    written += block_len;
    segment_pos += block_len;
    if (segment_pos == s.length) {
      segment_pos = 0;
      if (++segment == segments.size()) {
        phase = Phase::kDone;
        return OkStatus();
      }
    }
    next_block();
    return OkStatus();
  }

  Status finish_status() const {
    if (phase != Phase::kDone) {
      if (phase != Phase::kPayload) return corrupt("ends inside the header or segment table");
      return corrupt("payload ends early: " + std::to_string(written) + " of " + std::to_string(target_size) +
                     " bytes");
    }
    if (!frame_done) return corrupt("zstd frame is truncated");
    return OkStatus();
  }
};

XformDecoder::XformDecoder(int base_fd, uint64_t expected_size, XformOutput out)
    : impl_(std::make_unique<Impl>(base_fd, expected_size, std::move(out))) {
  impl_->failed = impl_->start();
}

XformDecoder::~XformDecoder() = default;

Status XformDecoder::feed(const void* data, size_t size) {
  if (!impl_->failed.ok()) return impl_->failed;
  impl_->failed = impl_->feed(static_cast<const uint8_t*>(data), size);
  return impl_->failed;
}

Result<std::string> XformDecoder::finish() {
  if (!impl_->failed.ok()) return impl_->failed;
  impl_->failed = impl_->finish_status();
  if (!impl_->failed.ok()) return impl_->failed;
  return impl_->hash.finish_hex();
}

uint64_t XformDecoder::bytes_written() const { return impl_->written; }

Result<XformDecoded> xform_decode_file(const std::string& stream_path, const std::string& base_path,
                                       uint64_t expected_size, const std::string& expected_sha256, int out_fd) {
  MC_ASSIGN_OR_RETURN(InputFile stream, InputFile::open(stream_path));
  InputFile base;
  if (!base_path.empty()) {
    MC_ASSIGN_OR_RETURN(base, InputFile::open(base_path));
  }
  XformDecoder decoder(base.fd(), expected_size, [out_fd](const uint8_t* data, size_t size) {
    return write_all(out_fd, std::string_view(reinterpret_cast<const char*>(data), size), "xform output");
  });
  std::vector<uint8_t> buf(kStreamReadBytes);
  for (;;) {
    ssize_t n = ::read(stream.fd(), buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return error(StatusCode::kIOError, stream_path + ": " + std::strerror(errno));
    if (n == 0) break;
    MC_RETURN_IF_ERROR(decoder.feed(buf.data(), static_cast<size_t>(n)).with_context(stream_path));
  }
  Result<std::string> digest = decoder.finish();
  if (!digest.ok()) return digest.status().with_context(stream_path);
  if (!expected_sha256.empty() && digest.value() != expected_sha256)
    return error(StatusCode::kHashMismatch,
                 stream_path + ": decodes to sha256 " + digest.value() + ", expected " + expected_sha256);
  return XformDecoded{decoder.bytes_written(), digest.value()};
}

}  // namespace modelcast
