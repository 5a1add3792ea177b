// Format 2 on the device (FORMAT.md "Format 2"): the fetcher reads v2/manifests/... first
// and the format 1 document only after a 404, installs whole blobs and files stored as
// parts, and falls back cleanly on a bad part, keeping what it already received.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "fetch_plan.h"
#include "fleet_env.h"

using namespace modelcast;
using namespace modelcast::testing;

namespace {

// Lowers the tree's host file limit (as `init --host` records a real host's) so a small
// file is published as parts.
void set_file_limit(FleetEnv& env, uint64_t bytes) {
  Json settings = Json::parse(read_all(env.tree + "/modelcast.json"));
  settings["host"] = {{"name", "test"}, {"max_file_bytes", bytes}};
  write_all(env.tree + "/modelcast.json", settings.dump(2) + "\n");
  const std::string git = "git -C " + env.tree + " -c user.name=t -c user.email=t@t ";
  REQUIRE(run_command({"/bin/sh", "-c", git + "commit -qam limit"}).exit_code == 0);
}

size_t requests_under(const NginxServer& nginx, const std::string& prefix) {
  size_t n = 0;
  for (const auto& line : nginx.access_log()) n += line.path.compare(0, prefix.size(), prefix) == 0;
  return n;
}

std::vector<BlobPart> current_parts(const FleetEnv& env) {
  ManifestV2 m = env.current_v2();
  REQUIRE(m.files.size() == 1);
  REQUIRE(m.files[0].blobs.size() == 1);
  return m.files[0].blobs[0].parts;
}

}  // namespace

TEST_CASE("the fetcher reads the format 2 document first and installs its whole blob") {
  FleetEnv env;
  TempDir cache;
  const std::string content = random_bytes(150 * 1024, 1);
  REQUIRE(env.publish(content).exit_code == 0);
  UpdateResult r = FleetEnv::update(env.device(cache.path()));
  REQUIRE_MESSAGE(r.status == UpdateStatus::kUpdated, (r.reason + ": " + r.message));
  CHECK(r.manifest_format == 2);
  CHECK(r.wire_bytes >= r.bytes_downloaded);
  CHECK(r.bytes_downloaded >= content.size());
  CHECK(requests_under(*env.nginx, "/tree/v2/manifests/") == 1);
  CHECK(requests_under(*env.nginx, "/tree/manifests/") == 0);
  auto opened = open_cached_model(cache.path(), "classifier");
  REQUIRE(opened.ok());
  CHECK(read_all(opened->files[0].full_path) == content);
  CHECK(opened->manifest.version == 1);
}

TEST_CASE("a tree without format 2 documents is read from format 1 after a 404, and the rollback floor is shared") {
  FleetEnv env;
  TempDir cache;
  REQUIRE(env.publish(random_bytes(50 * 1024, 1)).exit_code == 0);
  REQUIRE(env.publish(random_bytes(50 * 1024, 2)).exit_code == 0);
  const std::string v2_of_version_2 = read_all(env.current_path(2));
  // An older publisher's tree: format 1 only.
  std::filesystem::rename(env.tree + "/v2", env.work / "v2-aside");
  UpdateResult r = FleetEnv::update(env.device(cache.path()));
  REQUIRE_MESSAGE(r.status == UpdateStatus::kUpdated, (r.reason + ": " + r.message));
  CHECK(r.version == 2);
  CHECK(r.manifest_format == 1);
  bool saw_404 = false;
  for (const auto& line : env.nginx->access_log())
    if (line.path == "/tree/v2/manifests/classifier/stable/android-arm64.json") saw_404 = line.status == 404;
  CHECK(saw_404);
  auto opened = open_cached_model(cache.path(), "classifier");
  REQUIRE(opened.ok());
  CHECK(opened->version == 2);

  // Format 2 documents appear again, one of them replaying version 1: refused as a rollback
  // because the floor (version 2) was raised by the format 1 document.
  std::filesystem::rename(env.work / "v2-aside", env.tree + "/v2");
  write_all(env.current_path(2), read_all(env.tree + "/v2/manifests/classifier/stable/android-arm64/1.json"));
  env.age_current_manifest();
  r = FleetEnv::update(env.device(cache.path()));
  CHECK(r.status == UpdateStatus::kFallback);
  CHECK(r.reason == "rollback");
  CHECK(r.manifest_format == 2);
  write_all(env.current_path(2), v2_of_version_2);
  env.age_current_manifest();
  r = FleetEnv::update(env.device(cache.path()));
  CHECK(r.status == UpdateStatus::kCurrent);
  CHECK(r.version == 2);
}

