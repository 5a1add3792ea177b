// Getting a file's content through a delta (issue 13; FORMAT.md "Deltas (format 2)"):
// when the cache holds content a delta starts from, the delta is downloaded instead of a
// full blob and applied against it. A delta is an optimisation only: every failure is
// returned so the caller downloads a blob instead, in the same update.
//
// The delta's bytes travel like a blob's: resumable (tmp/<delta sha256>.part), checked
// against the delta's stored_size and sha256 as they arrive, then kept only until they are
// applied. Private to the library; one update at a time (the caller holds the cache lock).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "download.h"
#include "modelcast/fetcher.h"
#include "modelcast/manifest_v2.h"

namespace modelcast {

// "delta-xform" or "delta-zstd-patch": how a result names the path a file took.
std::string delta_path_name(const DeltaV2& delta);

// The delta to use for `file`: of those whose base (`from_sha256`) is a blob in the cache,
// the smallest, when smaller than `blob_stored_size` (the blob the device would download
// otherwise); nullptr when none.
const DeltaV2* choose_delta(FileSystem& fs, const CacheBlobStore& store, const FileEntryV2& file, uint64_t blob_stored_size);

// Downloads `delta` and applies it; on success the cache holds the file's verified content
// at blobs/sha256/<2>/<file sha256>. stats->wire_bytes counts the delta's bytes received.
// Any error (network, a delta that does not match its sha256, a missing base, a result
// with the wrong size or hash) leaves nothing of the file in the cache.
Status fetch_with_delta(const DownloadParams& params, const FileEntryV2& file, const DeltaV2& delta,
                        DownloadStats* stats);

// Gets `file` into the cache: through its best delta when the cache holds a base (see
// choose_delta), else through `download_blob`, which fetches the blob the caller chose
// (`blob_stored_size` bytes, path name `blob_how`). A delta that fails in any way is
// followed by `download_blob` in the same call; its error is kept in
// transfer->delta_fallback. transfer->wire_bytes counts every byte received.
Status obtain_file(const DownloadParams& params, const FileEntryV2& file, uint64_t blob_stored_size,
                   const std::string& blob_how, const std::function<Status(DownloadStats*)>& download_blob,
                   FileTransfer* transfer);

}  // namespace modelcast
