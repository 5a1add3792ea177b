#include "delta_builder.h"

#include <unistd.h>
#include <zstd.h>

#include <limits>
#include <memory>
#include <random>
#include <set>
#include <vector>

#include "blob_store.h"
#include "modelcast/fs.h"
#include "modelcast/manifest.h"
#include "modelcast/sha256.h"
#include "modelcast/xform_encode.h"
#include "modelcast/zstd_patch.h"
#include "model_inspect.h"

namespace modelcast {

namespace {

// Single-threaded zstd, as for the plain blob: with a worker per core the encoder's job
// buffers took a 1 GiB publish from 20 to 91 MiB of RSS, and the publisher streams in
// bounded memory whatever the model size.
constexpr XformEncodeOptions kEncodeOptions{3, 0, true};

constexpr size_t kReadBlock = 1 << 20;

// A path in the tmp folder, removed on destruction (once linked into place, the tree keeps
// its own link). The encoders create the file; the builder syncs it before linking.
class ScratchFile {
 public:
  explicit ScratchFile(FileSystem& fs) : fs_(fs) {}
  ScratchFile(const ScratchFile&) = delete;
  ScratchFile& operator=(const ScratchFile&) = delete;
  ~ScratchFile() {
    if (!path_.empty()) (void)fs_.remove_all(path_);
  }
  Status create(const std::string& dir, const std::string& kind, const std::string& extension = "") {
    MC_RETURN_IF_ERROR(fs_.make_dirs(dir));
    std::random_device rd;
    path_ = dir + "/" + kind + "." + std::to_string(::getpid()) + "." + std::to_string(rd()) + ".tmp" + extension;
    return OkStatus();
  }
  const std::string& path() const { return path_; }

