// A refresh seen by real devices: the fetcher library against the refreshed tree behind a
// real nginx downloads only the manifest (no blob bytes), and a new install after the
// original expiry still gets the model.
#include <doctest/doctest.h>

#include <chrono>
#include <ctime>
#include <thread>

#include "modelcast/fetcher.h"
#include "modelcast/signing.h"
#include "nginx_server.h"
#include "publisher_test_util.h"

using namespace modelcast;
using namespace modelcast::test;
using modelcast::testing::NginxOptions;
using modelcast::testing::NginxServer;

namespace {

struct FixedClock : Clock {
  int64_t at;
  explicit FixedClock(int64_t t) : at(t) {}
  int64_t now_unix() const override { return at; }
};

UpdateResult update(const std::string& url, const std::string& cache, const PublicKey& key, int64_t now) {
  FetcherOptions o;
  o.base_url = url;
  o.cache_dir = cache;
  o.trusted_keys = {key};
  o.platform = "android";
  o.app_version = "1.0.0";
  o.features = {"text"};
  o.clock = std::make_shared<FixedClock>(now);
  auto f = Fetcher::create(std::move(o));
  REQUIRE_MESSAGE(f.ok(), f.status().message());
  return (*f)->update("clf");
}

}  // namespace

TEST_CASE("after a refresh devices download only the manifest, and new installs past the old expiry still work") {
  TempDir dir;
  Fixture f = make_fixture(dir);
  write_random(dir / "model.bin", 200000, 77);
  RunResult p = run_cli({"publish", f.tree, "--model", "clf", "--platform", "android", "--config", f.config, "--key", f.key,
                         "--expires-in", "2", "--quiet", dir / "model.bin"});
  REQUIRE_MESSAGE(p.exit_code == 0, p.err);
  auto pub = PublicKey::from_pem_file(f.pub);
  REQUIRE(pub.ok());
  std::string err;
  auto nginx = NginxServer::start(NginxOptions{f.tree}, &err);
  REQUIRE_MESSAGE(nginx != nullptr, err);
  const int64_t now = std::time(nullptr);

  UpdateResult first = update(nginx->url(), dir / "device", *pub, now);
  REQUIRE_MESSAGE(first.status == UpdateStatus::kUpdated, first.message);
  CHECK(first.bytes_downloaded > 0);
  // Five days on, version 1 has expired: a new install gets nothing.
  UpdateResult stale = update(nginx->url(), dir / "new-device-before", *pub, now + 5 * 86400);
  CHECK(stale.status == UpdateStatus::kNone);

  // nginx's ETag is the file's mtime in seconds plus its size: a refreshed manifest of the
  // same length written within the same second would look unchanged (a 304).
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  RunResult r = run_cli({"refresh", f.tree, "--key", f.key, "--within", "7"});
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  nginx->clear_access_log();

  UpdateResult second = update(nginx->url(), dir / "device", *pub, now);
  CHECK_MESSAGE(second.status == UpdateStatus::kUpdated, second.message);
  CHECK(second.version == 2);
  CHECK(second.bytes_downloaded == 0);
  CHECK(second.files_downloaded == 0);
  CHECK(second.files_reused == 1);
  for (const auto& e : nginx->access_log()) CHECK_MESSAGE(e.path.rfind("/blobs/", 0) != 0, e.path);

  UpdateResult fresh = update(nginx->url(), dir / "new-device-after", *pub, now + 5 * 86400);
  CHECK_MESSAGE(fresh.status == UpdateStatus::kUpdated, fresh.message);
  CHECK(fresh.version == 2);
}
