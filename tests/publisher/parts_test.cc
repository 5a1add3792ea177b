// Host file limits: `init --host` records the limit, and a publish stores every blob above
// it only as content-addressed parts, writing a format 2 document that lists them and a
// format 1 document that requires modelcast-format-2 (FORMAT.md "Format 2").
#include <doctest/doctest.h>

#include <sys/stat.h>

#include <algorithm>

#include "modelcast/fs.h"
#include "modelcast/sha256.h"
#include "modelcast/signed_manifest.h"
#include "modelcast/signed_manifest_v2.h"
#include "publisher_test_util.h"
#include "tree.h"

using namespace modelcast;
using namespace modelcast::test;

namespace {

uint64_t file_size(const std::string& path) {
  struct stat st;
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return static_cast<uint64_t>(st.st_size);
}

std::vector<std::string> publish_args(const Fixture& f, const std::string& file) {
  return {"publish", f.tree, "--model", "big", "--platform", "android", "--config", f.config, "--key", f.key, "--json", file};
}

}  // namespace

TEST_CASE("init --host stores the largest file the host accepts and refuses an unknown host") {
  TempDir dir;
  struct Case {
    const char* host;
    uint64_t bytes;
  };
  for (const Case& c : {Case{"github-pages", 100000000}, Case{"cloudflare-pages", 26214400}, Case{"none", 0}}) {
    CAPTURE(c.host);
    std::string tree = dir / c.host;
    RunResult r = run_cli({"init", tree, "--host", c.host});
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    Json settings = Json::parse(read_text(tree + "/modelcast.json"));
    CHECK(settings["host"]["name"] == c.host);
    CHECK(settings["host"]["max_file_bytes"] == c.bytes);
  }
  RunResult bad = run_cli({"init", dir / "bad", "--host", "geocities"});
  CHECK(bad.exit_code == 2);
  CHECK(bad.err.find("--host: \"geocities\" is not github-pages, cloudflare-pages or none") != std::string::npos);
  CHECK(!path_exists(dir / "bad/modelcast.json"));
}

TEST_CASE("a blob above the host limit is committed only as parts, listed by the format 2 document") {
  TempDir dir;
  Fixture f = make_fixture(dir);
  set_file_limit(f.tree, 100000);
  write_random(dir / "model.bin", 350000, 7);  // incompressible: stored as identity, 350,000 bytes
  RunResult r = run_cli(publish_args(f, dir / "model.bin"));
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);

  auto v2 = parse_signed_manifest_v2(read_text(f.tree + "/v2/manifests/big/stable/android/1.json"));
  REQUIRE_MESSAGE(v2.ok(), v2.status().message());
  REQUIRE(v2->manifest.files.size() == 1);
  const FileEntryV2& file = v2->manifest.files[0];
  REQUIRE(file.blobs.size() == 1);
  const BlobV2& blob = file.blobs[0];
  CHECK(blob.url.empty());
  REQUIRE(blob.parts.size() == 4);  // the fewest equal parts of at most 100,000 bytes
  std::string joined;
  for (const auto& p : blob.parts) {
    CHECK(p.size == 87500);
    std::string bytes = read_text(f.tree + "/" + p.url);
    CHECK(bytes.size() == p.size);
    CHECK(sha256_hex(bytes) == p.sha256);
    joined += bytes;
  }
  CHECK(joined == read_text(dir / "model.bin"));
  CHECK(!path_exists(f.tree + "/" + blob_url_for(file.sha256, blob.encoding)));

  // Format 1 readers are told, before they download anything, that they cannot take it.
  auto v1 = parse_signed_manifest(read_text(f.tree + "/manifests/big/stable/android/1.json"));
  REQUIRE(v1.ok());
  const auto& features = v1->manifest.requirements.features;
  CHECK(std::find(features.begin(), features.end(), "modelcast-format-2") != features.end());
  CHECK(v1->manifest.files[0].url == format_blob_path(file.sha256, blob.encoding == "zstd" ? ".zst" : ""));
  CHECK(read_text(f.tree + "/manifests/big/stable/android.json") == read_text(f.tree + "/manifests/big/stable/android/1.json"));

  CommitInfo c = read_commit(f.tree, "HEAD");
  for (const auto& path : c.changed_paths) {
    CAPTURE(path);
    CHECK(file_size(f.tree + "/" + path) <= 100000);
  }
  for (const auto& p : blob.parts) CHECK(std::find(c.changed_paths.begin(), c.changed_paths.end(), p.url) != c.changed_paths.end());
  CHECK(dirty_paths(f.tree) == 0);
  RunResult v = run_cli({"verify", f.tree});
  CHECK_MESSAGE(v.exit_code == 0, std::string(v.out + v.err));

  // The same content again is unchanged, and leaves no whole blob behind.
  RunResult again = run_cli(publish_args(f, dir / "model.bin"));
  REQUIRE_MESSAGE(again.exit_code == 0, again.err);
  CHECK(parse_stdout_json(again)["status"] == "unchanged");
  CHECK(!path_exists(f.tree + "/" + blob_url_for(file.sha256, blob.encoding)));
  CHECK(dirty_paths(f.tree) == 0);
}

TEST_CASE("verify reports a damaged part by name") {
  TempDir dir;
  Fixture f = make_fixture(dir);
  set_file_limit(f.tree, 100000);
  write_random(dir / "model.bin", 250000, 8);
  REQUIRE(run_cli(publish_args(f, dir / "model.bin")).exit_code == 0);
  auto v2 = parse_signed_manifest_v2(read_text(f.tree + "/v2/manifests/big/stable/android.json"));
  REQUIRE(v2.ok());
  const std::string part = v2->manifest.files[0].blobs[0].parts[1].url;
  std::string bytes = read_text(f.tree + "/" + part);
  bytes[100] = static_cast<char>(bytes[100] ^ 1);
  ::chmod((f.tree + "/" + part).c_str(), 0644);
  write_text(f.tree + "/" + part, bytes);
  RunResult v = run_cli({"verify", f.tree});
  CHECK(v.exit_code != 0);
  CHECK_MESSAGE(v.err.find(part + " (named by v2/manifests/big/stable/android/1.json): has 83334 bytes") != std::string::npos,
                v.err);
}