 private:
  FileSystem& fs_;
  std::string path_;
};

// ".tflite" for "models/x.tflite": the model readers use it to tell ONNX from other bytes.
std::string extension_of(const std::string& file_path) {
  size_t slash = file_path.find_last_of('/');
  size_t dot = file_path.find_last_of('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return std::string();
  return file_path.substr(dot);
}

// Tensor extents to align on; a file no model reader understands is compared by position.
std::vector<TensorExtent> tensor_extents(const std::string& path) {
  // Core ML's weight.bin holds weights only, no model to inspect; sniffed by content, as
  // a base is a blob without a name.
  if (looks_like_milblob(path)) {
    Result<std::vector<TensorExtent>> weights = read_milblob_tensor_extents(path);
    return weights.ok() ? weights.value() : std::vector<TensorExtent>();
  }
  Result<std::vector<TensorExtent>> extents = read_tensor_extents(path);
  if (extents.ok()) return extents.value();
  return {};
}

// Syncs a finished temp file and links it into place (content addressed: never replacing),
// so a manifest naming it survives a crash.
Status place(FileSystem& fs, const std::string& tmp_path, const std::string& final_path) {
  MC_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> file, fs.open_writable(tmp_path, WriteMode::kAppend));
  MC_RETURN_IF_ERROR(file->sync());
  MC_RETURN_IF_ERROR(file->close());
  return link_into_place(fs, tmp_path, final_path);
}

struct DCtxFree {
  void operator()(ZSTD_DCtx* d) const { ZSTD_freeDCtx(d); }
};

// Decompresses a stored zstd blob into `out_path`, streaming, and checks it is the content
// the manifest named: a delta made from anything else would fail on every device.
Status decompress_blob(FileSystem& fs, const std::string& blob_path, const DeltaBase& base, const std::string& out_path) {
  MC_ASSIGN_OR_RETURN(std::unique_ptr<ReadableFile> in, fs.open_readable(blob_path));
  MC_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> out, fs.open_writable(out_path, WriteMode::kTruncate));
  std::unique_ptr<ZSTD_DCtx, DCtxFree> dctx(ZSTD_createDCtx());
  if (!dctx) return error(StatusCode::kOutOfMemory, "zstd: out of memory");
  ZSTD_DCtx_setParameter(dctx.get(), ZSTD_d_windowLogMax, kMaxZstdWindowLog);
  std::vector<char> in_buf(kReadBlock), out_buf(ZSTD_DStreamOutSize());
  Sha256 hash;
  uint64_t produced = 0;
  size_t last = 1;  // 0 once a frame ended and is flushed
  auto pump = [&](ZSTD_inBuffer* input) -> Result<size_t> {
    ZSTD_outBuffer output{out_buf.data(), out_buf.size(), 0};
    last = ZSTD_decompressStream(dctx.get(), &output, input);
    if (ZSTD_isError(last))
      return error(StatusCode::kCorruption, blob_path + ": does not decompress: " + ZSTD_getErrorName(last));
    produced += output.pos;
    if (produced > base.size) return error(StatusCode::kHashMismatch, blob_path + ": decodes to more than its size");
    hash.update(out_buf.data(), output.pos);
    MC_RETURN_IF_ERROR(out->append(out_buf.data(), output.pos));
    return output.pos;
  };
  for (;;) {
    MC_ASSIGN_OR_RETURN(size_t n, in->read(in_buf.data(), in_buf.size()));
    if (n == 0) break;
    ZSTD_inBuffer input{in_buf.data(), n, 0};
    while (input.pos < input.size) MC_RETURN_IF_ERROR(pump(&input).status());
  }
  // What the decoder still holds after the last input.
  while (last != 0) {
    ZSTD_inBuffer none{nullptr, 0, 0};
    MC_ASSIGN_OR_RETURN(size_t flushed, pump(&none));
    if (flushed == 0) break;
  }
  if (last != 0 || produced != base.size || hash.finish_hex() != base.sha256)
    return error(StatusCode::kHashMismatch,
                 blob_path + ": does not decode to the content its manifest names; run `modelcast verify`");
  return out->close();
}

// The content of `base` as a file: its identity blob in place, or a decompressed copy.
Result<std::string> base_content(FileSystem& fs, const std::string& root, const DeltaBase& base, ScratchFile* scratch,
                                 const std::string& tmp_dir, const std::string& extension) {
  const std::string blob = root + "/" + base.url;
  if (base.encoding == "identity") return blob;
  if (base.encoding != "zstd")
    return error(StatusCode::kInvalidArgument, blob + ": a delta base must be an identity or zstd blob");
  MC_RETURN_IF_ERROR(scratch->create(tmp_dir, "base", extension));
  MC_RETURN_IF_ERROR(decompress_blob(fs, blob, base, scratch->path()));
  return scratch->path();
}

bool too_large(uint64_t stored_size, const DeltaRequest& r) {
  return r.max_delta_bytes != 0 && stored_size > r.max_delta_bytes;
}

// A delta file already in the tree (written by an earlier publish of the same pair).
Result<DeltaV2> existing_delta(const std::string& path, const DeltaBase& base, const std::string& target_sha256,
                               const std::string& encoding) {
  MC_ASSIGN_OR_RETURN(FileDigest digest, sha256_file(path));
  return DeltaV2{base.sha256, encoding, digest.size, digest.sha256, delta_url(base.sha256, target_sha256, encoding)};
}

}  // namespace

Result<DeltaResult> DeltaBuilder::build(const DeltaRequest& r) {
  DeltaResult out;
  const std::vector<TensorExtent> target_tensors = tensor_extents(r.source_path);
  MC_ASSIGN_OR_RETURN(out.xform_blob, build_xform_blob(r, target_tensors));
  const uint64_t best_full = out.xform_blob ? std::min(r.plain_stored_size, out.xform_blob->stored_size) : r.plain_stored_size;
  std::set<std::string> seen;
  for (const DeltaBase& base : r.bases) {
    if (static_cast<int>(seen.size()) >= r.max_bases) break;
    if (base.sha256 == r.sha256 || !seen.insert(base.sha256).second) continue;
    MC_ASSIGN_OR_RETURN(std::optional<DeltaV2> delta, build_delta(r, target_tensors, base, best_full));
    if (delta) out.deltas.push_back(std::move(*delta));
  }
  return out;
}

