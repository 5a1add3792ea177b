// `modelcast rollback` end to end: the device moves to the old content as a new version,
// downloads nothing when its cache holds the blobs, and still refuses a replayed older
// manifest.
#include "fleet_env.h"

using namespace modelcast;
using namespace modelcast::testing;

TEST_CASE("after a rollback devices go back to the old content as a new version and download no blob") {
  FleetEnv env;
  TempDir cache;
  const std::string good = random_bytes(200 * 1024, 1), bad = random_bytes(200 * 1024, 2);
  REQUIRE(env.publish(good).exit_code == 0);
  REQUIRE(FleetEnv::update(env.device(cache.path())).version == 1);
  REQUIRE(env.publish(bad).exit_code == 0);
  const std::string v2_text = read_all(env.current_path(2));
  UpdateResult r = FleetEnv::update(env.device(cache.path()));
  REQUIRE(r.version == 2);

  CommandResult rb = env.op("rollback", {"--to-version", "1"});
  REQUIRE_MESSAGE(rb.exit_code == 0, rb.err);
  CHECK(Json::parse(rb.out)["version"] == 3);
  env.nginx->clear_access_log();
  r = FleetEnv::update(env.device(cache.path()));
  CHECK(r.status == UpdateStatus::kUpdated);
  CHECK(r.version == 3);
  CHECK(r.bytes_downloaded == 0);
  CHECK(r.files_downloaded == 0);
  CHECK(r.files_reused == 1);
  for (const auto& line : env.nginx->access_log()) CHECK_MESSAGE(line.path.find("/blobs/") == std::string::npos, line.path);
  auto opened = open_cached_model(cache.path(), "classifier");
  REQUIRE(opened.ok());
  CHECK(read_all(opened->files[0].full_path) == good);

  // Rollback protection still holds: the bad version's manifest served again is refused.
  write_all(env.current_path(2), v2_text);
  env.age_current_manifest();
  r = FleetEnv::update(env.device(cache.path()));
  CHECK(r.status == UpdateStatus::kFallback);
  CHECK(r.reason == "rollback");
  CHECK(r.version == 3);
}
