// Names, file paths, blob URLs, timestamps and app versions (modelcast/names.h).
#include <doctest/doctest.h>

#include <string>

#include "modelcast/names.h"
#include "test_support.h"

using namespace modelcast;
using modelcast::testing::contains;

TEST_CASE("names of letters, digits, dots, underscores and dashes up to 64 characters are accepted") {
  for (const char* ok : {"mobilenet", "a", "0", "v2.1_beta-x", "MobileNet-V3", "ios-arm64", "speech_commands.v2"})
    CHECK_MESSAGE(check_name(ok, "model").ok(), ok);
  CHECK(check_name(std::string(64, 'n'), "model").ok());
}

TEST_CASE("names that could escape a folder, hide a file or break a URL are rejected naming the field") {
  struct Case {
    std::string name, message;
  } cases[] = {
      {"", "model: must not be empty"},
      {std::string(65, 'n'), "model: longer than 64 characters"},
      {"../x", "must not contain '/'"},
      {"a/b", "must not contain '/'"},
      {"a\\b", "must not contain '/'"},
      {"..", "must start with a letter or digit"},
      {".hidden", "must start with a letter or digit"},
      {"-rf", "must start with a letter or digit"},
      {"_x", "must start with a letter or digit"},
      {"a b", "may only use letters"},
      {"caf\xC3\xA9", "may only use letters"},
      {"a%2e", "may only use letters"},
      {std::string("a\0b", 3), "must not contain control characters"},
      {"a\nb", "must not contain control characters"},
  };
  for (const auto& c : cases) {
    Status s = check_name(c.name, "model");
    CHECK_MESSAGE(s.code() == StatusCode::kInvalidArgument, c.name);
    CHECK_MESSAGE(contains(s.message(), c.message), s.message());
    CHECK(s.message().rfind("model: ", 0) == 0);
  }
}

TEST_CASE("relative file paths of up to 8 name segments and 255 characters are accepted") {
  for (const char* ok : {"model.tflite", "assets/vocab/words.txt", "a/b/c/d/e/f/g/h", "_hidden-ish", "x..y", "weights.0001.bin"})
    CHECK_MESSAGE(check_file_path(ok, "path").ok(), ok);
  CHECK(check_file_path(std::string(127, 'a') + "/" + std::string(127, 'b'), "path").ok());
}

TEST_CASE("file paths that traverse, are absolute, empty-segmented, too deep or too long are rejected") {
  struct Case {
    std::string path, message;
  } cases[] = {
      {"", "must not be empty"},
      {"/etc/passwd", "must be relative"},
      {"../x", "\"../x\" must not contain '..'"},
      {"a/../../b", "\"a/../../b\" must not contain '..'"},
      {"a/..", "must not contain '..'"},
      {"..", "must not contain '..'"},
      {"./x", "has an empty or '.' segment"},
      {"a/./b", "has an empty or '.' segment"},
      {"a//b", "has an empty or '.' segment"},
      {"a/", "has an empty or '.' segment"},
      {"a\\..\\b", "may only use letters, digits, '.', '_', '-' and '/'"},
      {"C:/model", "may only use"},
      {"a b", "may only use"},
      {"caf\xC3\xA9.txt", "may only use"},
      {std::string("a\0b", 3), "must not contain control characters"},
      {"a/b/c/d/e/f/g/h/i", "deeper than 8 folders"},
      {std::string(128, 'a') + "/" + std::string(127, 'b'), "longer than 255 characters"},
  };
  for (const auto& c : cases) {
    Status s = check_file_path(c.path, "signed.files[0].path");
    CHECK_MESSAGE(s.code() == StatusCode::kInvalidArgument, c.path);
    CHECK_MESSAGE(contains(s.message(), "signed.files[0].path: " ), s.message());
    CHECK_MESSAGE(contains(s.message(), c.message), s.message());
  }
}

TEST_CASE("blob URLs shard by the first two hex digits and mark zstd blobs with .zst") {
  std::string sha = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
  CHECK(blob_url(sha, false) == "blobs/sha256/ba/" + sha);
  CHECK(blob_url(sha, true) == "blobs/sha256/ba/" + sha + ".zst");
}