Result<std::optional<BlobV2>> DeltaBuilder::build_xform_blob(const DeltaRequest& r,
                                                             const std::vector<TensorExtent>& target_tensors) {
  const std::string url = blob_url_for(r.sha256, "xform");
  const std::string final_path = root_ + "/" + url;
  if (fs_.exists(final_path)) {
    MC_ASSIGN_OR_RETURN(FileInfo info, fs_.stat(final_path));
    const uint64_t stored = info.size;
    if (stored >= r.plain_stored_size) return std::optional<BlobV2>();
    return std::optional<BlobV2>(BlobV2{"xform", stored, url, {}});
  }
  MC_ASSIGN_OR_RETURN(std::vector<XformSegment> plan, plan_xform(r.source_path, "", target_tensors));
  ScratchFile tmp(fs_);
  MC_RETURN_IF_ERROR(tmp.create(tmp_dir_, "xf"));
  MC_ASSIGN_OR_RETURN(uint64_t stored, xform_encode_file(r.source_path, "", plan, tmp.path(), kEncodeOptions));
  if (stored >= r.plain_stored_size) return std::optional<BlobV2>();
  MC_RETURN_IF_ERROR(place(fs_, tmp.path(), final_path));
  return std::optional<BlobV2>(BlobV2{"xform", stored, url, {}});
}

Result<std::optional<DeltaV2>> DeltaBuilder::build_delta(const DeltaRequest& r,
                                                         const std::vector<TensorExtent>& target_tensors,
                                                         const DeltaBase& base, uint64_t best_full) {
  // Deltas are content-addressed: one written by an earlier publish was the best then.
  for (const char* encoding : {"zstd-patch", "xform"}) {
    const std::string path = root_ + "/" + delta_url(base.sha256, r.sha256, encoding);
    if (!fs_.exists(path)) continue;
    MC_ASSIGN_OR_RETURN(DeltaV2 d, existing_delta(path, base, r.sha256, encoding));
    if (d.stored_size >= best_full || too_large(d.stored_size, r)) return std::optional<DeltaV2>();
    return std::optional<DeltaV2>(std::move(d));
  }

  ScratchFile base_copy(fs_);
  MC_ASSIGN_OR_RETURN(std::string base_path,
                      base_content(fs_, root_, base, &base_copy, tmp_dir_, extension_of(r.file_path)));

  ScratchFile patch(fs_);
  MC_RETURN_IF_ERROR(patch.create(tmp_dir_, "zstpatch"));
  uint64_t patch_size = std::numeric_limits<uint64_t>::max();
  Result<uint64_t> patched = zstd_patch_encode_file(r.source_path, base_path, patch.path());
  if (patched.ok()) patch_size = patched.value();
  else if (patched.status().code() != StatusCode::kInvalidArgument) return patched.status();  // else: too large to patch

  ScratchFile xfd(fs_);
  MC_RETURN_IF_ERROR(xfd.create(tmp_dir_, "xfd"));
  MC_ASSIGN_OR_RETURN(std::vector<XformSegment> plan,
                      plan_xform(r.source_path, base_path, target_tensors, tensor_extents(base_path)));
  MC_ASSIGN_OR_RETURN(uint64_t xfd_size, xform_encode_file(r.source_path, base_path, plan, xfd.path(), kEncodeOptions));

  const bool use_xform = xfd_size <= patch_size;  // ties: xform applies with less memory
  const std::string encoding = use_xform ? "xform" : "zstd-patch";
  const std::string& chosen = use_xform ? xfd.path() : patch.path();
  const uint64_t size = std::min(xfd_size, patch_size);
  if (size >= best_full || too_large(size, r)) return std::optional<DeltaV2>();
  MC_ASSIGN_OR_RETURN(FileDigest digest, sha256_file(chosen));
  const std::string url = delta_url(base.sha256, r.sha256, encoding);
  MC_RETURN_IF_ERROR(place(fs_, chosen, root_ + "/" + url));
  return std::optional<DeltaV2>(DeltaV2{base.sha256, encoding, digest.size, digest.sha256, url});
}

}  // namespace modelcast
