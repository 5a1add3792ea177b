// One update per network fault, through the fault proxy in front of a real nginx: each row
// states the outcome the device must report (status, reason, active version), then checks
// that `open` with hash verification still gives a complete model, and that the next
// update without the fault reaches the newest version. The faults are the ones CDNs,
// mirrors and mobile links produce: dropped and stalled transfers, 5xx and 404 answers,
// flipped bits, truncated or overlong bodies, stale or foreign manifests, late headers.
#include <doctest/doctest.h>

#include <chrono>
#include <set>

#include "../support/fault_proxy.h"
#include "../support/nginx_server.h"
#include "fetch_test_util.h"

using namespace modelcast;
using namespace modelcast::testing;

namespace {

const std::string kCurrentManifest = "/manifests/classifier/stable/android-arm64.json";
const std::string kModelBlob = "MODEL_BLOB";  // replaced by v2's model.bin URL in a row's rule

PublishSpec version_spec(uint64_t v, const std::string& platform = "android-arm64") {
  PublishSpec s;
  s.version = v;
  s.platform = platform;
  s.files.push_back({"labels.txt", "cat\ndog\n", false});
  s.files.push_back({"model.bin", random_bytes(600 * 1024, static_cast<uint32_t>(v)), true});
  s.files.push_back({"extra.bin", random_bytes(200 * 1024, static_cast<uint32_t>(v + 100)), false});
  return s;
}

struct Row {
  const char* name;
  std::string url_contains;  // kCurrentManifest, kModelBlob, or "" for none
  Fault fault;
  int times = -1;
  uint64_t start_version = 1;
  UpdateStatus status;
  std::set<std::string> reasons;  // "" for none
  uint64_t version_after;
};

Fault fault(FaultKind kind, uint64_t bytes = 0, int delay_ms = 0) {
  Fault f;
  f.kind = kind;
  f.bytes = bytes;
  f.delay_ms = delay_ms;
  return f;
}

Fault status_fault(int status, int retry_after_s = -1) {
  Fault f = fault(FaultKind::kStatus);
  f.status = status;
  f.retry_after_s = retry_after_s;
  return f;
}

Fault substitute(const std::string& path) {
  Fault f = fault(FaultKind::kSubstitute);
  f.substitute_path = path;
  return f;
}

std::vector<Row> rows() {
  using S = UpdateStatus;
  const std::string m = kCurrentManifest, b = kModelBlob;
  return {
      {"no fault", "", {}, -1, 1, S::kUpdated, {""}, 2},
      {"manifest: HTTP 500 on every attempt", m, status_fault(500), -1, 1, S::kFallback, {"network"}, 1},
      {"manifest: HTTP 503 once, then served", m, status_fault(503), 1, 1, S::kUpdated, {""}, 2},
      {"manifest: HTTP 503 with Retry-After 30", m, status_fault(503, 30), -1, 1, S::kFallback, {"network"}, 1},
      {"manifest: HTTP 404", m, status_fault(404), -1, 1, S::kFallback, {"not-found"}, 1},
      {"manifest: connection dropped after 40 bytes, every time", m, fault(FaultKind::kDropAfter, 40), -1, 1,
       S::kFallback, {"network"}, 1},
      {"manifest: connection dropped once", m, fault(FaultKind::kDropAfter, 40), 1, 1, S::kUpdated, {""}, 2},
      {"manifest: one bit flipped", m, fault(FaultKind::kFlipBytes, 700), -1, 1, S::kFallback, {"signature", "corrupt"},
       1},
      {"manifest: truncated", m, fault(FaultKind::kTruncate, 300), -1, 1, S::kFallback, {"corrupt"}, 1},
      {"manifest: headers delayed 300 ms", m, fault(FaultKind::kDelayHeaders, 0, 300), -1, 1, S::kUpdated, {""}, 2},
      {"manifest: stalled 300 ms mid-body", m, fault(FaultKind::kStall, 100, 300), -1, 1, S::kUpdated, {""}, 2},
      {"manifest: an old version's manifest (stale mirror)", m,
       substitute("/manifests/classifier/stable/android-arm64/1.json"), -1, 1, S::kCurrent, {""}, 1},
      {"manifest: an older manifest than the device has (rollback)", m,
       substitute("/manifests/classifier/stable/android-arm64/1.json"), -1, 2, S::kFallback, {"rollback"}, 2},
      {"manifest: another stream's manifest", m, substitute("/manifests/classifier/stable/ios.json"), -1, 1,
       S::kFallback, {"signature"}, 1},
      {"blob: connection dropped after 100 KB once (resumed in the same update)", b,
       fault(FaultKind::kDropAfter, 100 * 1024), 1, 1, S::kUpdated, {""}, 2},
      {"blob: connection dropped after 100 KB every time", b, fault(FaultKind::kDropAfter, 100 * 1024), -1, 1,
       S::kFallback, {"network"}, 1},
      {"blob: stalled 300 ms mid-body", b, fault(FaultKind::kStall, 50 * 1024, 300), -1, 1, S::kUpdated, {""}, 2},
      // At the body's start: after a burst, curl averages the speed over a few seconds.
      {"blob: stalled past the low-speed limit", b, fault(FaultKind::kStall, 0, 2500), -1, 1, S::kFallback,
       {"network"}, 1},
      {"blob: HTTP 503 once, then served", b, status_fault(503), 1, 1, S::kUpdated, {""}, 2},
      {"blob: HTTP 500 on every attempt", b, status_fault(500), -1, 1, S::kFallback, {"network"}, 1},
      {"blob: HTTP 404", b, status_fault(404), -1, 1, S::kFallback, {"network"}, 1},
      {"blob: one bit flipped", b, fault(FaultKind::kFlipBytes, 12345), -1, 1, S::kFallback, {"hash-mismatch"}, 1},
      {"blob: truncated to 1000 bytes", b, fault(FaultKind::kTruncate, 1000), -1, 1, S::kFallback, {"hash-mismatch"}, 1},
      {"blob: declares and sends 100 bytes more than the manifest", b, fault(FaultKind::kLonger, 100), -1, 1,
       S::kFallback, {"hash-mismatch"}, 1},
      {"blob: sends 100 bytes past its Content-Length", b, fault(FaultKind::kMoreThanDeclared, 100), -1, 1,
       S::kUpdated, {""}, 2},
      {"blob: another file's bytes", b, substitute("/manifests/classifier/stable/android-arm64/1.json"), -1, 1,
       S::kFallback, {"hash-mismatch"}, 1},
      {"blob: headers delayed 300 ms", b, fault(FaultKind::kDelayHeaders, 0, 300), -1, 1, S::kUpdated, {""}, 2},
  };
}

}  // namespace

