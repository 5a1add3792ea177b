// Fuzz target: zstd_patch_apply_file, which the device runs on a downloaded `zstd-patch`
// delta (FORMAT.md, "Encodings") against a file it holds, decoding into a map of the
// output sized to the manifest's `size`.
//
// Input: byte 0 chooses how the rest is used. Even: the rest is the patch itself (any
// bytes). Odd: the rest is a target, compressed here against the fixed 64 KiB base so the
// fuzzer reaches the decoder with valid frames, then byte 1 picks a position to damage and
// byte 2 a wrong expected size (0: the right one). Either way the patch is applied against
// the base with an expected size taken from the input.
//
// What it proves, for any bytes: the apply returns an error or a result, never crashes,
// loops or aborts under ASan + UBSan; it never produces more than the expected size (the
// output map is that size); an error leaves no output file; an accepted patch wrote
// exactly the expected size with the SHA-256 it reports.
#include <unistd.h>
#include <zstd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "modelcast/fs.h"
#include "modelcast/sha256.h"
#include "modelcast/zstd_patch.h"

namespace {

std::string scratch(const char* name) { return "/tmp/modelcast-fuzz-zstd-patch." + std::to_string(::getpid()) + "." + name; }

std::string make_base() {
  std::string bytes(64 * 1024, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>((i * 2654435761u) >> 13);
  const std::string path = scratch("base");
  if (!modelcast::write_file_atomic(path, bytes).ok()) std::abort();
  return path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace modelcast;
  static const std::string base_path = make_base();
  static const std::string base = read_file(base_path, 1 << 20).value();
  static const std::string patch_path = scratch("patch"), out_path = scratch("out");
  if (size < 3) return 0;
  std::string patch(reinterpret_cast<const char*>(data) + 3, size - 3);
  uint64_t expected = data[2] * 131u;
  if (data[0] & 1) {
    ZSTD_CCtx* cctx = ZSTD_createCCtx();
    ZSTD_CCtx_refPrefix(cctx, base.data(), base.size());
    std::string frame(ZSTD_compressBound(patch.size()), '\0');
    size_t n = ZSTD_compress2(cctx, frame.data(), frame.size(), patch.data(), patch.size());
    ZSTD_freeCCtx(cctx);
    if (ZSTD_isError(n)) std::abort();
    frame.resize(n);
    if (data[1] != 0 && !frame.empty()) frame[data[1] % frame.size()] ^= 0x20;
    if (data[2] == 0) expected = patch.size();
    patch = frame;
  }
  if (!write_file_atomic(patch_path, patch).ok()) std::abort();
  Result<ZstdPatchApplied> r = zstd_patch_apply_file(patch_path, base_path, expected, "", out_path);
  if (!r.ok()) {
    if (path_exists(out_path)) std::abort();  // a failed apply leaves nothing behind
    return 0;
  }
  Result<FileDigest> digest = sha256_file(out_path);
  if (!digest.ok() || digest->size != expected || r->size != expected || digest->sha256 != r->sha256) std::abort();
  ::unlink(out_path.c_str());
  return 0;
}
