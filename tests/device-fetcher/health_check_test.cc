// The app's health check before a version goes live: a failing version keeps the old
// model, is remembered by its manifest's bytes and is not downloaded again; a hanging
// command is killed at its timeout.
#include <unistd.h>

#include <chrono>

#include "fleet_env.h"
#include "modelcast/fs.h"

using namespace modelcast;
using namespace modelcast::testing;

namespace {
size_t blob_requests(NginxServer& nginx) {
  size_t n = 0;
  for (const auto& line : nginx.access_log())
    if (line.path.find("/blobs/") != std::string::npos) ++n;
  return n;
}
}  // namespace

TEST_CASE("a version that fails the app's health check keeps the old model and is not downloaded again") {
  FleetEnv env;
  TempDir cache;
  const std::string good = random_bytes(50000, 1), broken = random_bytes(50000, 2), fixed = random_bytes(50000, 3);
  REQUIRE(env.publish(good).exit_code == 0);
  std::string seen_dir, current_during_check;
  FetcherOptions o = env.device(cache.path());
  o.health_check = [&](const std::string& dir, uint64_t version, std::string* why) {
    seen_dir = dir;
    current_during_check = read_all(cache / "models/classifier/current/model.bin");
    if (read_all(dir + "/model.bin") == broken) {
      *why = "model v" + std::to_string(version) + " returns NaN";
      return false;
    }
    return true;
  };
  REQUIRE(FleetEnv::update(o).version == 1);

  REQUIRE(env.publish(broken).exit_code == 0);
  UpdateResult r = FleetEnv::update(o);
  CHECK(r.status == UpdateStatus::kFallback);
  CHECK(r.reason == "health-check");
  CHECK(r.message.find("returns NaN") != std::string::npos);
  CHECK(r.version == 1);
  CHECK(seen_dir == cache / "models/classifier/versions/2");
  CHECK(current_during_check == good);  // `current` had not moved when the check ran
  CHECK_FALSE(path_exists(cache / "models/classifier/versions/2"));
  auto opened = open_cached_model(cache.path(), "classifier");
  REQUIRE(opened.ok());
  CHECK(opened->version == 1);
  CHECK(read_all(opened->files[0].full_path) == good);

  // The same manifest again: refused before any download.
  env.nginx->clear_access_log();
  r = FleetEnv::update(o);
  CHECK(r.reason == "health-check");
  CHECK(r.bytes_downloaded == 0);
  CHECK(blob_requests(*env.nginx) == 0);
  CHECK(read_model_state(cache.path(), "classifier")->bad_manifest_sha256.size() == 64);

  // A different version is tried normally.
  REQUIRE(env.publish(fixed).exit_code == 0);
  r = FleetEnv::update(o);
  CHECK(r.status == UpdateStatus::kUpdated);
  CHECK(r.version == 3);
}

TEST_CASE("modelcast-fetch --health-cmd: a passing command installs, a hanging one is killed and counts as failed") {
  FleetEnv env;
  TempDir cache;
  REQUIRE(env.publish(random_bytes(20000, 1)).exit_code == 0);
  auto fetch = [&](const std::string& cmd) {
    return run_command({MODELCAST_FETCH_CLI, "update", "--url", env.nginx->url() + "/tree", "--cache", cache.path(),
                        "--model", "classifier", "--platform", "android-arm64", "--pubkey", env.key + ".pub", "--json",
                        "--health-cmd", cmd, "--health-timeout", "1"});
  };
  CommandResult ok = fetch("test -f \"$1/model.bin\" && test \"$MODELCAST_VERSION\" = 1 && echo checked");
  REQUIRE_MESSAGE(ok.exit_code == 0, ok.err);
  CHECK(Json::parse(ok.out)["status"] == "updated");  // the command's own stdout went to stderr

  REQUIRE(env.publish(random_bytes(20000, 2)).exit_code == 0);
  const auto start = std::chrono::steady_clock::now();
  CommandResult hang = fetch("sleep 30");
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  CHECK(hang.exit_code == 0);  // the old model is still usable
  Json out = Json::parse(hang.out);
  CHECK(out["status"] == "fallback");
  CHECK(out["reason"] == "health-check");
  CHECK(out["version"] == 1);
  CHECK(out["message"].get<std::string>().find("did not finish within 1000 ms") != std::string::npos);
  CHECK(seconds < 20);  // bounded: nowhere near the command's 30 s

  CommandResult failing = fetch("exit 3");
  CHECK(Json::parse(failing.out)["reason"] == "health-check");
}
