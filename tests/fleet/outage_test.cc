// A server that comes back: the fault proxy answers 503 to everything for a few seconds,
// then heals, while a fleet of devices (a Fetcher each, on its own thread and cache, all
// starting at the same instant; threads rather than processes so that the machine's
// process-spawn rate does not cap the request rate) tries to install v1. Three behaviours,
// the same fleet:
//   at once    : retries within an update without waiting (retry_base_ms 0) and the app
//                checks again after a fixed 250 ms, ignoring retry_after_s;
//   back-off   : jittered exponential retries (200 ms base, 5 s cap) and the app waits the
//                retry_after_s each failed update suggests (next check from 1 s, at most 8 s:
//                the defaults, 60 s and 1 h, scaled down to keep the test short);
//   Retry-After: back-off, and the 503 carries Retry-After: 2.
// Prints the requests/s that reached the server during the outage and how long after the
// heal the last device had its model (tests/RELIABILITY.md); checks that every device ends
// with a verified v1 and that back-off sends fewer requests into the outage than "at once".
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "../support/fault_proxy.h"
#include "../support/nginx_server.h"
#include "fleet_util.h"

using namespace modelcast;
using namespace modelcast::testing;

namespace {

constexpr int kDevices = 40;
constexpr int kOutageMs = 6000;
constexpr int kGiveUpAfterMs = 30000;  // bound: a device stops trying after this

struct Mode {
  const char* name;
  int retry_base_ms;
  int fixed_recheck_ms;  // > 0: ignore retry_after_s, check again after this
  int retry_after_s;     // sent with the 503 (-1: none)
};

struct Figures {
  uint64_t outage_requests = 0;
  uint64_t peak_per_100ms = 0;
  double recovered_after_s = 0;  // from the heal to the last device's install
  int installed = 0;
  uint64_t updates = 0;
};

}  // namespace

TEST_CASE("jittered back-off spreads a fleet's retries while the server is down, and every device still gets its model") {
  if (!have_selfie_models()) {
    MESSAGE("skipped: the selfie-segmentation models are missing (run scripts/fetch-testdata)");
    return;
  }
  REQUIRE(nginx_available());
  const std::string fetch_cli = MODELCAST_FETCH_CLI;
  TempDir work;
  PublishedTree tree(MODELCAST_PUBLISHER_CLI, work.path());
  std::string err;
  REQUIRE_MESSAGE(tree.init(&err), err);
  REQUIRE_MESSAGE(tree.publish(selfie_model("selfie_segmentation.tflite"), "android", &err), err);
  auto nginx = NginxServer::start(NginxOptions{tree.tree()}, &err);
  REQUIRE_MESSAGE(nginx, err);

  auto key = PublicKey::from_pem_file(tree.pubkey());
  REQUIRE(key.ok());
  const std::vector<Mode> modes = {
      {"at once", 0, 250, -1},
      {"back-off", 200, 0, -1},
      {"Retry-After", 200, 0, 2},
  };
  std::vector<Figures> figures;
  for (const Mode& mode : modes) {
    const std::string name = mode.name;
    CAPTURE(name);
    TempDir caches;
    FaultProxyOptions po;
    po.upstream_port = nginx->port();
    po.lifetime_ms = kOutageMs + kGiveUpAfterMs + 10000;
    auto proxy = FaultProxy::start(po, &err);
    REQUIRE_MESSAGE(proxy, err);
    FaultRule outage;
    outage.fault.kind = FaultKind::kStatus;
    outage.fault.status = 503;
    outage.fault.retry_after_s = mode.retry_after_s;
    outage.for_ms = kOutageMs;
    proxy->add_rule(outage);
    const auto start = std::chrono::steady_clock::now();
    const auto heal = start + std::chrono::milliseconds(kOutageMs);

    Figures f;
    std::atomic<uint64_t> updates{0};
    std::atomic<int> installed{0};
    std::atomic<int64_t> last_install_ms{0};
    parallel_for(kDevices, kDevices, [&](int i) {
      FetcherOptions o;
      o.base_url = proxy->url();
      o.cache_dir = caches / ("device" + std::to_string(i));
      o.trusted_keys = {key.value()};
      o.platform = "android";
      o.retry_base_ms = mode.retry_base_ms;
      o.retry_max_ms = 5000;
      o.next_check_base_ms = 1000;
      o.next_check_max_ms = 8000;
      auto fetcher = Fetcher::create(o);
      if (!fetcher.ok()) {
        CHECK_MESSAGE(false, fetcher.status().message());  // no REQUIRE off the test's thread
        return;
      }
      while (std::chrono::steady_clock::now() - start < std::chrono::milliseconds(kOutageMs + kGiveUpAfterMs)) {
        UpdateResult r = (*fetcher)->update("selfie");
        ++updates;
        if (r.version == 1) {
          ++installed;
          int64_t ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - heal).count();
          for (int64_t seen = last_install_ms; ms > seen && !last_install_ms.compare_exchange_weak(seen, ms);) {
          }
          return;
        }
        int wait_ms = mode.fixed_recheck_ms > 0 ? mode.fixed_recheck_ms : static_cast<int>(r.retry_after_s * 1000);
        std::this_thread::sleep_for(std::chrono::milliseconds(std::min(wait_ms, kGiveUpAfterMs)));
      }
    });
    std::vector<uint64_t> buckets(kOutageMs / 100 + 1, 0);
    for (const auto& r : proxy->records())
      if (r.fault == FaultKind::kStatus) {
        f.outage_requests++;
        buckets[std::min<size_t>(static_cast<size_t>(r.at_ms / 100), buckets.size() - 1)]++;
      }
    for (uint64_t b : buckets) f.peak_per_100ms = std::max(f.peak_per_100ms, b);
    f.installed = installed;
    f.updates = updates;
    f.recovered_after_s = static_cast<double>(last_install_ms) / 1000.0;
    MESSAGE("outage (" << name << "): " << kDevices << " devices, 503 for " << kOutageMs / 1000.0 << " s: "
                       << f.outage_requests << " requests during the outage ("
                       << static_cast<double>(f.outage_requests) * 1000.0 / kOutageMs << "/s, peak " << f.peak_per_100ms * 10
                       << "/s over 100 ms), " << f.updates << " updates, last device installed "
                       << f.recovered_after_s << " s after the heal");
    CHECK(f.installed == kDevices);
    for (int i = 0; i < kDevices; ++i) {
      uint64_t version = 0;
      std::string problem;
      CHECK_MESSAGE(cache_holds_verified_model(fetch_cli, caches / ("device" + std::to_string(i)), &version, &problem),
                    problem);
      CHECK(version == 1);
    }
    figures.push_back(f);
  }
  // Counts, not times: waiting must send fewer requests into the outage than not waiting.
  CHECK(figures[1].outage_requests < figures[0].outage_requests);
  CHECK(figures[2].outage_requests < figures[1].outage_requests);
}
