// Format evolution (FORMAT.md "How format 1 readers are served"): the fetcher of an app
// that never updates, built from this repository's history before the fetcher read format
// 2, keeps working on a tree the current publisher writes: full blobs for normal files,
// and `unsupported-feature` (its model kept, nothing downloaded) for a version whose file
// exists only as parts or that requires a minimum OS. Today's fetcher takes both versions
// (the second when its OS is new enough). Both run as processes.
#include "fleet_env.h"

using namespace modelcast;
using namespace modelcast::testing;

namespace {

Json fetch(const char* binary, const FleetEnv& env, const std::string& cache, std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {binary, "update", "--url", env.nginx->url() + "/tree", "--cache", cache, "--model",
                                   "classifier", "--platform", "android-arm64", "--pubkey", env.key + ".pub", "--json"};
  args.insert(args.end(), extra.begin(), extra.end());
  CommandResult r = run_command(args);
  INFO(binary, ": ", r.err);
  REQUIRE(!r.out.empty());
  return Json::parse(r.out);
}

size_t requests_for_content(const NginxServer& nginx) {
  size_t n = 0;
  for (const auto& line : nginx.access_log())
    n += line.path.find("/blobs/") != std::string::npos || line.path.find("/parts/") != std::string::npos;
  return n;
}

}  // namespace

TEST_CASE("a format 1 fetcher takes full blobs from a format 2 tree and refuses a parts-only version cleanly") {
  FleetEnv env;
  TempDir old_cache, new_cache;
  const std::string small = random_bytes(60 * 1024, 1);
  REQUIRE(env.publish(small).exit_code == 0);

  Json old1 = fetch(MODELCAST_FORMAT1_FETCH, env, old_cache.path());
  CHECK(old1["status"] == "updated");
  CHECK(old1["version"] == 1);
  CHECK(old1.count("manifest_format") == 0);  // it is the old binary
  Json new1 = fetch(MODELCAST_FETCH_CLI, env, new_cache.path());
  CHECK(new1["status"] == "updated");
  CHECK(new1["manifest_format"] == 2);

  // Version 2's file is above the host limit: stored only as parts.
  Json settings = Json::parse(read_all(env.tree + "/modelcast.json"));
  settings["host"] = {{"name", "test"}, {"max_file_bytes", 100000}};
  write_all(env.tree + "/modelcast.json", settings.dump(2) + "\n");
  const std::string git = "git -C " + env.tree + " -c user.name=t -c user.email=t@t ";
  REQUIRE(run_command({"/bin/sh", "-c", git + "commit -qam limit"}).exit_code == 0);
  const std::string big = random_bytes(300000, 2);
  REQUIRE(env.publish(big).exit_code == 0);

  env.nginx->clear_access_log();
  Json old2 = fetch(MODELCAST_FORMAT1_FETCH, env, old_cache.path());
  CHECK(old2["status"] == "fallback");
  CHECK(old2["reason"] == "unsupported-feature");
  CHECK(old2["version"] == 1);
  CHECK(old2["message"].get<std::string>().find("modelcast-format-2") != std::string::npos);
  CHECK(requests_for_content(*env.nginx) == 0);
  auto kept = open_cached_model(old_cache.path(), "classifier");
  REQUIRE(kept.ok());
  CHECK(read_all(kept->files[0].full_path) == small);

  Json new2 = fetch(MODELCAST_FETCH_CLI, env, new_cache.path());
  CHECK(new2["status"] == "updated");
  CHECK(new2["version"] == 2);
  auto taken = open_cached_model(new_cache.path(), "classifier");
  REQUIRE(taken.ok());
  CHECK(read_all(taken->files[0].full_path) == big);
}

TEST_CASE("a format 1 fetcher refuses a version that requires a minimum OS, downloading nothing") {
  FleetEnv env;
  TempDir old_cache, new_cache;
  const std::string v1 = random_bytes(50 * 1024, 3);
  REQUIRE(env.publish(v1).exit_code == 0);
  CHECK(fetch(MODELCAST_FORMAT1_FETCH, env, old_cache.path())["status"] == "updated");
  CHECK(fetch(MODELCAST_FETCH_CLI, env, new_cache.path(), {"--os-version", "16.4"})["status"] == "updated");
  REQUIRE(env.publish(random_bytes(50 * 1024, 4), {"--min-os", "17.0"}).exit_code == 0);

  env.nginx->clear_access_log();
  Json old2 = fetch(MODELCAST_FORMAT1_FETCH, env, old_cache.path());
  CHECK(old2["status"] == "fallback");
  CHECK(old2["reason"] == "unsupported-feature");
  CHECK(old2["version"] == 1);
  CHECK(requests_for_content(*env.nginx) == 0);
  auto kept = open_cached_model(old_cache.path(), "classifier");
  REQUIRE(kept.ok());
  CHECK(read_all(kept->files[0].full_path) == v1);

  Json below = fetch(MODELCAST_FETCH_CLI, env, new_cache.path(), {"--os-version", "16.4"});
  CHECK(below["status"] == "fallback");
  CHECK(below["reason"] == "unsupported");
  CHECK(requests_for_content(*env.nginx) == 0);
  Json at = fetch(MODELCAST_FETCH_CLI, env, new_cache.path(), {"--os-version", "17.0"});
  CHECK(at["status"] == "updated");
  CHECK(at["version"] == 2);
}
