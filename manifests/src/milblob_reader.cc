// Core ML's weight file (an .mlpackage's Data/com.apple.CoreML/weights/weight.bin, MIL blob
// storage version 2): where each tensor's bytes lie, so a delta compares a tensor with the
// same tensor of the previous version.
//
// Layout (all little-endian): a 64-byte header {u32 count, u32 version = 2, 56 reserved};
// then per tensor a 64-byte metadata entry {u32 sentinel 0xDEADBEEF, u32 dtype code,
// u64 size in bytes, u64 offset of the data in the file, u64 padding in bits, reserved}
// followed by the data; every entry starts 64-byte aligned. Nothing here trusts the file:
// every entry is read with pread, checked against the file's size, and the walk stops
// with kCorruption at the first entry that is not where the chain says.

#include <algorithm>
#include <cstring>
#include <map>

#include "modelcast/fs.h"
#include "modelcast/xform_encode.h"
#include "xform_files.h"

namespace modelcast {

namespace {

constexpr uint64_t kMilBlobAlignment = 64;
constexpr uint32_t kMilBlobVersion = 2;
constexpr uint32_t kMilBlobSentinel = 0xDEADBEEF;

uint32_t le32(const unsigned char* p) {
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 | static_cast<uint32_t>(p[2]) << 16 |
         static_cast<uint32_t>(p[3]) << 24;
}
uint64_t le64(const unsigned char* p) { return static_cast<uint64_t>(le32(p)) | static_cast<uint64_t>(le32(p + 4)) << 32; }

uint64_t align_up(uint64_t n) { return (n + kMilBlobAlignment - 1) / kMilBlobAlignment * kMilBlobAlignment; }

struct Header {
  uint32_t count = 0;
  uint32_t version = 0;
};

Result<Header> read_header(const InputFile& file, const std::string& path) {
  if (file.size() < kMilBlobAlignment) return error(StatusCode::kCorruption, path + ": shorter than a MIL blob header");
  unsigned char raw[kMilBlobAlignment];
  MC_RETURN_IF_ERROR(read_at(file.fd(), raw, sizeof raw, 0, path));
  return Header{le32(raw), le32(raw + 4)};
}

}  // namespace

bool looks_like_milblob(const std::string& path) {
  auto file = InputFile::open(path);
  if (!file.ok() || file->size() < 2 * kMilBlobAlignment) return false;
  unsigned char raw[2 * kMilBlobAlignment];
  if (!read_at(file->fd(), raw, sizeof raw, 0, path).ok()) return false;
  return le32(raw) > 0 && le32(raw + 4) == kMilBlobVersion && le32(raw + kMilBlobAlignment) == kMilBlobSentinel;
}

Result<std::vector<TensorExtent>> read_milblob_tensor_extents(const std::string& path) {
  MC_ASSIGN_OR_RETURN(InputFile file, InputFile::open(path));
  MC_ASSIGN_OR_RETURN(Header header, read_header(file, path));
  if (header.version != kMilBlobVersion)
    return error(StatusCode::kCorruption, path + ": MIL blob storage version " + std::to_string(header.version) + ", not 2");
  // Each entry takes at least its 64-byte metadata, which bounds a hostile count.
  if (header.count > (file.size() - kMilBlobAlignment) / kMilBlobAlignment)
    return error(StatusCode::kCorruption, path + ": " + std::to_string(header.count) + " tensors cannot fit in " +
                                              std::to_string(file.size()) + " bytes");
  std::vector<TensorExtent> out;
  out.reserve(header.count);
  // Tensors have no names in weight.bin. "<dtype code>:<size>#<n>" (the n-th tensor of that
  // code and size) stays the same when a tensor of another shape is added or removed.
  std::map<std::string, size_t> seen;
  uint64_t at = kMilBlobAlignment;
  for (uint32_t i = 0; i < header.count; ++i) {
    const std::string where = path + ": tensor " + std::to_string(i) + " at byte " + std::to_string(at);
    if (at > file.size() || file.size() - at < kMilBlobAlignment)
      return error(StatusCode::kCorruption, where + ": metadata past the end of the file");
    unsigned char meta[kMilBlobAlignment];
    MC_RETURN_IF_ERROR(read_at(file.fd(), meta, sizeof meta, at, path));
    if (le32(meta) != kMilBlobSentinel) return error(StatusCode::kCorruption, where + ": no 0xDEADBEEF sentinel");
    const uint32_t dtype = le32(meta + 4);
    const uint64_t size = le64(meta + 8);
    const uint64_t offset = le64(meta + 16);
    if (offset < at + kMilBlobAlignment || offset % kMilBlobAlignment != 0 || offset > file.size() ||
        size > file.size() - offset)
      return error(StatusCode::kCorruption, where + ": data [" + std::to_string(offset) + ", +" + std::to_string(size) +
                                                ") is not an aligned range after its metadata inside the file");
    const std::string key = std::to_string(dtype) + ":" + std::to_string(size);
    TensorExtent t;
    t.name = key + "#" + std::to_string(seen[key]++);
    t.offset = offset;
    t.length = size;
    out.push_back(std::move(t));
    at = align_up(offset + size);
  }
  return out;
}

}  // namespace modelcast
