// Publisher side of the `xform` encoding (modelcast/xform.h has the format and decoder):
// the planner that chooses each segment's op and element width, and the encoder that
// writes the zstd-compressed MCXF stream. Both read their files with pread in 1 MiB
// blocks, never whole.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "modelcast/model_info.h"
#include "modelcast/status.h"
#include "modelcast/xform.h"

namespace modelcast {

struct XformEncodeOptions {
  int level = 3;
  // zstd worker threads: -1 one per core (when libzstd has threads), 0 single-threaded.
  int workers = -1;
  // false writes the MCXF bytes uncompressed (golden vectors show them to readers).
  bool compress = true;
};

// Writes the stream for `target_path` (against `base_path`, "" for a blob) following
// `segments` to out_path (created or truncated; not synced). Returns the bytes written.
// A plan that check_xform_segments refuses is kInvalidArgument.
Result<uint64_t> xform_encode_file(const std::string& target_path, const std::string& base_path,
                                   const std::vector<XformSegment>& segments, const std::string& out_path,
                                   const XformEncodeOptions& options = {});

// Chooses segments for target_path. Without a base (""): op none everywhere, the width that
// compresses best per region. With a base: each region gets the op (none, xor, sub) and
// width (1, 2, 4) whose residual compresses smallest with zstd on a sample of it.
// Regions: each tensor of target_tensors, compared with the same-named tensor of
// base_tensors when that has the same length (wherever it lies in the base); bytes outside
// tensors, and files without tensors, are compared with the base at the same position.
// Large regions are split into chunks chosen separately.
Result<std::vector<XformSegment>> plan_xform(const std::string& target_path, const std::string& base_path,
                                             const std::vector<TensorExtent>& target_tensors = {},
                                             const std::vector<TensorExtent>& base_tensors = {});

// The tensors of a Core ML weight file (an .mlpackage's weights/weight.bin, MIL blob
// storage version 2: a 64-byte header, then a 64-byte aligned metadata entry with sentinel
// 0xDEADBEEF before each tensor's data), in file order, for plan_xform. weight.bin has no
// tensor names: each is named "<dtype code>:<size>#<n>", the n-th of that code and size,
// so adding a tensor of another shape does not rename the rest; dtype is left empty. Read
// with pread, never loaded whole; kCorruption at the first entry that breaks the chain.
Result<std::vector<TensorExtent>> read_milblob_tensor_extents(const std::string& path);
// True when the file starts like one: version 2, at least one tensor, the first sentinel.
bool looks_like_milblob(const std::string& path);

}  // namespace modelcast
