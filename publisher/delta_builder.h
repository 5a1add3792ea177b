// Fewer bytes to devices (issue 13): for one changed file of a stream, the deltas from the
// content of earlier versions and the full content with the best lossless transform.
//
// For each base (an earlier version's content of the same file path, newest first), two
// candidates are built: a zstd patch-from (the base as reference prefix, long window) and
// an element-wise `xform` delta (xor or sub at 1, 2 or 4 bytes per element, byte planes,
// zstd), aligned by tensor for TFLite and ONNX so a tensor that moved is still compared
// with its old bytes. The smaller one is kept when it is smaller than every full blob of
// the file. The full content as an `xform` blob (op none, byte planes) is kept when it is
// smaller than the plain blob. Bases are rebuilt from the tree's own stored blobs,
// decompressed into the tree's tmp folder (streaming) and removed afterwards.
//
// Everything written is content-addressed and immutable, like blobs: written to a temp
// file, fsynced, linked into place only when absent (never rewritten), folder fsynced. An
// existing delta or `.xf` is reused as it is. Not thread-safe: callers hold the tree lock.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "modelcast/file_system.h"
#include "modelcast/manifest_v2.h"
#include "modelcast/model_info.h"
#include "modelcast/status.h"

namespace modelcast {

constexpr int kDefaultDeltaBases = 2;

// An earlier version's content of the file, as stored in the tree.
struct DeltaBase {
  std::string sha256;
  uint64_t size = 0;
  std::string encoding;  // of its stored blob: "identity" or "zstd"
  std::string url;       // of its stored blob, relative to the tree
};

struct DeltaRequest {
  std::string source_path;  // the new content, on disk
  std::string file_path;    // its path in the model ("model.tflite"): names it, gives its type
  std::string sha256;
  uint64_t size = 0;
  uint64_t plain_stored_size = 0;  // of the file's zstd or identity blob
  std::vector<DeltaBase> bases;    // newest first; the first `max_bases` distinct ones are used
  int max_bases = kDefaultDeltaBases;
  // The host's file limit (0: none): a delta above it is not kept, since deltas cannot be
  // stored in parts. An `.xf` blob above it is kept; the caller stores it in parts.
  uint64_t max_delta_bytes = 0;
};

struct DeltaResult {
  std::optional<BlobV2> xform_blob;  // set when smaller than the plain blob
  std::vector<DeltaV2> deltas;       // at most one per base, each smaller than every blob
};

class DeltaBuilder {
 public:
  // `tmp_dir` must be on the same file system as the tree (files are linked into place).
  // The builder's own reads and writes go through `fs`; the encoders map or pread the
  // files they are given directly (memory maps are outside the seam).
  DeltaBuilder(std::string tree_root, std::string tmp_dir, FileSystem& fs = *posix_file_system())
      : fs_(fs), root_(std::move(tree_root)), tmp_dir_(std::move(tmp_dir)) {}

  Result<DeltaResult> build(const DeltaRequest& request);

 private:
  Result<std::optional<BlobV2>> build_xform_blob(const DeltaRequest& r, const std::vector<TensorExtent>& target_tensors);
  Result<std::optional<DeltaV2>> build_delta(const DeltaRequest& r, const std::vector<TensorExtent>& target_tensors,
                                             const DeltaBase& base, uint64_t best_full);

  FileSystem& fs_;
  std::string root_;
  std::string tmp_dir_;
};

}  // namespace modelcast
