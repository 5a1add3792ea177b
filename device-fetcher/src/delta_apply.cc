#include "delta_apply.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <vector>

#include "modelcast/fs.h"
#include "modelcast/sha256.h"
#include "modelcast/xform.h"
#include "modelcast/zstd_patch.h"

namespace modelcast {

namespace {

constexpr size_t kDeltaReadBytes = 1 << 20;

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

Status open_failure(const std::string& what, const std::string& path, int err) {
  if (err == ENOENT) return error(StatusCode::kNotFound, what + " " + path + ": missing");
  return error(StatusCode::kIOError, what + " " + path + ": " + std::strerror(err));
}

// The delta as stored must be exactly what the manifest signed before a decoder sees it.
Status check_delta_bytes(const DeltaToApply& d) {
  struct stat st;
  if (::stat(d.delta_path.c_str(), &st) != 0) return open_failure("delta", d.delta_path, errno);
  if (static_cast<uint64_t>(st.st_size) != d.delta_stored_size)
    return error(StatusCode::kHashMismatch, "delta " + d.delta_path + ": " + std::to_string(st.st_size) +
                                                " bytes, the manifest says stored_size " +
                                                std::to_string(d.delta_stored_size));
  if (d.delta_sha256.empty()) return OkStatus();
  MC_ASSIGN_OR_RETURN(FileDigest digest, sha256_file(d.delta_path));
  if (digest.sha256 != d.delta_sha256)
    return error(StatusCode::kHashMismatch, "delta " + d.delta_path + ": SHA-256 " + digest.sha256.substr(0, 16) +
                                                "… differs from the manifest's " + d.delta_sha256.substr(0, 16) + "…");
  return OkStatus();
}

// The delta is read and the output written through the FileSystem; the base is read with
// pread at each segment's offset (the one access the seam does not carry).
Status apply_xform(FileSystem& fs, const DeltaToApply& d, const std::string& out_path) {
  Fd base(::open(d.base_path.c_str(), O_RDONLY | O_CLOEXEC));
  if (base.get() < 0) return open_failure("base of delta", d.base_path, errno);
  MC_ASSIGN_OR_RETURN(std::unique_ptr<ReadableFile> delta, fs.open_readable(d.delta_path));
  MC_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> out, fs.open_writable(out_path, WriteMode::kTruncate));
  XformDecoder decoder(base.get(), d.size, [&out](const uint8_t* data, size_t size) {
    return out->append(reinterpret_cast<const char*>(data), size);
  });
  const std::string what = "xform delta " + d.delta_path;
  std::vector<char> buf(kDeltaReadBytes);
  for (;;) {
    MC_ASSIGN_OR_RETURN(size_t n, delta->read(buf.data(), buf.size()));
    if (n == 0) break;
    MC_RETURN_IF_ERROR(decoder.feed(buf.data(), n).with_context(what));
  }
  Result<std::string> digest = decoder.finish();
  if (!digest.ok()) return digest.status().with_context(what);
  if (digest.value() != d.sha256)
    return error(StatusCode::kHashMismatch, what + ": decodes to sha256 " + digest.value() + ", expected " + d.sha256);
  MC_RETURN_IF_ERROR(out->sync());
  return out->close();
}

Status apply_zstd_patch(const DeltaToApply& d, const std::string& out_path) {
  Result<ZstdPatchApplied> r = zstd_patch_apply_file(d.delta_path, d.base_path, d.size, d.sha256, out_path);
  return r.ok() ? OkStatus() : r.status();
}

Status check_base(const DeltaToApply& d) {
  struct stat st;
  if (::stat(d.base_path.c_str(), &st) != 0) return open_failure("base of delta", d.base_path, errno);
  return OkStatus();
}

}  // namespace

Status apply_delta(FileSystem& fs, const DeltaToApply& d, const std::string& out_path) {
  Status s;
  if (d.encoding != "xform" && d.encoding != "zstd-patch")
    s = error(StatusCode::kUnsupportedFeature, "delta " + d.delta_path + ": unknown encoding \"" + d.encoding + "\"");
  if (s.ok()) s = check_delta_bytes(d);
  if (s.ok()) s = check_base(d);
  if (s.ok()) s = d.encoding == "xform" ? apply_xform(fs, d, out_path) : apply_zstd_patch(d, out_path);
  if (!s.ok()) (void)fs.remove_all(out_path);  // never leave a wrong or partial file behind
  return s;
}

}  // namespace modelcast