TEST_CASE("a file stored as parts is fetched part by part and installed whole") {
  FleetEnv env;
  TempDir cache;
  set_file_limit(env, 100000);
  const std::string content = random_bytes(350000, 3);  // incompressible: identity, 4 parts
  REQUIRE(env.publish(content).exit_code == 0);
  REQUIRE(current_parts(env).size() == 4);
  UpdateResult r = FleetEnv::update(env.device(cache.path()));
  REQUIRE_MESSAGE(r.status == UpdateStatus::kUpdated, (r.reason + ": " + r.message));
  CHECK(r.manifest_format == 2);
  CHECK(r.bytes_downloaded == content.size());
  CHECK(r.files_downloaded == 1);
  CHECK(requests_under(*env.nginx, "/tree/parts/") == 4);
  CHECK(requests_under(*env.nginx, "/tree/blobs/") == 0);
  auto opened = open_cached_model(cache.path(), "classifier", OpenOptions{true});
  REQUIRE_MESSAGE(opened.ok(), opened.status().message());
  CHECK(read_all(opened->files[0].full_path) == content);
  // The parts were only a way to get the file: nothing of them stays in the cache.
  CHECK(std::distance(std::filesystem::recursive_directory_iterator(cache / "tmp"),
                      std::filesystem::recursive_directory_iterator()) == 0);
}

TEST_CASE("a bad part (wrong bytes, too long, missing) falls back with the old model kept; the next update fetches only what is missing") {
  FleetEnv env;
  TempDir cache;
  const std::string old_content = random_bytes(20000, 4);
  REQUIRE(env.publish(old_content).exit_code == 0);
  REQUIRE(FleetEnv::update(env.device(cache.path())).version == 1);
  set_file_limit(env, 100000);
  const std::string content = random_bytes(350000, 5);
  REQUIRE(env.publish(content).exit_code == 0);
  const std::vector<BlobPart> parts = current_parts(env);
  REQUIRE(parts.size() == 4);
  const std::string third = env.tree + "/" + parts[2].url;
  const std::string good = read_all(third);
  ::chmod(third.c_str(), 0644);

  struct Case {
    const char* what;
    std::string bytes;  // empty: the part is missing (HTTP 404)
    const char* reason;
  };
  std::string flipped = good;
  flipped[10] = static_cast<char>(flipped[10] ^ 1);
  for (const Case& c : {Case{"wrong bytes", flipped, "hash-mismatch"}, Case{"too long", good + "x", "hash-mismatch"},
                        Case{"missing", "", "network"}}) {
    CAPTURE(c.what);
    if (c.bytes.empty()) REQUIRE(::unlink(third.c_str()) == 0);
    else write_all(third, c.bytes);
    UpdateResult r = FleetEnv::update(env.device(cache.path()));
    CHECK(r.status == UpdateStatus::kFallback);
    CHECK(r.reason == c.reason);
    CHECK(r.version == 1);
    auto opened = open_cached_model(cache.path(), "classifier");
    REQUIRE(opened.ok());
    CHECK(read_all(opened->files[0].full_path) == old_content);
  }

  write_all(third, good);
  env.nginx->clear_access_log();
  UpdateResult r = FleetEnv::update(env.device(cache.path()));
  REQUIRE_MESSAGE(r.status == UpdateStatus::kUpdated, (r.reason + ": " + r.message));
  CHECK(r.version == 2);
  // Parts 1 and 2 were kept from the failed updates: only 3 and 4 cross the wire.
  CHECK(requests_under(*env.nginx, "/tree/parts/") == 2);
  CHECK(r.bytes_downloaded == parts[2].size + parts[3].size);
  auto opened = open_cached_model(cache.path(), "classifier", OpenOptions{true});
  REQUIRE(opened.ok());
  CHECK(read_all(opened->files[0].full_path) == content);
}

TEST_CASE("a version stored only as parts, read through format 1 after a 404, is unsupported with nothing downloaded") {
  FleetEnv env;
  TempDir cache;
  set_file_limit(env, 100000);
  REQUIRE(env.publish(random_bytes(350000, 6)).exit_code == 0);
  REQUIRE(current_parts(env).size() == 4);
  std::filesystem::rename(env.tree + "/v2", env.work / "v2-aside");
  for (int check = 0; check < 2; ++check) {
    UpdateResult r = FleetEnv::update(env.device(cache.path()));
    CHECK(r.status == UpdateStatus::kNone);
    CHECK(r.reason == "unsupported-feature");
    CHECK_MESSAGE(r.message.find("modelcast-format-2") != std::string::npos, r.message);
    CHECK(r.manifest_format == 1);
    CHECK(r.bytes_downloaded == 0);
    CHECK(r.retry_after_s == 0);  // not a network failure: no back-off
  }
  CHECK(requests_under(*env.nginx, "/tree/blobs/") == 0);
  CHECK(requests_under(*env.nginx, "/tree/parts/") == 0);
}

