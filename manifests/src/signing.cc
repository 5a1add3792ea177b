#include "modelcast/signing.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "modelcast/fs.h"
#include "modelcast/sha256.h"

namespace modelcast {

namespace {

struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;

std::string raw_public(EVP_PKEY* key) {
  std::string raw(32, '\0');
  size_t len = raw.size();
  EVP_PKEY_get_raw_public_key(key, reinterpret_cast<unsigned char*>(raw.data()), &len);
  raw.resize(len);
  return raw;
}

std::string pem_of(EVP_PKEY* key, bool is_private) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (is_private) PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
  else PEM_write_bio_PUBKEY(bio.get(), key);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

constexpr size_t kMaxPemBytes = 16 * 1024;

}  // namespace

Result<PublicKey> PublicKey::from_raw(std::string_view raw32) {
  if (raw32.size() != 32) return error(StatusCode::kInvalidArgument, "Ed25519 public key must be 32 bytes");
  PublicKey k;
  k.raw_ = std::string(raw32);
  k.key_id_ = sha256_hex(k.raw_);
  return k;
}

namespace {

// A private key where a public one belongs: the commonest mix-up (`keygen` writes KEY and
// KEY.pub side by side), named as such rather than as "not a PEM public key".
bool looks_like_private_key(std::string_view pem) { return pem.find("PRIVATE KEY-----") != std::string_view::npos; }

}  // namespace

Result<PublicKey> PublicKey::from_pem(std::string_view pem, const std::string& what) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  PkeyPtr key(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
  if (!key && looks_like_private_key(pem))
    return error(StatusCode::kInvalidArgument, what + ": this is a private key; pass its public key (KEY.pub)");
  if (!key) return error(StatusCode::kInvalidArgument, what + ": not a PEM public key");
  if (EVP_PKEY_id(key.get()) != EVP_PKEY_ED25519)
    return error(StatusCode::kInvalidArgument, what + ": not an Ed25519 key");
  return from_raw(raw_public(key.get()));
}

Result<PublicKey> PublicKey::from_pem_file(const std::string& path) {
  MC_ASSIGN_OR_RETURN(std::string pem, read_file(path, kMaxPemBytes));
  auto key = from_pem(pem, path);
  if (!key.ok() && looks_like_private_key(pem))
    return error(StatusCode::kInvalidArgument, path + ": this is a private key; pass " + path + ".pub");
  return key;
}

std::string PublicKey::to_pem() const {
  PkeyPtr key(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr,
                                          reinterpret_cast<const unsigned char*>(raw_.data()), raw_.size()));
  return pem_of(key.get(), false);
}

bool PublicKey::verify(std::string_view message, std::string_view signature) const {
  if (signature.size() != 64 || raw_.size() != 32) return false;
  PkeyPtr key(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr,
                                          reinterpret_cast<const unsigned char*>(raw_.data()), raw_.size()));
  if (!key) return false;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok = EVP_DigestVerifyInit(ctx, nullptr, nullptr, nullptr, key.get()) == 1 &&
            EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                             reinterpret_cast<const unsigned char*>(message.data()), message.size()) == 1;
  EVP_MD_CTX_free(ctx);
  return ok;
}

Result<PrivateKey> PrivateKey::generate() {
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, nullptr);
  EVP_PKEY* raw = nullptr;
  bool ok = ctx && EVP_PKEY_keygen_init(ctx) == 1 && EVP_PKEY_keygen(ctx, &raw) == 1;
  EVP_PKEY_CTX_free(ctx);
  if (!ok) return error(StatusCode::kIOError, "Ed25519 key generation failed");
  PkeyPtr key(raw);
  return PrivateKey::from_pem(pem_of(key.get(), true), "generated key");
}

Result<PrivateKey> PrivateKey::from_pem(std::string_view pem, const std::string& what) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key) return error(StatusCode::kInvalidArgument, what + ": not a PEM private key");
  if (EVP_PKEY_id(key.get()) != EVP_PKEY_ED25519)
    return error(StatusCode::kInvalidArgument, what + ": not an Ed25519 key");
  PrivateKey k;
  k.raw_seed_.assign(32, '\0');
  size_t len = 32;
  EVP_PKEY_get_raw_private_key(key.get(), reinterpret_cast<unsigned char*>(k.raw_seed_.data()), &len);
  auto pub = PublicKey::from_raw(raw_public(key.get()));
  if (!pub.ok()) return pub.status();
  k.public_ = pub.value();
  return k;
}

Result<PrivateKey> PrivateKey::from_pem_file(const std::string& path) {
  MC_ASSIGN_OR_RETURN(std::string pem, read_file(path, kMaxPemBytes));
  return from_pem(pem, path);
}

std::string PrivateKey::to_pem() const {
  PkeyPtr key(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr,
                                           reinterpret_cast<const unsigned char*>(raw_seed_.data()), raw_seed_.size()));
  return pem_of(key.get(), true);
}

std::string PrivateKey::sign(std::string_view message) const {
  PkeyPtr key(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr,
                                           reinterpret_cast<const unsigned char*>(raw_seed_.data()), raw_seed_.size()));
  std::string sig(64, '\0');
  size_t len = sig.size();
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestSignInit(ctx, nullptr, nullptr, nullptr, key.get());
  EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                 reinterpret_cast<const unsigned char*>(message.data()), message.size());
  EVP_MD_CTX_free(ctx);
  sig.resize(len);
  return sig;
}

}  // namespace modelcast
