#include <doctest/doctest.h>

#include <cstdio>
#include <string>

#include "modelcast/sha256.h"

using namespace modelcast;

TEST_CASE("sha256 of the empty string matches the FIPS 180-2 answer") {
  CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST_CASE("sha256 of abc matches the FIPS 180-2 answer") {
  CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

// 1 MiB of bytes i % 251; answer computed independently with `openssl dgst -sha256`.
static std::string pattern_mib() {
  std::string s(1 << 20, '\0');
  for (size_t i = 0; i < s.size(); ++i) s[i] = static_cast<char>(i % 251);
  return s;
}

TEST_CASE("sha256 of a 1 MiB pattern is the same in one call, in odd chunks, and from a file") {
  const std::string data = pattern_mib();
  const std::string expected = "631b84027d6b9e52b539c4e8373622d23032dfadc64d60af87339c9037e4f769";
  std::string one = sha256_hex(data);
  CHECK(one == expected);

  Sha256 chunked;
  for (size_t pos = 0; pos < data.size(); pos += 4099) chunked.update(data.data() + pos, std::min<size_t>(4099, data.size() - pos));
  CHECK(chunked.finish_hex() == expected);

  std::string path = std::string(MODELCAST_BINARY_DIR) + "/sha256_pattern.bin";
  FILE* f = std::fopen(path.c_str(), "wb");
  REQUIRE(f);
  std::fwrite(data.data(), 1, data.size(), f);
  std::fclose(f);
  auto digest = sha256_file(path);
  REQUIRE(digest.ok());
  CHECK(digest->sha256 == expected);
  CHECK(digest->size == data.size());
  std::remove(path.c_str());
}

TEST_CASE("sha256_file names the path when the file is missing") {
  auto r = sha256_file("/nonexistent/model.tflite");
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().message().find("/nonexistent/model.tflite") != std::string::npos);
}
