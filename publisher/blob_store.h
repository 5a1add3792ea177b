// The content-addressed blob store of a tree: blobs/sha256/<2>/<64>[.zst].
//
// put_file reads a model file once, hashing it and compressing it with zstd (level 3) in
// the same pass into a temporary file, with fixed buffers so memory does not grow with the
// file. A blob path is written only when absent (never rewritten with other bytes) and is
// fsynced, file and folder, before put_file returns: the caller may then write manifests
// naming it. check_blob is the reader's side: it streams a stored blob back through zstd
// and SHA-256. Not thread-safe: callers serialise writers with the tree lock.
#pragma once

#include <cstdint>
#include <string>

#include "modelcast/status.h"

namespace modelcast {

constexpr int kZstdLevel = 3;
// zstd is kept only when it saves at least this share of the bytes; otherwise devices
// would pay decompression for nothing.
constexpr int kMinZstdSavingPercent = 5;
// Bounded decoder memory for hostile or damaged blobs (level 3 needs 2 MiB windows).
constexpr int kMaxZstdWindowLog = 27;

struct StoredBlob {
  std::string sha256;  // of the original content
  uint64_t size = 0;   // of the original content
  std::string encoding;  // "zstd" or "identity"
  uint64_t stored_size = 0;
  std::string url;     // tree-relative path, blob_url() of names.h
  bool created = false;  // false when the blob was already in the tree
};

class BlobStore {
 public:
  // `tmp_dir` must be on the same file system as the tree (blobs are linked into place).
  BlobStore(std::string tree_root, std::string tmp_dir) : root_(std::move(tree_root)), tmp_dir_(std::move(tmp_dir)) {}

  // Stores the content of `source`; `label` names it in progress lines and errors.
  Result<StoredBlob> put_file(const std::string& source, const std::string& label, bool show_progress);

 private:
  Result<StoredBlob> existing(const std::string& sha256, uint64_t size) const;
  Status copy_identity(const std::string& source, const std::string& expected_sha256, const std::string& tmp_path,
                       const std::string& label, bool show_progress);
  Status link_into_place(const std::string& tmp_path, const std::string& final_path);

  std::string root_;
  std::string tmp_dir_;
};

// OK when the blob file at `path` has `stored_size` bytes and decodes (per `encoding`) to
// exactly `size` bytes whose SHA-256 is `sha256`; kNotFound, kHashMismatch or kCorruption
// naming the blob otherwise. Streams with fixed buffers.
Status check_blob(const std::string& path, const std::string& encoding, const std::string& sha256, uint64_t size,
                  uint64_t stored_size);

}  // namespace modelcast
