#include "modelcast/sha256.h"

#include <openssl/evp.h>

#include <vector>

#include "modelcast/encoding.h"
#include "modelcast/file_system.h"

namespace modelcast {

struct Sha256::Impl {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  Impl() { EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr); }
  ~Impl() { EVP_MD_CTX_free(ctx); }
};

Sha256::Sha256() : impl_(std::make_unique<Impl>()) {}
Sha256::~Sha256() = default;
Sha256::Sha256(Sha256&&) noexcept = default;
Sha256& Sha256::operator=(Sha256&&) noexcept = default;

void Sha256::update(const void* data, size_t size) { EVP_DigestUpdate(impl_->ctx, data, size); }

Digest Sha256::finish() {
  Digest out{};
  unsigned int len = 0;
  EVP_DigestFinal_ex(impl_->ctx, out.data(), &len);
  EVP_DigestInit_ex(impl_->ctx, EVP_sha256(), nullptr);
  return out;
}

std::string Sha256::finish_hex() {
  Digest d = finish();
  return hex_encode(d.data(), d.size());
}

std::string sha256_hex(std::string_view bytes) {
  Sha256 h;
  h.update(bytes);
  return h.finish_hex();
}

Result<FileDigest> sha256_file(const std::string& path) { return sha256_file(*posix_file_system(), path); }

Result<FileDigest> sha256_file(FileSystem& fs, const std::string& path) {
  MC_ASSIGN_OR_RETURN(std::unique_ptr<ReadableFile> file, fs.open_readable(path));
  std::vector<char> buf(1 << 20);
  Sha256 h;
  FileDigest out;
  for (;;) {
    MC_ASSIGN_OR_RETURN(size_t n, file->read(buf.data(), buf.size()));
    if (n == 0) break;
    h.update(buf.data(), n);
    out.size += n;
  }
  out.sha256 = h.finish_hex();
  return out;
}

}  // namespace modelcast