TEST_CASE("a part damaged in the cache after it was verified is fetched again in the same update") {
  FleetEnv env;
  TempDir cache;
  const std::string old_content = random_bytes(20000, 7);
  REQUIRE(env.publish(old_content).exit_code == 0);
  REQUIRE(FleetEnv::update(env.device(cache.path())).version == 1);
  set_file_limit(env, 100000);
  const std::string content = random_bytes(350000, 8);
  REQUIRE(env.publish(content).exit_code == 0);
  const std::vector<BlobPart> parts = current_parts(env);
  REQUIRE(parts.size() == 4);
  // An update that stops at a missing last part keeps parts 1 to 3 in blobs/.
  const std::string last = env.tree + "/" + parts[3].url;
  const std::string last_bytes = read_all(last);
  ::chmod(last.c_str(), 0644);
  REQUIRE(::unlink(last.c_str()) == 0);
  REQUIRE(FleetEnv::update(env.device(cache.path())).reason == "network");
  write_all(last, last_bytes);
  // 4 bytes of a kept part change on the device (a bad sector, a stray write).
  const std::string kept = cache / ("blobs/sha256/" + parts[1].sha256.substr(0, 2) + "/" + parts[1].sha256);
  REQUIRE(std::filesystem::exists(kept));
  ::chmod(kept.c_str(), 0644);
  std::string damaged = read_all(kept);
  damaged.replace(1000, 4, "XXXX");
  write_all(kept, damaged);

  SUBCASE("the server's copy is good: the update installs") {
    env.nginx->clear_access_log();
    UpdateResult r = FleetEnv::update(env.device(cache.path()));
    REQUIRE_MESSAGE(r.status == UpdateStatus::kUpdated, (r.reason + ": " + r.message));
    CHECK(r.version == 2);
    CHECK(requests_under(*env.nginx, "/tree/" + parts[1].url) == 1);
    CHECK(requests_under(*env.nginx, "/tree/" + parts[3].url) == 1);
    CHECK(requests_under(*env.nginx, "/tree/parts/") == 2);
    auto opened = open_cached_model(cache.path(), "classifier", OpenOptions{true});
    REQUIRE(opened.ok());
    CHECK(read_all(opened->files[0].full_path) == content);
  }
  SUBCASE("the server's copy is damaged the same way: the message names that part's URL, the next good answer installs") {
    const std::string served = env.tree + "/" + parts[1].url;
    const std::string good = read_all(served);
    ::chmod(served.c_str(), 0644);
    write_all(served, damaged);
    UpdateResult r = FleetEnv::update(env.device(cache.path()));
    CHECK(r.status == UpdateStatus::kFallback);
    CHECK(r.reason == "hash-mismatch");
    CHECK_MESSAGE(r.message.find(parts[1].url) != std::string::npos, r.message);
    CHECK(r.version == 1);
    write_all(served, good);
    r = FleetEnv::update(env.device(cache.path()));
    CHECK_MESSAGE(r.status == UpdateStatus::kUpdated, (r.reason + ": " + r.message));
  }
}

TEST_CASE("the blob choice takes the first encoding this fetcher decodes and marks a file with none unsupported") {
  FileEntryV2 f;
  f.blobs = {BlobV2{"brotli-9", 10, "blobs/x", {}}, BlobV2{"zstd", 20, "blobs/y.zst", {}}, BlobV2{"identity", 30, "blobs/y", {}}};
  const BlobV2* chosen = choose_blob(f);
  REQUIRE(chosen != nullptr);
  CHECK(chosen->encoding == "zstd");
  CHECK(fetcher_decodes_blob("xform"));
  CHECK_FALSE(fetcher_decodes_blob("zstd-patch"));

  SignedManifestV2 sm;
  sm.manifest.model = "m";
  sm.manifest.version = 7;
  FileEntryV2 only_unknown;
  only_unknown.path = "model.bin";
  only_unknown.blobs = {BlobV2{"brotli-9", 10, "blobs/x", {}}};
  sm.manifest.files = {f, only_unknown};
  FetchPlan plan = plan_from_v2(sm);
  CHECK(plan.format == 2);
  CHECK(plan.unsupported == "v7: model.bin is stored in no encoding this fetcher decodes");
  CHECK(plan.view.manifest.files[0].encoding == "zstd");
  CHECK(plan.view.manifest.files[0].url == "blobs/y.zst");
}
