// The content-addressed blob store of a tree: blobs/sha256/<2>/<64>[.zst].
//
// put_file reads a model file once, hashing it and compressing it with zstd (level 3) in
// the same pass into a temporary file, with fixed buffers so memory does not grow with the
// file. A blob path is written only when absent (never rewritten with other bytes) and is
// fsynced, file and folder, before put_file returns: the caller may then write manifests
// naming it. Every read and write goes through a FileSystem. check_blob (blob_check.h) is
// the reader's side. Not thread-safe: callers serialise writers with the tree lock.
#pragma once

#include <cstdint>
#include <string>

#include "modelcast/file_system.h"
#include "modelcast/manifest_v2.h"
#include "modelcast/status.h"

namespace modelcast {

constexpr int kZstdLevel = 3;
// zstd is kept only when it saves at least this share of the bytes; otherwise devices
// would pay decompression for nothing.
constexpr int kMinZstdSavingPercent = 5;

struct StoredBlob {
  std::string sha256;  // of the original content
  uint64_t size = 0;   // of the original content
  std::string encoding;  // "zstd" or "identity"
  uint64_t stored_size = 0;
  std::string url;     // tree-relative path, blob_url() of names.h
  bool created = false;  // false when the blob was already in the tree
};

class BlobTempFile;

class BlobStore {
 public:
  // `tmp_dir` must be on the same file system as the tree (blobs are linked into place).
  BlobStore(std::string tree_root, std::string tmp_dir, FileSystem& fs = *posix_file_system())
      : fs_(fs), root_(std::move(tree_root)), tmp_dir_(std::move(tmp_dir)) {}

  // Stores the content of `source`; `label` names it in progress lines and errors.
  Result<StoredBlob> put_file(const std::string& source, const std::string& label, bool show_progress);

  // Splits the stored blob at `blob_url` (tree-relative) into the fewest equal parts of at
  // most `max_part_bytes` (2 to kMaxParts of them) under parts/sha256/, streaming, each
  // written only when absent and fsynced; then removes the blob file, so nothing larger
  // than the limit stays in the tree. Returns the parts in order.
  Result<std::vector<BlobPart>> split_into_parts(const std::string& blob_url, uint64_t max_part_bytes);

 private:
  Result<StoredBlob> existing(const std::string& sha256, uint64_t size) const;
  Status copy_identity(const std::string& source, const std::string& expected_sha256, BlobTempFile* tmp,
                       const std::string& label, bool show_progress);

  FileSystem& fs_;
  std::string root_;
  std::string tmp_dir_;
};

// Puts a finished, synced temp file at its content-addressed path in the tree: linked,
// never replacing what is there (the same path always means the same bytes), then the
// folder synced. Blobs, deltas and transformed blobs all land this way.
Status link_into_place(FileSystem& fs, const std::string& tmp_path, const std::string& final_path);

}  // namespace modelcast
