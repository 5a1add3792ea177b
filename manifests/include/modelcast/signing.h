// Ed25519 keys, key ids and signatures (OpenSSL).
//
// A key id is the lowercase hex SHA-256 of the raw 32-byte public key, so a device that
// pins a public key file can compute the id itself. Keys are immutable after loading and
// may be shared between threads.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "modelcast/status.h"

namespace modelcast {

class PublicKey {
 public:
  static Result<PublicKey> from_pem(std::string_view pem, const std::string& what);
  static Result<PublicKey> from_pem_file(const std::string& path);
  static Result<PublicKey> from_raw(std::string_view raw32);

  const std::string& key_id() const { return key_id_; }
  const std::string& raw() const { return raw_; }
  std::string to_pem() const;
  bool verify(std::string_view message, std::string_view signature) const;

 private:
  std::string raw_;
  std::string key_id_;
};

class PrivateKey {
 public:
  static Result<PrivateKey> generate();
  static Result<PrivateKey> from_pem(std::string_view pem, const std::string& what);
  static Result<PrivateKey> from_pem_file(const std::string& path);

  const PublicKey& public_key() const { return public_; }
  std::string to_pem() const;
  // 64-byte Ed25519 signature.
  std::string sign(std::string_view message) const;

 private:
  std::string raw_seed_;  // 32 bytes
  PublicKey public_;
};

}  // namespace modelcast
