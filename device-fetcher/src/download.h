// Downloading one manifest file into the cache's blob store: streaming, bounded, resumable.
//
// The wire bytes (the stored encoding) accumulate in tmp/<sha256>[.zst].part, so a dropped
// connection resumes with a Range request, even in a later process. While bytes arrive
// they are decompressed (zstd, window capped), counted against the manifest's stored_size
// and size, hashed, and written; a zstd file's decoded bytes go to tmp/<sha256>.dec, which
// is rebuilt from the .part on resume. Only a complete, verified file is synced and renamed
// to blobs/sha256/<2>/<64> (mode 0444). Private to the library.
#pragma once

#include <functional>
#include <string>

#include "modelcast/file_system.h"
#include "modelcast/http_transport.h"
#include "modelcast/manifest.h"
#include "modelcast/manifest_v2.h"

namespace modelcast {

struct CacheBlobStore {
  std::string cache_dir;
  std::string blob_path(const std::string& sha256) const {
    return cache_dir + "/blobs/sha256/" + sha256.substr(0, 2) + "/" + sha256;
  }
  std::string tmp_dir() const { return cache_dir + "/tmp"; }
  std::string part_path(const FileEntry& f) const {
    return tmp_dir() + "/" + f.sha256 + (f.encoding == "zstd" ? ".zst.part" : f.encoding == "xform" ? ".xf.part" : ".part");
  }
  std::string decoded_path(const FileEntry& f) const { return tmp_dir() + "/" + f.sha256 + ".dec"; }
  // Held by the one update downloading that blob (cache_locks.h).
  std::string blob_lock_path(const std::string& sha256) const { return tmp_dir() + "/" + sha256 + ".lock"; }
};

struct DownloadParams {
  HttpTransport* transport = nullptr;
  FileSystem* fs = nullptr;
  CacheBlobStore store;
  std::string base_url;  // without a trailing '/'
  HttpRequest request_template;  // user agent and timeouts
  int max_retries = 2;
  // Called before retry n (0-based) after a network failure; false: give up. Null: retry
  // at once while max_retries allows.
  std::function<bool(int)> wait_before_retry;
  // Called with each chunk's wire byte count (resumed bytes count once, when replayed),
  // and with 0 while waiting for another update that downloads the same blob; an error
  // (kCancelled) stops the download.
  std::function<Status(uint64_t)> on_bytes;
};

struct DownloadStats {
  uint64_t wire_bytes = 0;  // received from the network by this call
  int attempts = 0;
  bool resumed = false;  // some attempt started with a Range request
  bool stored_meanwhile = false;  // another update stored the blob while this one waited for it
};

// True when the verified blob is already in the cache (size checked; content was
// verified when it was stored).
bool have_blob(FileSystem& fs, const CacheBlobStore& store, const FileEntry& file);

// Makes blobs/sha256/<2>/<sha256> hold the file's verified content. Holds the blob's lock
// (cache_locks.h) meanwhile: an update of another model downloading the same blob is waited
// for, and its stored blob is taken as is.
Status download_blob(const DownloadParams& params, const FileEntry& file, DownloadStats* stats);

// The same for a file whose stored blob (file.encoding, file.stored_size) is `parts`:
// each part the cache lacks is downloaded like a blob of its own (resumable, its size and
// SHA-256 verified, kept in the blob store under its own hash, so a later update fetches
// only the parts still missing); then the parts are read in order through the decoder
// into tmp/<sha256>.dec, whose size and SHA-256 must be the file's. Memory stays
// O(1 MiB) whatever the file size.
Status download_parts(const DownloadParams& params, const FileEntry& file, const std::vector<BlobPart>& parts,
                      DownloadStats* stats);

}  // namespace modelcast