TEST_CASE("every network fault leaves a verified model, and the next clean update reaches the new version") {
  REQUIRE(nginx_available());
  TempDir tree_dir, work;
  TreeFixture tree(tree_dir.path());
  std::string err;
  auto nginx = NginxServer::start(NginxOptions{tree_dir.path()}, &err);
  REQUIRE_MESSAGE(nginx, err);
  FaultProxyOptions po;
  po.upstream_port = nginx->port();
  auto proxy = FaultProxy::start(po, &err);
  REQUIRE_MESSAGE(proxy, err);

  auto key = PublicKey::from_pem_file(tree.pubkey_path());
  REQUIRE(key.ok());
  auto options = [&](const std::string& cache) {
    FetcherOptions o;
    o.base_url = proxy->url();
    o.cache_dir = cache;
    o.trusted_keys = {key.value()};
    o.platform = "android-arm64";
    o.low_speed_time_ms = 1000;
    o.manifest_timeout_ms = 5000;
    o.retry_base_ms = 20;
    o.retry_max_ms = 200;
    o.next_check_base_ms = 1000;
    return o;
  };
  auto update = [&](const std::string& cache) { return Fetcher::create(options(cache)).value()->update("classifier"); };

  // Caches at v1 and at v2, copied (hard links kept) for each row.
  tree.publish(version_spec(1, "ios"));
  tree.publish(version_spec(1));
  const std::string at_v1 = work / "at-v1", at_v2 = work / "at-v2";
  REQUIRE(update(at_v1).version == 1);
  std::string v2_text = tree.publish(version_spec(2));
  REQUIRE(update(at_v2).version == 2);
  std::string model_blob;
  for (const auto& f : TreeFixture::manifest_of(v2_text).files)
    if (f.path == "model.bin") model_blob = "/" + f.url;

  int n = 0;
  for (const Row& row : rows()) {
    const std::string row_name = row.name;
    CAPTURE(row_name);
    const std::string cache = work / ("row" + std::to_string(n++));
    CommandResult cp = run_command({"/bin/cp", "-a", row.start_version == 1 ? at_v1 : at_v2, cache});
    REQUIRE_MESSAGE(cp.exit_code == 0, cp.err);
    proxy->clear_rules();
    proxy->clear_records();
    // The tree is format 1 only: the device first asks for v2/manifests/... (a 404), which
    // passes untouched (the first matching rule decides), so each row's fault hits the
    // document the device reads.
    FaultRule v2_passes;
    v2_passes.url_contains = "/v2/";
    proxy->add_rule(v2_passes);
    if (!row.url_contains.empty()) {
      FaultRule rule;
      rule.url_contains = row.url_contains == kModelBlob ? model_blob : row.url_contains;
      rule.fault = row.fault;
      rule.times = row.times;
      proxy->add_rule(rule);
    }

    UpdateResult r = update(cache);
    CHECK_MESSAGE(r.status == row.status, update_status_name(r.status), " ", r.reason, ": ", r.message);
    CHECK_MESSAGE(row.reasons.count(r.reason) == 1, r.reason, ": ", r.message);
    CHECK(r.version == row.version_after);
    if (r.reason == "network") CHECK(r.retry_after_s > 0);
    uint64_t faults = 0;
    for (const auto& rec : proxy->records()) faults += rec.fault != FaultKind::kNone;
    if (!row.url_contains.empty()) CHECK_MESSAGE(faults > 0, "the fault was never applied");
    if (row.fault.kind == FaultKind::kStatus && row.fault.retry_after_s > 0) {
      CHECK(r.retry_after_s == doctest::Approx(row.fault.retry_after_s));
      CHECK_MESSAGE(faults == 1, "a Retry-After beyond retry_max_ms must not be retried within the update");
    }

    uint64_t version = 0;
    std::string problem;
    CHECK_MESSAGE(active_version_is_complete(cache, "classifier", &version, &problem), problem);
    CHECK(version == row.version_after);

    proxy->clear_rules();
    UpdateResult clean = update(cache);
    CHECK_MESSAGE(clean.version == 2, clean.reason, ": ", clean.message);
    CHECK(active_version_is_complete(cache, "classifier", &version, &problem));
    CHECK(version == 2);
  }
  MESSAGE(n << " faults tried, each followed by a clean update");
}