TEST_CASE("timestamps are strict RFC 3339 UTC with seconds and convert to Unix time") {
  CHECK(parse_timestamp("1970-01-01T00:00:00Z", "t").value() == 0);
  CHECK(parse_timestamp("2026-11-26T06:00:00Z", "t").value() == 1795672800);
  CHECK(parse_timestamp("2027-01-01T00:00:00Z", "t").value() == 1798761600);
  CHECK(parse_timestamp("2099-01-01T00:00:00Z", "t").value() == 4070908800);
  CHECK(parse_timestamp("9999-12-31T23:59:59Z", "t").value() == 253402300799);
}

TEST_CASE("February 29 exists only in leap years, including the 400-year rule") {
  CHECK(parse_timestamp("2024-02-29T00:00:00Z", "t").value() == 1709164800);
  CHECK(parse_timestamp("2000-02-29T12:34:56Z", "t").value() == 951827696);  // divisible by 400
  CHECK_FALSE(parse_timestamp("2100-02-29T00:00:00Z", "t").ok());            // divisible by 100 only
  CHECK_FALSE(parse_timestamp("2026-02-29T00:00:00Z", "t").ok());
  CHECK(parse_timestamp("2026-02-28T23:59:59Z", "t").ok());
}

TEST_CASE("timestamps with offsets, fractions, lowercase letters or impossible fields are rejected") {
  for (const char* bad : {"2026-11-26T06:00:00", "2026-11-26T06:00:00+00:00", "2026-11-26T06:00:00.000Z",
                          "2026-11-26t06:00:00z", "2026-11-26 06:00:00Z", "2026-13-01T00:00:00Z", "2026-00-10T00:00:00Z",
                          "2026-04-31T00:00:00Z", "2026-01-00T00:00:00Z", "2026-01-01T24:00:00Z", "2026-01-01T00:60:00Z",
                          "2016-12-31T23:59:60Z", "1969-12-31T23:59:59Z", "+2026-01-01T00:00:00Z", "2026-1-01T00:00:00Z",
                          "2026-01-01T00:00:0aZ", "", "2026-11-26T06:00:00Z "}) {
    auto r = parse_timestamp(bad, "signed.expires_at");
    CHECK_MESSAGE(!r.ok(), bad);
    if (!r.ok()) {
      CHECK(r.status().code() == StatusCode::kCorruption);
      CHECK(contains(r.status().message(), "signed.expires_at: "));
    }
  }
}

TEST_CASE("formatting a timestamp and parsing it back gives the same instant") {
  for (int64_t t : {int64_t{0}, int64_t{951827696}, int64_t{1709164800}, int64_t{1795672800}, int64_t{4070908800},
                    int64_t{253402300799}}) {
    std::string text = format_timestamp(t);
    CHECK(parse_timestamp(text, "t").value() == t);
  }
  CHECK(format_timestamp(1795672800) == "2026-11-26T06:00:00Z");
}

TEST_CASE("app versions are one to four dot-separated integers of up to nine digits") {
  for (const char* ok : {"2", "0", "2.10.1", "1.2.3.4", "123456789", "01.2"})
    CHECK_MESSAGE(check_app_version(ok, "v").ok(), ok);
  for (const char* bad : {"", "2.", ".2", "2..1", "1.2.3.4.5", "v2", "2.x", "1234567890", "-1", " 2", "2 ", "2.1-beta"}) {
    Status s = check_app_version(bad, "signed.requires.min_app_version");
    CHECK_MESSAGE(!s.ok(), bad);
    CHECK(contains(s.message(), "signed.requires.min_app_version: "));
  }
}

TEST_CASE("app versions compare numerically, segment by segment, with missing segments as zero") {
  CHECK(compare_app_versions("2.10", "2.9") > 0);
  CHECK(compare_app_versions("2", "2.0.0") == 0);
  CHECK(compare_app_versions("1.2.3", "1.2.4") < 0);
  CHECK(compare_app_versions("10", "9") > 0);
  CHECK(compare_app_versions("2.0.1", "2") > 0);
  CHECK(compare_app_versions("01.2", "1.2") == 0);
  CHECK(compare_app_versions("999999999.999999999.999999999.999999999", "1") > 0);
}
