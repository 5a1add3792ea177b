// The xform planner: cuts the target into regions (tensors, the bytes between them,
// chunks of large ones), maps each to base bytes (the same-named tensor, or the same
// position), and picks per region the op and width whose residual compresses smallest.
//
// Choosing by trial rather than by dtype: a float32 tensor that was only shifted between
// versions XORs to zeros at any width, an int8 fine-tune subtracts best at width 1, and a
// "float32" tensor holding packed int8 weights is not what its dtype says.

#include <zstd.h>

#include <algorithm>
#include <map>
#include <memory>

#include "modelcast/fs.h"
#include "modelcast/xform_encode.h"
#include "xform_files.h"

namespace modelcast {

namespace {

// Regions are chosen separately up to this size, so the op can follow the content of a
// large file without tensors (a fine-tuned body, a retrained head).
constexpr uint64_t kMaxRegionBytes = 8ull << 20;
// What one candidate is judged on: a region up to this size whole, else this many bytes
// in kSamplePieces windows spread over it.
constexpr size_t kSampleBytes = 512 * 1024;
constexpr size_t kSamplePieces = 4;
constexpr int kSampleLevel = 3;
// Neighbouring regions below this size that continue each other in the base are judged
// together: too small to be worth a choice of their own.
constexpr uint64_t kSmallRegionBytes = 64 * 1024;

constexpr uint64_t kUnmapped = ~0ull;

struct Region {
  uint64_t offset = 0;
  uint64_t length = 0;
  uint64_t base_offset = kUnmapped;  // where the comparable base bytes start
};

struct CCtxFree {
  void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
};

// Tensors sorted by offset, inside the file, not overlapping the one before.
std::vector<TensorExtent> usable(std::vector<TensorExtent> tensors, uint64_t file_size) {
  std::sort(tensors.begin(), tensors.end(),
            [](const TensorExtent& a, const TensorExtent& b) { return a.offset < b.offset; });
  std::vector<TensorExtent> out;
  uint64_t end = 0;
  for (TensorExtent& t : tensors) {
    if (t.length == 0 || t.offset < end || t.offset > file_size || t.length > file_size - t.offset) continue;
    end = t.offset + t.length;
    out.push_back(std::move(t));
  }
  return out;
}

// Bytes at the same position in the base, where the base has them.
void add_positional(std::vector<Region>& regions, uint64_t offset, uint64_t length, int64_t base_size) {
  if (length == 0) return;
  uint64_t mapped = 0;
  if (base_size > 0 && offset < static_cast<uint64_t>(base_size))
    mapped = std::min<uint64_t>(length, static_cast<uint64_t>(base_size) - offset);
  if (mapped > 0) regions.push_back({offset, mapped, offset});
  if (mapped < length) regions.push_back({offset + mapped, length - mapped, kUnmapped});
}

bool continues(const Region& a, const Region& b) {
  if (a.base_offset == kUnmapped || b.base_offset == kUnmapped) return a.base_offset == b.base_offset;
  return a.base_offset + a.length == b.base_offset;
}

std::vector<Region> make_regions(uint64_t target_size, int64_t base_size, const std::vector<TensorExtent>& target_tensors,
                                 const std::vector<TensorExtent>& base_tensors, uint64_t base_file_size) {
  std::map<std::string, const TensorExtent*> in_base;
  std::vector<TensorExtent> base_usable = usable(base_tensors, base_file_size);
  for (const TensorExtent& t : base_usable) in_base.emplace(t.name, &t);

  std::vector<Region> regions;
  uint64_t cursor = 0;
  for (const TensorExtent& t : usable(target_tensors, target_size)) {
    add_positional(regions, cursor, t.offset - cursor, base_size);
    auto it = in_base.find(t.name);
    if (base_size >= 0 && it != in_base.end() && it->second->length == t.length)
      regions.push_back({t.offset, t.length, it->second->offset});
    else
      add_positional(regions, t.offset, t.length, base_size);
    cursor = t.offset + t.length;
  }
  add_positional(regions, cursor, target_size - cursor, base_size);

  // Merge small neighbours that continue each other, then split what is too large.
  std::vector<Region> merged;
  for (const Region& r : regions) {
    if (!merged.empty() && continues(merged.back(), r) &&
        (merged.back().length < kSmallRegionBytes || r.length < kSmallRegionBytes))
      merged.back().length += r.length;
    else
      merged.push_back(r);
  }
  std::vector<Region> out;
  for (const Region& r : merged) {
    for (uint64_t done = 0; done < r.length;) {
      uint64_t n = std::min(kMaxRegionBytes, r.length - done);
      // An even split keeps the last chunk from being a sliver.
      uint64_t pieces = (r.length - done + kMaxRegionBytes - 1) / kMaxRegionBytes;
      if (pieces > 1) n = ((r.length - done) / pieces + 3) & ~3ull;
      n = std::min(n, r.length - done);
      out.push_back({r.offset + done, n, r.base_offset == kUnmapped ? kUnmapped : r.base_offset + done});
      done += n;
    }
  }
  return out;
}

class Chooser {
 public:
  Chooser(const InputFile& target, const InputFile* base) : target_(target), base_(base) {}

