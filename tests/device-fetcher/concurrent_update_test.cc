// Updates of different models on one cache at the same time (threads here; processes take
// the same file locks). Each test holds one update mid-download with a stall of the fault
// proxy in front of a real nginx, then checks what may and may not happen meanwhile: another
// model's update completes, the same model's update waits or is `busy`, a blob two models
// share is downloaded once and ends verified in both, and nothing that deletes shared files
// (blob collection, removing a model, recover) runs until the stalled update is done.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>

#include "../support/fault_proxy.h"
#include "../support/nginx_server.h"
#include "fetch_test_util.h"
#include "modelcast/cache_admin.h"

using namespace modelcast;
using namespace modelcast::testing;

namespace {

constexpr int kStallMs = 8000;  // the held update's blob pauses this long (the proxy's cap is 10 s)

const std::string kSharedWeights = random_bytes(300 * 1024, 41);

PublishSpec model_spec(const std::string& model, uint64_t version, const std::string& weights) {
  PublishSpec s;
  s.model = model;
  s.version = version;
  s.files = {{"labels.txt", model + " labels v" + std::to_string(version) + "\n", false}, {"model.bin", weights, true}};
  return s;
}

// One cache, one tree on nginx, the fault proxy in front of it.
struct SharedCacheEnv {
  TempDir tree_dir;
  TempDir cache_dir;
  TreeFixture tree{tree_dir.path()};
  std::unique_ptr<NginxServer> nginx;
  std::unique_ptr<FaultProxy> proxy;

  SharedCacheEnv() {
    std::string err;
    nginx = NginxServer::start(NginxOptions{tree_dir.path()}, &err);
    REQUIRE_MESSAGE(nginx != nullptr, err);
    FaultProxyOptions po;
    po.upstream_port = nginx->port();
    po.lifetime_ms = 120000;
    proxy = FaultProxy::start(po, &err);
    REQUIRE_MESSAGE(proxy != nullptr, err);
  }

  FetcherOptions options() const {
    FetcherOptions o;
    o.base_url = proxy->url();
    o.cache_dir = cache_dir.path();
    o.trusted_keys = {tree.key().public_key()};
    o.platform = "android-arm64";
    o.low_speed_time_ms = 30000;  // a stall of kStallMs is slow, not dead
    o.max_retries = 0;
    return o;
  }

  UpdateResult update(const std::string& model, FetcherOptions o) {
    auto f = Fetcher::create(std::move(o));
    REQUIRE_MESSAGE(f.ok(), f.status().message());
    return (*f)->update(model);
  }
  UpdateResult update(const std::string& model) { return update(model, options()); }

  // Publishes and returns the URL path of its model.bin, for a stall rule.
  std::string publish(const PublishSpec& spec) {
    std::string text = tree.publish(spec);
    for (const auto& f : TreeFixture::manifest_of(text).files)
      if (f.path == "model.bin") return "/" + f.url;
    return "";
  }

  void stall_next(const std::string& url_path) {
    FaultRule rule;
    rule.url_contains = url_path;
    rule.fault.kind = FaultKind::kStall;
    rule.fault.bytes = 16 * 1024;
    rule.fault.delay_ms = kStallMs;
    rule.times = 1;
    proxy->add_rule(rule);
  }

  uint64_t gets_of(const std::string& url_path) const {
    uint64_t n = 0;
    for (const auto& r : proxy->records()) n += r.path == url_path;
    return n;
  }

  // alpha v1 with its model.bin stalled once, and beta v1.
  void publish_stalled_alpha_and_beta(uint32_t seed) {
    stall_next(publish(model_spec("alpha", 1, random_bytes(200 * 1024, seed))));
    publish(model_spec("beta", 1, random_bytes(200 * 1024, seed + 1)));
  }

  void expect_verified(const std::string& model, uint64_t version) {
    auto opened = open_cached_model(cache_dir.path(), model, OpenOptions{true});
    REQUIRE_MESSAGE(opened.ok(), model, ": ", opened.status().message());
    CHECK(opened->version == version);
  }
};

void expect_updated(const UpdateResult& r) {
  CHECK_MESSAGE(r.status == UpdateStatus::kUpdated, r.reason, ": ", r.message);
}

// An update on its own thread that signals once it is receiving its stalled blob, i.e.
// holds whatever locks an update holds.
class HeldUpdate {
 public:
  HeldUpdate(SharedCacheEnv& env, const std::string& model) {
    FetcherOptions o = env.options();
    o.progress = [this](const Progress& p) {
      if (p.file == "model.bin" && p.bytes_done > 0 && !signalled_.exchange(true)) receiving_.set_value();
      return true;
    };
    fetcher_ = Fetcher::create(o).value();
    thread_ = std::thread([this, model] {
      result_ = fetcher_->update(model);
      done_ = true;
    });
  }
  ~HeldUpdate() {
    if (thread_.joinable()) thread_.join();
  }

  // False when the update never got to its blob (bounded wait).
  bool wait_until_receiving() {
    return receiving_.get_future().wait_for(std::chrono::seconds(30)) == std::future_status::ready;
  }
  bool done() const { return done_; }
  UpdateResult join() {
    thread_.join();
    return result_;
  }

