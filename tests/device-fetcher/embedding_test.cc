// What an app embedding the fetcher relies on beyond update/open: download conditions
// (deferred, nothing downloaded), listing and removing cached models, and the CLI's
// list/remove, --version, JSON errors and progress line. Served from file:// trees.
#include <doctest/doctest.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <optional>
#include <thread>

#include "../../device-fetcher/tools/progress_line.h"
#include "fetch_test_util.h"
#include "modelcast/cache_admin.h"

using namespace modelcast;
using namespace modelcast::testing;

namespace {

struct FileEnv {
  TempDir tree_dir, cache_dir;
  TreeFixture tree{tree_dir.path()};

  PublishSpec spec(uint64_t version, uint32_t seed) {
    PublishSpec s;
    s.version = version;
    s.files = {{"model.bin", random_bytes(64 * 1024, seed), true}, {"labels.txt", "cat\ndog\n", false}};
    return s;
  }
  FetcherOptions options() const {
    FetcherOptions o;
    o.base_url = "file://" + tree_dir.path();
    o.cache_dir = cache_dir.path();
    o.trusted_keys = {tree.key().public_key()};
    o.platform = "android-arm64";
    return o;
  }
  std::unique_ptr<Fetcher> fetcher(const FetcherOptions& o) {
    auto f = Fetcher::create(o);
    REQUIRE_MESSAGE(f.ok(), f.status().message());
    return std::move(f).value();
  }
};

bool has_tmp_files(const std::string& cache) {
  return std::filesystem::exists(cache + "/tmp") && !std::filesystem::is_empty(cache + "/tmp");
}

}  // namespace

TEST_CASE("an update over the app's byte limit is deferred and downloads nothing") {
  FileEnv env;
  env.tree.publish(env.spec(1, 1));
  FetcherOptions o = env.options();
  o.conditions.max_update_bytes = 1000;
  auto f = env.fetcher(o);
  UpdateResult r = f->update("classifier");
  CHECK(r.status == UpdateStatus::kNone);
  CHECK(r.reason == "deferred");
  CHECK(r.message.find("limit of 1000 bytes") != std::string::npos);
  CHECK(r.bytes_downloaded == 0);
  CHECK(r.bytes_needed > 64 * 1024);
  CHECK(!has_tmp_files(env.cache_dir.path()));

  // With a model active, a deferred newer version keeps it: status current, reason deferred.
  o.conditions.max_update_bytes = 0;
  CHECK(env.fetcher(o)->update("classifier").status == UpdateStatus::kUpdated);
  env.tree.publish(env.spec(2, 2));
  o.conditions.max_update_bytes = 1000;
  r = env.fetcher(o)->update("classifier");
  CHECK(r.status == UpdateStatus::kCurrent);
  CHECK(r.reason == "deferred");
  CHECK(r.version == 1);
  CHECK(r.offered_version == 2);
}

TEST_CASE("a metered network defers downloads only when the app disallows them") {
  FileEnv env;
  env.tree.publish(env.spec(1, 3));
  FetcherOptions o = env.options();
  o.conditions.allow_metered = false;
  o.network_metered = true;
  auto f = env.fetcher(o);
  UpdateResult r = f->update("classifier");
  CHECK(r.reason == "deferred");
  CHECK(r.message.find("metered") != std::string::npos);
  f->set_network_metered(false);
  CHECK(f->update("classifier").status == UpdateStatus::kUpdated);

  // A version whose files are all cached moves no bytes, so no condition holds it back.
  env.tree.publish(env.spec(2, 3));
  f->set_network_metered(true);
  r = f->update("classifier");
  CHECK(r.status == UpdateStatus::kUpdated);
  CHECK(r.bytes_needed == 0);

  o.conditions.allow_metered = true;
  env.tree.publish(env.spec(3, 4));
  CHECK(env.fetcher(o)->update("classifier").status == UpdateStatus::kUpdated);
}

TEST_CASE("cached models are listed with versions and size, and removed with their blobs") {
  FileEnv env;
  env.tree.publish(env.spec(1, 5));
  PublishSpec other = env.spec(1, 6);
  other.model = "detector";
  env.tree.publish(other);
  auto f = env.fetcher(env.options());
  REQUIRE(f->update("classifier").status == UpdateStatus::kUpdated);
  REQUIRE(f->update("detector").status == UpdateStatus::kUpdated);

  auto listed = list_cached_models(env.cache_dir.path());
  REQUIRE(listed.ok());
  REQUIRE(listed->size() == 2);
  CHECK((*listed)[0].model == "classifier");
  CHECK((*listed)[0].active_version == 1);
  CHECK((*listed)[0].versions == std::vector<uint64_t>{1});
  CHECK((*listed)[0].bytes == 64 * 1024 + 8);
  CHECK((*listed)[1].model == "detector");

  // labels.txt is one blob shared by both models: it survives removing one of them.
  size_t blobs_before = 0, blobs_after = 0;
  for (auto& e : std::filesystem::recursive_directory_iterator(env.cache_dir / "blobs")) blobs_before += e.is_regular_file();
  REQUIRE(remove_cached_model(env.cache_dir.path(), "classifier").ok());
  for (auto& e : std::filesystem::recursive_directory_iterator(env.cache_dir / "blobs")) blobs_after += e.is_regular_file();
  CHECK(blobs_after == blobs_before - 1);
  CHECK(!f->open("classifier").ok());
  CHECK(f->open("detector").ok());
  CHECK(remove_cached_model(env.cache_dir.path(), "classifier").code() == StatusCode::kNotFound);
  CHECK(remove_cached_model(env.cache_dir.path(), "../etc").code() == StatusCode::kInvalidArgument);
  listed = list_cached_models(env.cache_dir.path());
  REQUIRE(listed.ok());
  CHECK(listed->size() == 1);

  // A removed model installs again from scratch.
  CHECK(f->update("classifier").status == UpdateStatus::kUpdated);
  CHECK(list_cached_models(env.cache_dir / "does-not-exist")->empty());
}