  Status start() {
    cctx_.reset(ZSTD_createCCtx());
    if (!cctx_) return error(StatusCode::kOutOfMemory, "zstd: out of memory");
    t_.resize(kSampleBytes);
    b_.resize(kSampleBytes);
    planes_.resize(kSampleBytes);
    packed_.resize(ZSTD_compressBound(kSampleBytes));
    return OkStatus();
  }

  Result<XformSegment> choose(const Region& r) {
    MC_RETURN_IF_ERROR(load_sample(r));
    XformSegment best;
    best.length = r.length;
    size_t best_size = SIZE_MAX;
    const bool mapped = base_ != nullptr && r.base_offset != kUnmapped;
    for (XformOp op : {XformOp::kNone, XformOp::kXor, XformOp::kSub}) {
      if (op != XformOp::kNone && !mapped) break;
      for (uint8_t width : {uint8_t{4}, uint8_t{2}, uint8_t{1}}) {
        MC_ASSIGN_OR_RETURN(size_t size, trial(op, width));
        if (size < best_size) {
          best_size = size;
          best.op = op;
          best.width = width;
          best.base_offset = op == XformOp::kNone ? 0 : r.base_offset;
        }
      }
    }
    return best;
  }

 private:
  // Fills pieces_ with (offset in sample, length) windows, each starting at a multiple of 4
  // from the region start, so elements line up the way the encoder will see them.
  Status load_sample(const Region& r) {
    pieces_.clear();
    const bool mapped = base_ != nullptr && r.base_offset != kUnmapped;
    std::vector<std::pair<uint64_t, size_t>> windows;  // offset in region, length
    if (r.length <= kSampleBytes) {
      windows.push_back({0, static_cast<size_t>(r.length)});
    } else {
      const size_t piece = kSampleBytes / kSamplePieces;
      const uint64_t stride = (r.length - piece) / (kSamplePieces - 1);
      for (size_t i = 0; i < kSamplePieces; ++i) windows.push_back({(i * stride) & ~3ull, piece});
    }
    size_t at = 0;
    for (const auto& [offset, length] : windows) {
      MC_RETURN_IF_ERROR(read_at(target_.fd(), t_.data() + at, length, r.offset + offset, "xform planner: target"));
      if (mapped)
        MC_RETURN_IF_ERROR(read_at(base_->fd(), b_.data() + at, length, r.base_offset + offset, "xform planner: base"));
      pieces_.push_back({at, length});
      at += length;
    }
    return OkStatus();
  }

  Result<size_t> trial(XformOp op, uint8_t width) {
    size_t total = 0;
    for (const auto& [at, length] : pieces_) {
      xform_forward_block(op, width, t_.data() + at, b_.data() + at, length, planes_.data());
      size_t n = ZSTD_compressCCtx(cctx_.get(), packed_.data(), packed_.size(), planes_.data(), length, kSampleLevel);
      if (ZSTD_isError(n)) return error(StatusCode::kIOError, std::string("xform planner: zstd: ") + ZSTD_getErrorName(n));
      total += n;
    }
    return total;
  }

  const InputFile& target_;
  const InputFile* base_;
  std::unique_ptr<ZSTD_CCtx, CCtxFree> cctx_;
  std::vector<uint8_t> t_, b_, planes_, packed_;
  std::vector<std::pair<size_t, size_t>> pieces_;
};

// Neighbours with the same op and width that continue each other become one segment.
std::vector<XformSegment> coalesce(const std::vector<XformSegment>& in) {
  std::vector<XformSegment> out;
  for (const XformSegment& s : in) {
    if (!out.empty()) {
      XformSegment& last = out.back();
      bool same = last.op == s.op && last.width == s.width;
      bool contiguous = s.op == XformOp::kNone || last.base_offset + last.length == s.base_offset;
      if (same && contiguous) {
        last.length += s.length;
        continue;
      }
    }
    out.push_back(s);
  }
  return out;
}

}  // namespace

Result<std::vector<XformSegment>> plan_xform(const std::string& target_path, const std::string& base_path,
                                             const std::vector<TensorExtent>& target_tensors,
                                             const std::vector<TensorExtent>& base_tensors) {
  MC_ASSIGN_OR_RETURN(InputFile target, InputFile::open(target_path));
  InputFile base;
  if (!base_path.empty()) {
    MC_ASSIGN_OR_RETURN(base, InputFile::open(base_path));
  }
  const int64_t base_size = base_path.empty() ? -1 : static_cast<int64_t>(base.size());
  std::vector<Region> regions = make_regions(target.size(), base_size, target_tensors, base_tensors, base.size());

  Chooser chooser(target, base_path.empty() ? nullptr : &base);
  MC_RETURN_IF_ERROR(chooser.start());
  std::vector<XformSegment> segments;
  for (const Region& r : regions) {
    MC_ASSIGN_OR_RETURN(XformSegment s, chooser.choose(r));
    segments.push_back(s);
  }
  segments = coalesce(segments);
  if (segments.size() > kXformMaxSegments) {
    // More tensors than a table may hold: compare by position only, which needs a few
    // segments per kMaxRegionBytes.
    if (target_tensors.empty()) return error(StatusCode::kInvalidArgument, target_path + ": too large to plan");
    return plan_xform(target_path, base_path);
  }
  return segments;
}

}  // namespace modelcast
