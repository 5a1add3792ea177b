#include "delta_fetch.h"

#include "delta_apply.h"
#include "modelcast/fs.h"

namespace modelcast {

namespace {

// The delta's stored bytes as a blob of their own (identity, named by their SHA-256):
// download_blob then gives them resumption and every size and hash check of a blob.
FileEntry delta_bytes_entry(const DeltaV2& d) {
  FileEntry e;
  e.path = d.url;
  e.sha256 = d.sha256;
  e.size = d.stored_size;
  e.stored_size = d.stored_size;
  e.encoding = "identity";
  e.url = d.url;
  return e;
}

}  // namespace

std::string delta_path_name(const DeltaV2& delta) { return "delta-" + delta.encoding; }

const DeltaV2* choose_delta(FileSystem& fs, const CacheBlobStore& store, const FileEntryV2& file, uint64_t blob_stored_size) {
  const DeltaV2* best = nullptr;
  for (const DeltaV2& d : file.deltas) {
    // A format 1 delta carries no sha256 of its bytes: it could not be checked before use.
    if (d.sha256.empty() || d.stored_size >= blob_stored_size) continue;
    // Its bytes are kept under their own hash for a moment: never where content lives.
    if (d.sha256 == d.from_sha256 || d.sha256 == file.sha256) continue;
    if (best != nullptr && d.stored_size >= best->stored_size) continue;
    auto base = fs.stat(store.blob_path(d.from_sha256));
    if (base.ok() && base->type == FileType::kRegular) best = &d;
  }
  return best;
}

Status fetch_with_delta(const DownloadParams& p, const FileEntryV2& file, const DeltaV2& delta, DownloadStats* stats) {
  const FileEntry bytes = delta_bytes_entry(delta);
  const std::string delta_path = p.store.blob_path(delta.sha256);
  Status s = download_blob(p, bytes, stats);
  if (s.ok()) {
    DeltaToApply apply;
    apply.encoding = delta.encoding;
    apply.delta_path = delta_path;
    apply.delta_stored_size = delta.stored_size;
    apply.delta_sha256 = delta.sha256;
    apply.base_path = p.store.blob_path(delta.from_sha256);
    apply.size = file.size;
    apply.sha256 = file.sha256;
    const std::string out = p.store.tmp_dir() + "/" + file.sha256 + ".delta-out";
    const std::string target = p.store.blob_path(file.sha256);
    s = apply_delta(*p.fs, apply, out);
    if (s.ok()) s = p.fs->make_dirs(parent_dir(target));
    if (s.ok()) s = p.fs->chmod(out, 0444);
    if (s.ok()) s = p.fs->rename(out, target);
    if (s.ok()) s = p.fs->sync_dir(parent_dir(target));
    if (!s.ok()) (void)p.fs->remove_all(out);
  }
  // The delta's bytes are spent either way (a failed download keeps its .part to resume).
  (void)p.fs->remove_all(delta_path);
  return s;
}

Status obtain_file(const DownloadParams& p, const FileEntryV2& file, uint64_t blob_stored_size, const std::string& blob_how,
                   const std::function<Status(DownloadStats*)>& download_blob, FileTransfer* transfer) {
  transfer->path = file.path;
  if (const DeltaV2* delta = choose_delta(*p.fs, p.store, file, blob_stored_size)) {
    DownloadStats stats;
    Status s = fetch_with_delta(p, file, *delta, &stats);
    transfer->wire_bytes += stats.wire_bytes;
    if (s.ok()) {
      transfer->how = delta_path_name(*delta);
      return s;
    }
    // A cancelled update stops here; anything else falls back to the blob.
    if (s.code() == StatusCode::kCancelled) return s;
    transfer->delta_fallback = std::string(status_code_name(s.code())) + ": " + s.message();
  }
  DownloadStats stats;
  Status s = download_blob(&stats);
  transfer->wire_bytes += stats.wire_bytes;
  transfer->how = blob_how;
  return s;
}

}  // namespace modelcast
