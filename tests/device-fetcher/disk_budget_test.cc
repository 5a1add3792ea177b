// max_cache_bytes: older versions and unreferenced blobs make room, the active version
// never does, and an update that cannot fit fails with reason io and the numbers.
#include "fleet_env.h"
#include "modelcast/fs.h"

using namespace modelcast;
using namespace modelcast::testing;

TEST_CASE("a disk budget evicts the oldest inactive version to make room and refuses what cannot fit") {
  FleetEnv env;
  TempDir cache;
  const size_t kSize = 300 * 1000;  // random bytes: stored as is
  FetcherOptions o = env.device(cache.path());
  o.max_cache_bytes = 700 * 1000;
  o.keep_versions = 3;  // the budget, not the count, decides here
  for (uint32_t v = 1; v <= 3; ++v) {
    REQUIRE(env.publish(random_bytes(kSize, v)).exit_code == 0);
    UpdateResult r = FleetEnv::update(o);
    REQUIRE_MESSAGE(r.status == UpdateStatus::kUpdated, r.reason << ": " << r.message);
    CHECK(r.version == v);
  }
  // Two versions fit in 700 kB, three do not: v1 went first.
  CHECK_FALSE(path_exists(cache / "models/classifier/versions/1"));
  CHECK(path_exists(cache / "models/classifier/versions/2"));
  CHECK(path_exists(cache / "models/classifier/versions/3"));

  // 400 kB: even without v2 the active v3 and a new 300 kB file do not fit.
  o.max_cache_bytes = 400 * 1000;
  REQUIRE(env.publish(random_bytes(kSize, 4)).exit_code == 0);
  UpdateResult r = FleetEnv::update(o);
  CHECK(r.status == UpdateStatus::kFallback);
  CHECK(r.reason == "io");
  CHECK(r.message.find("max_cache_bytes is 400000") != std::string::npos);
  CHECK(r.message.find("needs ") != std::string::npos);
  CHECK(r.version == 3);
  CHECK(r.bytes_downloaded == 0);
  CHECK(path_exists(cache / "models/classifier/versions/2"));  // nothing removed for an update that cannot fit
  auto opened = open_cached_model(cache.path(), "classifier", OpenOptions{true});
  REQUIRE(opened.ok());
  CHECK(opened->version == 3);
}
