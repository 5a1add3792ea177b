// A bounded fleet: 200 devices, each a `modelcast-fetch` process with its own cache, check
// a real nginx through the fault proxy at a 10% fault rate (every fault kind, stale and
// foreign manifests included) while the publisher CLI commits a new version mid-run.
// Every device must end on the new version or keep the old one, never on a broken one:
// each cache is checked with `modelcast-fetch open --verify --json` and hashed again here.
// Prints updates/s, bytes, retries and the outcome counts (tests/RELIABILITY.md).
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <thread>

#include "../support/fault_proxy.h"
#include "../support/nginx_server.h"
#include "fleet_util.h"

using namespace modelcast;
using namespace modelcast::testing;

namespace {

constexpr int kDevices = 200;
constexpr int kWorkers = 8;              // devices updating at the same time
constexpr double kFaultRate = 0.10;
constexpr int kChecksAfterPublish = 3;   // a device still on v1 checks again, at most this often
constexpr uint32_t kSeed = 20261126;

}  // namespace

TEST_CASE("200 devices under a 10% fault rate end on the new version or the old one, never a broken one") {
  if (!have_selfie_models()) {
    MESSAGE("skipped: the selfie-segmentation models are missing (run scripts/fetch-testdata)");
    return;
  }
  REQUIRE(nginx_available());
  const std::string fetch_cli = MODELCAST_FETCH_CLI;
  TempDir work, caches;
  PublishedTree tree(MODELCAST_PUBLISHER_CLI, work.path());
  std::string err;
  REQUIRE_MESSAGE(tree.init(&err), err);
  REQUIRE_MESSAGE(tree.publish(selfie_model("selfie_segmentation.tflite"), "android", &err), err);
  REQUIRE_MESSAGE(tree.publish(selfie_model("selfie_segmentation.tflite"), "ios", &err), err);  // another stream

  auto nginx = NginxServer::start(NginxOptions{tree.tree()}, &err);
  REQUIRE_MESSAGE(nginx, err);
  FaultProxyOptions po;
  po.upstream_port = nginx->port();
  po.seed = kSeed;
  po.random_max_delay_ms = 1500;  // some stalls outlast the devices' 1 s low-speed limit
  po.random_kinds = {FaultKind::kDropAfter, FaultKind::kStall,  FaultKind::kStatus,           FaultKind::kFlipBytes,
                     FaultKind::kTruncate,  FaultKind::kLonger, FaultKind::kMoreThanDeclared, FaultKind::kDelayHeaders,
                     FaultKind::kSubstitute};
  po.random_substitutes = {tree.versioned_manifest_url("android", 1), tree.manifest_url("ios")};
  po.lifetime_ms = 240000;
  auto proxy = FaultProxy::start(po, &err);
  REQUIRE_MESSAGE(proxy, err);

  auto cache_of = [&](int i) { return caches / ("device" + std::to_string(i)); };
  auto update_argv = [&](const std::string& cache, int i) {
    return std::vector<std::string>{fetch_cli, "update", "--url", proxy->url(), "--cache", cache, "--model", "selfie",
                                    "--platform", "android", "--pubkey", tree.pubkey(), "--json", "--quiet",
                                    "--timeout", "1", "--retry-base-ms", "50", "--retry-max-ms", "500",
                                    "--next-check-base-ms", "200", "--next-check-max-ms", "1000",
                                    "--device-id", "device-" + std::to_string(i)};
  };

  // Every device starts on v1: one installs it, the others copy its cache (cp -a keeps the
  // hard links between blobs and version folders, as a real install has them).
  const std::string first = caches / "first";
  DeviceUpdate installed = run_device_update(update_argv(first, -1));
  REQUIRE_MESSAGE(installed.exit_code == 0, installed.err);
  REQUIRE(installed.json["version"] == 1);
  parallel_for(kDevices, kWorkers, [&](int i) { CHECK(run_command({"/bin/cp", "-a", first, cache_of(i)}).exit_code == 0); });

  proxy->set_random_rate(kFaultRate);
  proxy->clear_records();
  std::mutex mu;
  std::map<std::string, int> outcomes;  // "status/reason" of every update
  uint64_t updates = 0, bytes = 0, retries = 0, bad_output = 0;
  std::vector<uint64_t> final_version(kDevices, 0);
  auto check = [&](int i) {
    DeviceUpdate d = run_device_update(update_argv(cache_of(i), i));
    std::lock_guard<std::mutex> l(mu);
    ++updates;
    if (d.json.is_null()) {
      ++bad_output;
      MESSAGE("device " << i << " printed no JSON (exit " << d.exit_code << "): " << d.err);
      return d;
    }
    outcomes[d.json.value("status", std::string()) + "/" + d.json.value("reason", std::string())]++;
    bytes += d.json.value("bytes_downloaded", uint64_t{0});
    retries += d.json.value("retries", uint64_t{0});
    CHECK_MESSAGE(d.exit_code == 0, "device ", i, " has no model: ", d.err);
    final_version[static_cast<size_t>(i)] = d.json["version"].is_number() ? d.json["version"].get<uint64_t>() : 0;
    return d;
  };

  const auto start = std::chrono::steady_clock::now();
  // Wave 1: one check per device; v2 (another real model) is published when half have checked.
  std::atomic<int> checked{0};
  std::atomic<bool> published{false};
  std::string publish_error;
  std::thread publisher([&] {
    while (checked < kDevices / 2) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    published = tree.publish(selfie_model("selfie_segmentation_landscape.tflite"), "android", &publish_error);
  });
  parallel_for(kDevices, kWorkers, [&](int i) {
    check(i);
    ++checked;
  });
  publisher.join();
  REQUIRE_MESSAGE(published, publish_error);
  // Wave 2: devices not yet on v2 check again, waiting the retry_after_s they were given.
  parallel_for(kDevices, kWorkers, [&](int i) {
    for (int n = 0; n < kChecksAfterPublish && final_version[static_cast<size_t>(i)] != 2; ++n) {
      DeviceUpdate d = check(i);
      double wait = d.json.is_null() ? 0.0 : d.json.value("retry_after_s", 0.0);
      if (final_version[static_cast<size_t>(i)] != 2 && wait > 0)
        std::this_thread::sleep_for(std::chrono::milliseconds(static_cast<int>(std::min(wait, 1.0) * 1000)));
    }
  });
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  // Every cache: a complete, verified v1 or v2.
  std::atomic<int> on_v1{0}, on_v2{0}, broken{0};
  parallel_for(kDevices, kWorkers, [&](int i) {
    uint64_t version = 0;
    std::string problem;
    bool ok = cache_holds_verified_model(fetch_cli, cache_of(i), &version, &problem);
    if (!ok || (version != 1 && version != 2)) {
      ++broken;
      std::lock_guard<std::mutex> l(mu);
      MESSAGE("device " << i << ": " << problem << " (version " << version << ")");
      return;
    }
    (version == 2 ? on_v2 : on_v1)++;
  });

  ProxyStats ps = proxy->stats();
  std::map<std::string, int> fault_kinds;
  for (const auto& r : proxy->records())
    if (r.fault != FaultKind::kNone) fault_kinds[fault_kind_name(r.fault)]++;
  std::string kinds, results;
  for (const auto& [k, n] : fault_kinds) kinds += " " + k + "=" + std::to_string(n);
  for (const auto& [k, n] : outcomes) results += " " + k + "=" + std::to_string(n);
  MESSAGE("fleet: " << kDevices << " devices, " << updates << " updates in " << seconds << " s ("
                    << static_cast<double>(updates) / seconds << " updates/s, " << kWorkers << " at a time)");
  MESSAGE("fleet: outcome v2=" << on_v2.load() << " v1=" << on_v1.load() << " broken=" << broken.load());
  MESSAGE("fleet: " << bytes << " blob bytes downloaded by devices, " << ps.body_bytes << " body bytes sent by the proxy, "
                    << retries << " retries within updates");
  MESSAGE("fleet: proxy " << ps.requests << " requests, " << ps.faults << " faults:" << kinds);
  MESSAGE("fleet: update results:" << results);

  CHECK(bad_output == 0);
  CHECK(broken == 0);
  CHECK(on_v1 + on_v2 == kDevices);
  CHECK(ps.faults > 0);
  // Three checks at a 10% fault rate: a device still on v1 is rare, not the rule.
  CHECK(on_v2 >= kDevices * 9 / 10);
}
