// A manifest's minimum OS (FORMAT.md "requires (format 2)") through the real publisher,
// nginx and the real fetcher: a device below it keeps its model with reason `unsupported`
// and downloads nothing; one at or above it installs; the format 1 document of such a
// version requires modelcast-format-2, so no fetcher installs it from format 1.
#include <filesystem>

#include "fleet_env.h"

using namespace modelcast;
using namespace modelcast::testing;

namespace {

size_t content_requests(const NginxServer& nginx) {
  size_t n = 0;
  for (const auto& line : nginx.access_log())
    n += line.path.find("/blobs/") != std::string::npos || line.path.find("/parts/") != std::string::npos ||
         line.path.find("/deltas/") != std::string::npos;
  return n;
}

FetcherOptions on_os(const FleetEnv& env, const std::string& cache, const std::string& os_version) {
  FetcherOptions o = env.device(cache);
  o.os_version = os_version;
  return o;
}

}  // namespace

TEST_CASE("a device below the minimum OS keeps its model with reason unsupported and downloads nothing") {
  FleetEnv env;
  TempDir cache;
  const std::string v1 = random_bytes(40 * 1024, 1), v2 = random_bytes(40 * 1024, 2);
  REQUIRE(env.publish(v1).exit_code == 0);
  UpdateResult r1 = FleetEnv::update(on_os(env, cache.path(), "16.4"));
  REQUIRE_MESSAGE(r1.status == UpdateStatus::kUpdated, (r1.reason + ": " + r1.message));

  CommandResult p2 = env.publish(v2, {"--min-os", "17.0"});
  REQUIRE_MESSAGE(p2.exit_code == 0, p2.err);
  ManifestV2 doc = env.current_v2();
  CHECK(doc.requirements.min_os_version == "17.0");

  env.nginx->clear_access_log();
  UpdateResult below = FleetEnv::update(on_os(env, cache.path(), "16.4"));
  CHECK(below.status == UpdateStatus::kFallback);
  CHECK(below.reason == "unsupported");
  CHECK(below.version == 1);
  CHECK(below.offered_version == 2);
  CHECK(below.message.find("requires android-arm64 17.0 or later, this device runs 16.4") != std::string::npos);
  CHECK(below.bytes_downloaded == 0);
  CHECK(content_requests(*env.nginx) == 0);
  auto kept = open_cached_model(cache.path(), "classifier");
  REQUIRE(kept.ok());
  CHECK(read_all(kept->files[0].full_path) == v1);

  // An app that does not say its OS version is treated as below any minimum.
  UpdateResult unknown = FleetEnv::update(env.device(cache.path()));
  CHECK(unknown.reason == "unsupported");
  CHECK(unknown.message.find("did not declare the OS version") != std::string::npos);
  CHECK(content_requests(*env.nginx) == 0);

  // The CLI says the same.
  CommandResult cli = run_command({MODELCAST_FETCH_CLI, "update", "--url", env.nginx->url() + "/tree", "--cache",
                                   cache.path(), "--model", "classifier", "--platform", "android-arm64", "--pubkey",
                                   env.key + ".pub", "--os-version", "16.4", "--json"});
  REQUIRE_MESSAGE(!cli.out.empty(), cli.err);
  Json j = Json::parse(cli.out);
  CHECK(j["status"] == "fallback");
  CHECK(j["reason"] == "unsupported");
  CHECK(content_requests(*env.nginx) == 0);

  UpdateResult at = FleetEnv::update(on_os(env, cache.path(), "17"));
  REQUIRE_MESSAGE(at.status == UpdateStatus::kUpdated, (at.reason + ": " + at.message));
  CHECK(at.version == 2);
  auto taken = open_cached_model(cache.path(), "classifier");
  REQUIRE(taken.ok());
  CHECK(read_all(taken->files[0].full_path) == v2);
  CHECK(taken->manifest.requirements.min_os_version == "17.0");
}

TEST_CASE("the format 1 document of a version with a minimum OS requires format 2, so it is never installed from format 1") {
  FleetEnv env;
  TempDir cache;
  REQUIRE(env.publish(random_bytes(30 * 1024, 3)).exit_code == 0);
  UpdateResult r1 = FleetEnv::update(on_os(env, cache.path(), "18.0"));
  REQUIRE(r1.status == UpdateStatus::kUpdated);
  REQUIRE(env.publish(random_bytes(30 * 1024, 4), {"--min-os", "17.0"}).exit_code == 0);

  Manifest v1doc = env.current();
  CHECK(v1doc.requirements.min_os_version.empty());
  CHECK(v1doc.requirements.features == std::vector<std::string>{"modelcast-format-2"});
  CHECK(read_all(env.current_path(1)).find("min_os_version") == std::string::npos);

  // Without its format 2 document, even a device new enough does not take it from format 1.
  std::filesystem::rename(env.tree + "/v2", env.work / "v2-aside");
  env.nginx->clear_access_log();
  UpdateResult r = FleetEnv::update(on_os(env, cache.path(), "18.0"));
  CHECK(r.status == UpdateStatus::kFallback);
  CHECK(r.reason == "unsupported-feature");
  CHECK(r.manifest_format == 1);
  CHECK(r.version == 1);
  CHECK(content_requests(*env.nginx) == 0);

  std::filesystem::rename(env.work / "v2-aside", env.tree + "/v2");
  UpdateResult r2 = FleetEnv::update(on_os(env, cache.path(), "18.0"));
  CHECK(r2.status == UpdateStatus::kUpdated);
  CHECK(r2.version == 2);

  // Publishing the same content and minimum again is unchanged; another minimum is a new version.
  CommandResult again = env.publish(random_bytes(30 * 1024, 4), {"--min-os", "17.0"});
  REQUIRE_MESSAGE(again.exit_code == 0, again.err);
  CHECK(Json::parse(again.out)["status"] == "unchanged");
  CommandResult raised = env.publish(random_bytes(30 * 1024, 4), {"--min-os", "17.2"});
  REQUIRE_MESSAGE(raised.exit_code == 0, raised.err);
  CHECK(Json::parse(raised.out)["version"] == 3);
  CHECK(env.current_v2().requirements.min_os_version == "17.2");
  CommandResult bad = env.publish(random_bytes(30 * 1024, 4), {"--min-os", "seventeen"});
  CHECK(bad.exit_code == 2);
  CHECK(bad.err.find("--min-os") != std::string::npos);
}