 private:
  std::unique_ptr<Fetcher> fetcher_;
  std::promise<void> receiving_;
  std::atomic<bool> signalled_{false};
  std::atomic<bool> done_{false};
  UpdateResult result_;
  std::thread thread_;
};

}  // namespace

TEST_CASE("another model's update completes while a model's download is stalled") {
  REQUIRE(nginx_available());
  SharedCacheEnv env;
  env.publish_stalled_alpha_and_beta(1);

  HeldUpdate alpha(env, "alpha");
  REQUIRE(alpha.wait_until_receiving());
  UpdateResult beta = env.update("beta");
  // Before per-model locks, beta waited for alpha's whole stalled download.
  CHECK_MESSAGE(!alpha.done(), "beta's update returned only after alpha's");
  expect_updated(beta);
  env.expect_verified("beta", 1);

  UpdateResult a = alpha.join();
  expect_updated(a);
  env.expect_verified("alpha", 1);
  env.expect_verified("beta", 1);
}

TEST_CASE("a second update of the same model is busy without waiting, and runs after the first when it waits") {
  REQUIRE(nginx_available());
  SharedCacheEnv env;
  env.publish_stalled_alpha_and_beta(3);

  HeldUpdate first(env, "alpha");
  REQUIRE(first.wait_until_receiving());
  FetcherOptions no_wait = env.options();
  no_wait.wait_for_lock = false;
  UpdateResult busy = env.update("alpha", no_wait);
  CHECK(busy.status == UpdateStatus::kNone);
  CHECK_MESSAGE(busy.reason == "busy", busy.reason, ": ", busy.message);
  // Busy means this model: another model does not wait, and is not refused.
  UpdateResult other = env.update("beta", no_wait);
  expect_updated(other);
  CHECK(!first.done());

  UpdateResult second;
  std::thread waiter([&] { second = env.update("alpha"); });
  UpdateResult a = first.join();
  waiter.join();
  expect_updated(a);
  // It ran after the first had installed v1, not beside it.
  CHECK_MESSAGE(second.status == UpdateStatus::kCurrent, second.reason, ": ", second.message);
  CHECK(second.version == 1);
  env.expect_verified("alpha", 1);
}

TEST_CASE("two models sharing a blob, updated at the same time, download it once and both verify") {
  REQUIRE(nginx_available());
  SharedCacheEnv env;
  const std::string shared = env.publish(model_spec("alpha", 1, kSharedWeights));
  REQUIRE(env.publish(model_spec("beta", 1, kSharedWeights)) == shared);
  env.stall_next(shared);  // whichever asks first holds the blob; the other must not write it too

  UpdateResult a, b;
  std::thread ta([&] { a = env.update("alpha"); });
  std::thread tb([&] { b = env.update("beta"); });
  ta.join();
  tb.join();
  expect_updated(a);
  expect_updated(b);
  CHECK(env.gets_of(shared) == 1);
  CHECK(a.files_reused + b.files_reused == 1);
  env.expect_verified("alpha", 1);
  env.expect_verified("beta", 1);
}

TEST_CASE("nothing that deletes shared files runs while an update has blobs no version links yet") {
  REQUIRE(nginx_available());
  SharedCacheEnv env;
  env.publish(model_spec("gamma", 1, random_bytes(100 * 1024, 5)));
  REQUIRE(env.update("gamma").status == UpdateStatus::kUpdated);
  env.publish(model_spec("beta", 1, random_bytes(100 * 1024, 6)));
  REQUIRE(env.update("beta").status == UpdateStatus::kUpdated);
  env.publish(model_spec("beta", 2, random_bytes(100 * 1024, 7)));
  // alpha's labels.txt arrives first and sits in blobs/ with no version linking it while
  // model.bin stalls: exactly what blob collection deletes.
  env.stall_next(env.publish(model_spec("alpha", 1, random_bytes(200 * 1024, 8))));

  HeldUpdate alpha(env, "alpha");
  REQUIRE(alpha.wait_until_receiving());
  // Exclusive operations do not start while an update runs.
  CHECK(remove_cached_model(env.cache_dir.path(), "gamma", false).code() == StatusCode::kBusy);
  CHECK(Fetcher::create(env.options()).value()->recover().code() == StatusCode::kBusy);
  // beta's install drops its v1 blobs' last links (keep_versions 1) and would collect them.
  FetcherOptions keep_one = env.options();
  keep_one.keep_versions = 1;
  UpdateResult beta = env.update("beta", keep_one);
  expect_updated(beta);
  // A removal that waits for the exclusive lock, and collects blobs once it has it.
  Status removed;
  std::thread remover([&] { removed = remove_cached_model(env.cache_dir.path(), "gamma", true); });

  // Had any collection run meanwhile, alpha's unlinked labels blob would be gone and its
  // version could not be built.
  UpdateResult a = alpha.join();
  remover.join();
  expect_updated(a);
  CHECK_MESSAGE(removed.ok(), removed.message());
  env.expect_verified("alpha", 1);
  env.expect_verified("beta", 2);
  CHECK(!open_cached_model(env.cache_dir.path(), "gamma").ok());
}
