// The `xform` encoding: a weight-aware transform of a file, optionally against a base file,
// carried in one zstd frame (FORMAT.md, "Transforms", is the normative text).
//
// The decompressed bytes are an MCXF stream: a header, a segment table, then for each
// segment its residual (target XOR base, target - base, or the target itself) split into
// byte planes in 1 MiB blocks. Planes put the similar bytes of neighbouring elements next
// to each other (all exponents, all low mantissa bytes), which zstd compresses far better
// than interleaved float bytes.
//
// This header is the device side: the decoder and the pieces both sides share. It streams:
// compressed bytes in, the base read with pread at each segment's base_offset, the output
// written in order and hashed as it goes, in O(1 MiB) of memory whatever the model size.
// The encoder and planner (publisher side) are in modelcast/xform_encode.h.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "modelcast/status.h"

namespace modelcast {

constexpr uint32_t kXformVersion = 1;
constexpr size_t kXformHeaderSize = 20;        // "MCXF", version, target_size, segment_count
constexpr size_t kXformSegmentEntrySize = 20;  // op, width, 2 zero bytes, length, base_offset
constexpr size_t kXformBlockSize = 1 << 20;    // 1 MiB: the unit planes are made over
// A table larger than this is refused before it is read: it bounds the decoder's memory
// (65,536 x 20 bytes = 1.25 MiB) and is far above a model's tensor count.
constexpr uint32_t kXformMaxSegments = 65536;
// The largest zstd window a decoder accepts (128 MiB), as for `zstd` blobs.
constexpr int kXformMaxWindowLog = 27;

enum class XformOp : uint8_t {
  kNone = 0,  // residual = target
  kXor = 1,   // residual = target XOR base
  kSub = 2,   // residual = target - base, modulo 2^(8 * width)
};

struct XformSegment {
  XformOp op = XformOp::kNone;
  uint8_t width = 1;  // bytes per element: 1, 2 or 4, little-endian
  uint64_t length = 0;
  uint64_t base_offset = 0;  // where this segment's base bytes start; 0 for kNone
};

// The header and segment table as bytes (the start of every MCXF stream).
std::string xform_header_bytes(uint64_t target_size, const std::vector<XformSegment>& segments);

// kCorruption naming the first rule the table breaks: widths 1/2/4, ops 0..2, op none with
// base_offset 0, no empty segment, lengths summing to target_size, every base range inside
// the base. base_size < 0 means there is no base (a blob): only op none is allowed.
Status check_xform_segments(uint64_t target_size, const std::vector<XformSegment>& segments, int64_t base_size);

// One block of n bytes (n <= kXformBlockSize): the residual planes of `target` against
// `base` (base is ignored for kNone), and back. `out` holds n bytes; buffers do not overlap.
void xform_forward_block(XformOp op, unsigned width, const uint8_t* target, const uint8_t* base, size_t n,
                         uint8_t* out);
void xform_inverse_block(XformOp op, unsigned width, const uint8_t* planes, const uint8_t* base, size_t n,
                         uint8_t* out);

// Receives the decoded file in order; an error stops decoding.
using XformOutput = std::function<Status(const uint8_t* data, size_t size)>;

// Push decoder: feed it the compressed bytes as they arrive (from a file or a download),
// then call finish(). Not thread-safe.
class XformDecoder {
 public:
  // base_fd < 0 decodes a blob (no base; only op none is valid). The descriptor is read
  // with pread only and stays owned by the caller. expected_size is the manifest's `size`:
  // a stream declaring any other target_size is refused before anything is written.
  XformDecoder(int base_fd, uint64_t expected_size, XformOutput out);
  ~XformDecoder();
  XformDecoder(const XformDecoder&) = delete;
  XformDecoder& operator=(const XformDecoder&) = delete;

  Status feed(const void* data, size_t size);
  // Checks that the zstd frame and the MCXF payload both ended exactly; returns the
  // SHA-256 (lowercase hex) of everything written.
  Result<std::string> finish();
  uint64_t bytes_written() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct XformDecoded {
  uint64_t size = 0;
  std::string sha256;  // lowercase hex
};

// Decodes the file at stream_path against base_path ("" for a blob) into out_fd, which
// must be open for writing at the position the output starts. When expected_sha256 is not
// empty, a different result is kHashMismatch.
Result<XformDecoded> xform_decode_file(const std::string& stream_path, const std::string& base_path,
                                       uint64_t expected_size, const std::string& expected_sha256, int out_fd);

}  // namespace modelcast
