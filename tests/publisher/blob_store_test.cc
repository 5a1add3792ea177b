// The blob store on its own: encodings, write-if-absent, and the reader's checks.
#include <doctest/doctest.h>
#include <sys/stat.h>

#include "blob_store.h"
#include "modelcast/blob_check.h"
#include "modelcast/fs.h"
#include "modelcast/sha256.h"
#include "publisher_test_util.h"

using namespace modelcast;
using namespace modelcast::test;

TEST_CASE("blob store keeps zstd only when it saves 5%, and writes each blob once") {
  TempDir dir;
  BlobStore store(dir.path(), dir / "tmp");
  write_text(dir / "text", std::string(100000, 'z'));
  write_random(dir / "noise", 100000, 41);
  write_text(dir / "empty", "");

  auto text = store.put_file(dir / "text", "text", false);
  REQUIRE(text.ok());
  CHECK(text->encoding == "zstd");
  CHECK(text->created);
  CHECK(text->url == format_blob_path(sha256_file(dir / "text")->sha256, ".zst"));
  CHECK(check_blob(*posix_file_system(), dir / text->url, BlobCheck{"zstd", text->sha256, 100000, text->stored_size}).ok());

  auto noise = store.put_file(dir / "noise", "noise", false);
  REQUIRE(noise.ok());
  CHECK(noise->encoding == "identity");
  CHECK(noise->stored_size == 100000);
  CHECK(read_text(dir / noise->url) == read_text(dir / "noise"));

  auto empty = store.put_file(dir / "empty", "empty", false);
  REQUIRE(empty.ok());
  CHECK(empty->encoding == "identity");
  CHECK(empty->sha256 == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");  // SHA-256 of nothing

  // The same content again: found, not rewritten, and no temporary left behind.
  struct stat before, after;
  REQUIRE(::stat((dir / text->url).c_str(), &before) == 0);
  auto again = store.put_file(dir / "text", "text", false);
  REQUIRE(again.ok());
  CHECK_FALSE(again->created);
  CHECK(again->url == text->url);
  REQUIRE(::stat((dir / text->url).c_str(), &after) == 0);
  CHECK(before.st_ino == after.st_ino);
  // The temporaries folder the store wrote through is left empty.
  auto temporaries = posix_file_system()->list_dir(dir / "tmp");
  REQUIRE_MESSAGE(temporaries.ok(), temporaries.status().message());
  CHECK(temporaries->empty());
}

TEST_CASE("check_blob refuses truncated, oversized and mislabelled blobs") {
  TempDir dir;
  BlobStore store(dir.path(), dir / "tmp");
  write_text(dir / "text", std::string(200000, 'q') + "tail");
  auto blob = store.put_file(dir / "text", "text", false);
  REQUIRE(blob.ok());
  std::string stored = read_text(dir / blob->url);

  write_text(dir / "truncated.zst", stored.substr(0, stored.size() - 3));
  Status t = check_blob(*posix_file_system(), dir / "truncated.zst", BlobCheck{"zstd", blob->sha256, blob->size, stored.size() - 3});
  CHECK(t.code() == StatusCode::kCorruption);

  CHECK(check_blob(*posix_file_system(), dir / blob->url, BlobCheck{"zstd", blob->sha256, blob->size - 1, blob->stored_size}).code() ==
        StatusCode::kHashMismatch);
  CHECK(check_blob(*posix_file_system(), dir / blob->url, BlobCheck{"zstd", blob->sha256, blob->size, blob->stored_size + 1}).code() ==
        StatusCode::kHashMismatch);
  CHECK(check_blob(*posix_file_system(), dir / blob->url, BlobCheck{"zstd", std::string(64, '0'), blob->size, blob->stored_size}).code() ==
        StatusCode::kHashMismatch);
  CHECK(check_blob(*posix_file_system(), dir / "absent", BlobCheck{"identity", blob->sha256, 1, 1}).code() == StatusCode::kNotFound);
  write_text(dir / "empty.zst", "");
  CHECK(check_blob(*posix_file_system(), dir / "empty.zst", BlobCheck{"zstd", sha256_hex(""), 0, 0}).code() == StatusCode::kCorruption);
}