TEST_CASE("modelcast-fetch: list, remove, --version, JSON errors and download conditions") {
  FileEnv env;
  env.tree.publish(env.spec(1, 7));
  const std::string cli = MODELCAST_FETCH_CLI;
  auto update = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = {cli, "update", "--url", "file://" + env.tree_dir.path(), "--cache", env.cache_dir.path(),
                                     "--model", "classifier", "--platform", "android-arm64", "--pubkey",
                                     env.tree.pubkey_path(), "--json"};
    args.insert(args.end(), extra.begin(), extra.end());
    return run_command(args);
  };
  CommandResult deferred = update({"--max-bytes", "100"});
  CHECK(deferred.exit_code == 3);
  Json j = Json::parse(deferred.out);
  CHECK(j["reason"] == "deferred");
  CHECK(j["bytes_downloaded"] == 0);
  deferred = update({"--metered", "--deny-metered"});
  CHECK(Json::parse(deferred.out)["reason"] == "deferred");
  REQUIRE(update({"--metered"}).exit_code == 0);

  CommandResult list = run_command({cli, "list", "--cache", env.cache_dir.path(), "--json"});
  REQUIRE(list.exit_code == 0);
  j = Json::parse(list.out);
  REQUIRE(j["models"].size() == 1);
  CHECK(j["models"][0]["model"] == "classifier");
  CHECK(j["models"][0]["version"] == 1);
  CHECK(j["models"][0]["bytes"] == 64 * 1024 + 8);
  CommandResult text = run_command({cli, "list", "--cache", env.cache_dir.path()});
  CHECK(text.out.rfind("classifier  v1  ", 0) == 0);

  {
    // An update holds the cache's lock (shared) for its whole run: remove says busy at
    // once instead of queueing behind it. (Released after 10 s whatever happens, so a
    // remove that waited would end too, and be caught by the checks.)
    auto held = posix_file_system()->lock_shared(env.cache_dir / "lock", true);
    REQUIRE(held.ok());
    std::optional<FileLock> lock(std::move(held).value());
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    std::thread releaser([&] {
      std::unique_lock<std::mutex> l(mu);
      cv.wait_for(l, std::chrono::seconds(10), [&] { return done; });
      lock.reset();
    });
    CommandResult busy = run_command({cli, "remove", "--cache", env.cache_dir.path(), "--model", "classifier", "--json"});
    {
      std::lock_guard<std::mutex> l(mu);
      done = true;
    }
    cv.notify_all();
    releaser.join();
    CHECK(busy.exit_code == 1);
    CHECK_MESSAGE(busy.err.find("busy: an update is running") != std::string::npos, busy.err);
    CHECK(open_cached_model(env.cache_dir.path(), "classifier").ok());
  }
  CommandResult removed = run_command({cli, "remove", "--cache", env.cache_dir.path(), "--model", "classifier", "--json"});
  CHECK(removed.exit_code == 0);
  CHECK(Json::parse(removed.out)["removed"] == "classifier");
  CommandResult again = run_command({cli, "remove", "--cache", env.cache_dir.path(), "--model", "classifier", "--json"});
  CHECK(again.exit_code == 3);
  j = Json::parse(again.out);
  CHECK(j["error"]["kind"] == "no-model");
  CHECK(j["error"]["message"].get<std::string>().find("not in the cache") != std::string::npos);
  CHECK(again.err.rfind("error: ", 0) == 0);

  // Usage errors are JSON too when --json is given, wherever it appears.
  CommandResult usage = run_command({cli, "--json", "update", "--cache", env.cache_dir.path()});
  CHECK(usage.exit_code == 2);
  j = Json::parse(usage.out);
  CHECK(j["error"]["kind"] == "usage");
  CHECK(j["error"]["exit_code"] == 2);
  CommandResult none = run_command({cli, "--json"});
  CHECK(none.exit_code == 2);
  CHECK(Json::parse(none.out)["error"]["kind"] == "usage");

  CommandResult version = run_command({cli, "--version"});
  CHECK(version.exit_code == 0);
  CHECK(version.out == std::string("modelcast-fetch ") + MODELCAST_VERSION + "\n");
}

TEST_CASE("the progress line shows rate and time left") {
  CHECK(format_eta(65) == "1:05");
  CHECK(format_eta(3723) == "1:02:03");
  CHECK(format_eta(-1) == "--:--");
  CHECK(format_rate(2.5e6) == "2.5 MB/s");
  CHECK(format_rate(12e3) == "12 KB/s");
  ProgressLine line;
  Progress p;
  p.file = "model.bin";
  p.file_count = 1;
  p.bytes_total = 10'000'000;
  auto t0 = ProgressLine::Clock::time_point{} + std::chrono::seconds(100);
  std::string first = line.render(p, t0);
  CHECK(first.find("ETA --:--") != std::string::npos);
  p.bytes_done = 2'000'000;  // 2 MB in 2 s: 1 MB/s, 8 s left
  std::string later = line.render(p, t0 + std::chrono::seconds(2));
  CHECK(later.find(" 20%") != std::string::npos);
  CHECK(later.find("1.0 MB/s") != std::string::npos);
  CHECK(later.find("ETA 0:08") != std::string::npos);
  CHECK(later.find("model.bin (1/1)") != std::string::npos);
}
