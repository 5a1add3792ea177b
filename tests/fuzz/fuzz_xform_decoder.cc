// Fuzz target: XformDecoder, which the device runs on a downloaded `xform` blob or delta
// (FORMAT.md, "Transforms") before anything checks the result's SHA-256.
//
// Input: an MCXF stream (starting "MCXF"; the harness wraps it in a zstd frame, so the
// fuzzer explores the header, table and planes rather than zstd) or anything else, fed
// as the compressed stream itself. Each input is decoded twice: as a blob (no base) and
// as a delta against a fixed 64 KiB base; the expected size is the one the stream
// declares (so size bombs get past the first check).
//
// What it proves, for any bytes: the decoder returns an error or a result, never crashes,
// loops, throws or aborts under ASan + UBSan; it never writes more than the expected size
// (a declared 2^60-byte target cannot make it allocate or write beyond its 1 MiB blocks);
// and when it accepts a stream it has written exactly the expected size.
#include <sys/mman.h>
#include <unistd.h>
#include <zstd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "modelcast/xform.h"

namespace {

int make_base() {
  int fd = ::memfd_create("xform-base", 0);
  if (fd < 0) std::abort();
  std::string bytes(64 * 1024, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>((i * 2654435761u) >> 13);
  if (::write(fd, bytes.data(), bytes.size()) != static_cast<ssize_t>(bytes.size())) std::abort();
  return fd;
}

void decode(const std::string& stream, int base_fd, uint64_t expected) {
  using namespace modelcast;
  uint64_t written = 0;
  XformDecoder decoder(base_fd, expected, [&](const uint8_t*, size_t size) {
    written += size;
    if (written > expected) std::abort();
    return OkStatus();
  });
  // Two pieces, so a feed boundary falls inside the stream.
  const size_t half = stream.size() / 2;
  if (!decoder.feed(stream.data(), half).ok()) return;
  if (!decoder.feed(stream.data() + half, stream.size() - half).ok()) return;
  Result<std::string> digest = decoder.finish();
  if (digest.ok() && (written != expected || decoder.bytes_written() != expected)) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const int base_fd = make_base();
  std::string input(reinterpret_cast<const char*>(data), size);
  std::string stream = input;
  uint64_t expected = 0;
  if (size >= 16 && std::memcmp(data, "MCXF", 4) == 0) {
    for (int i = 7; i >= 0; --i) expected = (expected << 8) | data[8 + i];
    stream.resize(ZSTD_compressBound(size));
    size_t n = ZSTD_compress(stream.data(), stream.size(), data, size, 1);
    if (ZSTD_isError(n)) std::abort();
    stream.resize(n);
  } else if (size > 0) {
    expected = data[0] * 97u;  // some sizes, mostly wrong: refusals are the interesting part
  }
  decode(stream, -1, expected);
  decode(stream, base_fd, expected);
  return 0;
}
