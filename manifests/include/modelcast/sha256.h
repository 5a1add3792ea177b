// Streaming SHA-256 over buffers and files, through OpenSSL's EVP (SHA-NI when present).
//
// One Sha256 object hashes one stream; it is not thread-safe, but separate objects are
// independent. Files are read in fixed 1 MiB blocks, so memory never grows with size.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "modelcast/status.h"

namespace modelcast {

using Digest = std::array<uint8_t, 32>;

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(Sha256&&) noexcept;
  Sha256& operator=(Sha256&&) noexcept;

  void update(const void* data, size_t size);
  void update(std::string_view bytes) { update(bytes.data(), bytes.size()); }
  // Finishes the stream; the object starts a new one afterwards.
  Digest finish();
  std::string finish_hex();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

std::string sha256_hex(std::string_view bytes);

struct FileDigest {
  std::string sha256;  // lowercase hex
  uint64_t size = 0;
};
class FileSystem;
// The file at `path` read through `fs` (the real disk when not given).
Result<FileDigest> sha256_file(FileSystem& fs, const std::string& path);
Result<FileDigest> sha256_file(const std::string& path);

}  // namespace modelcast
