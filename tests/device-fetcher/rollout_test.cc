// Staged rollout end to end: percentages written by the real publisher, decided by the
// device's bucket, over 10,000 device ids and through the real fetcher and nginx.
#include <set>

#include "fleet_env.h"
#include "modelcast/rollout.h"
#include "modelcast/signed_manifest_v2.h"

using namespace modelcast;
using namespace modelcast::testing;

namespace {

std::vector<std::string> device_ids(size_t n) {
  std::vector<std::string> ids;
  for (size_t i = 0; i < n; ++i) ids.push_back("device-" + std::to_string(i));
  return ids;
}

std::set<std::string> admitted(const std::vector<std::string>& ids, const Manifest& m) {
  std::set<std::string> out;
  for (const auto& id : ids)
    if (rollout_admits(id, m.model, m.rollout_percent.value_or(100))) out.insert(id);
  return out;
}

// An id whose bucket lies in [from, to).
std::string id_in_buckets(int from, int to) {
  for (int i = 0;; ++i) {
    std::string id = "probe-" + std::to_string(i);
    int b = rollout_bucket(id, "classifier");
    if (b >= from && b < to) return id;
  }
}

}  // namespace

TEST_CASE("over 10,000 device ids a rollout admits its percentage within 1 point, widening only adds, a halt admits none") {
  FleetEnv env;
  REQUIRE(env.publish(random_bytes(4096, 1)).exit_code == 0);
  REQUIRE(env.publish(random_bytes(4096, 2), {"--rollout", "5"}).exit_code == 0);
  const auto ids = device_ids(10000);
  std::set<std::string> before;
  for (int percent : {5, 20, 50, 90}) {
    CAPTURE(percent);
    if (percent != 5) REQUIRE(env.op("rollout", {"--percent", std::to_string(percent)}).exit_code == 0);
    Manifest m = env.current();
    REQUIRE(m.rollout_percent.value_or(-1) == percent);
    std::set<std::string> in = admitted(ids, m);
    const double share = 100.0 * static_cast<double>(in.size()) / static_cast<double>(ids.size());
    MESSAGE("rollout " << percent << "%: " << in.size() << " of 10000 admitted (" << share << "%)");
    CHECK(share >= percent - 1.0);
    CHECK(share <= percent + 1.0);
    for (const auto& id : before) CHECK_MESSAGE(in.count(id) == 1, id << " was admitted before and is not now");
    before = in;
  }
  REQUIRE(env.op("rollout", {"--halt"}).exit_code == 0);
  CHECK(env.current().rollout_percent.value_or(-1) == 0);
  CHECK(admitted(ids, env.current()).empty());
  CHECK_FALSE(rollout_admits("", "classifier", 99));
  CHECK(rollout_admits("", "classifier", 100));
}

TEST_CASE("devices follow a widening rollout and a halt through the real fetcher without moving back") {
  FleetEnv env;
  TempDir early_cache, middle_cache, late_cache, fresh_cache;
  const std::string early = id_in_buckets(0, 5), middle = id_in_buckets(5, 20), late = id_in_buckets(50, 100);
  REQUIRE(env.publish(random_bytes(20000, 1)).exit_code == 0);
  for (auto* cache : {&early_cache, &middle_cache, &late_cache})
    REQUIRE(FleetEnv::update(env.device(cache->path(), cache == &early_cache    ? early
                                                       : cache == &middle_cache ? middle
                                                                                : late))
                .version == 1);

  REQUIRE(env.publish(random_bytes(20000, 2), {"--rollout", "5"}).exit_code == 0);  // v2
  UpdateResult e = FleetEnv::update(env.device(early_cache.path(), early));
  CHECK(e.status == UpdateStatus::kUpdated);
  CHECK(e.version == 2);
  UpdateResult m = FleetEnv::update(env.device(middle_cache.path(), middle));
  CHECK(m.version == 1);
  CHECK(m.reason == "rollout");

  REQUIRE(env.op("rollout", {"--percent", "20"}).exit_code == 0);  // v3, same files as v2
  e = FleetEnv::update(env.device(early_cache.path(), early));
  CHECK(e.version == 3);
  CHECK(e.bytes_downloaded == 0);  // the blob is already in its cache
  m = FleetEnv::update(env.device(middle_cache.path(), middle));
  CHECK(m.status == UpdateStatus::kUpdated);
  CHECK(m.version == 3);
  UpdateResult l = FleetEnv::update(env.device(late_cache.path(), late));
  CHECK(l.version == 1);
  CHECK(l.reason == "rollout");

  REQUIRE(env.op("rollout", {"--halt"}).exit_code == 0);  // v4, 0 %
  e = FleetEnv::update(env.device(early_cache.path(), early));
  CHECK(e.version == 3);  // keeps what it has; no device goes back
  CHECK(e.reason == "rollout");
  l = FleetEnv::update(env.device(late_cache.path(), late));
  CHECK(l.version == 1);
  // Nobody new is admitted: a device with the earliest bucket and no model gets the last
  // release every device had (v1, the halted version's fallback), not v4.
  UpdateResult fresh = FleetEnv::update(env.device(fresh_cache.path(), early));
  CHECK(fresh.status == UpdateStatus::kUpdated);
  CHECK(fresh.version == 1);
}

TEST_CASE("a device outside a rollout installs the named fallback release, keeps it, and refuses a document that is not it") {
  FleetEnv env;
  TempDir fresh_cache, second_cache, tampered_cache;
  const std::string late = id_in_buckets(50, 100);
  REQUIRE(env.publish(random_bytes(20000, 1)).exit_code == 0);                       // v1, every device
  REQUIRE(env.publish(random_bytes(20000, 2), {"--rollout", "10"}).exit_code == 0);  // v2, 10 %

  UpdateResult r = FleetEnv::update(env.device(fresh_cache.path(), late));
  CHECK_MESSAGE(r.status == UpdateStatus::kUpdated, (r.reason + ": " + r.message));
  CHECK(r.version == 1);
  CHECK(r.offered_version == 2);
  CHECK(r.manifest_format == 2);
  // It keeps it: nothing more to download while v2 stays at 10 %.
  r = FleetEnv::update(env.device(fresh_cache.path(), late));
  CHECK(r.status == UpdateStatus::kCurrent);
  CHECK(r.reason == "rollout");
  CHECK(r.version == 1);
  CHECK(r.bytes_downloaded == 0);

  // A fallback document that is not the one v2 names (same stream, re-signed) is refused,
  // and a device with no model stays without one rather than take it.
  const std::string v1_doc = env.tree + "/v2/manifests/classifier/stable/android-arm64/1.json";
  SignedManifestV2 doc = parse_signed_manifest_v2(read_all(v1_doc)).value();
  doc.manifest.expires_at = "2099-01-01T00:00:00Z";
  PrivateKey key = PrivateKey::from_pem_file(env.key).value();
  auto resigned = sign_manifest_v2(doc.manifest, {&key});
  REQUIRE(resigned.ok());
  const std::string original = read_all(v1_doc);
  write_all(v1_doc, *resigned);
  r = FleetEnv::update(env.device(tampered_cache.path(), late));
  CHECK(r.status == UpdateStatus::kNone);
  CHECK(r.reason == "signature");
  CHECK(r.message.find("is not the rollout fallback") != std::string::npos);
  write_all(v1_doc, original);

  // Once v2 reaches every device, the device on the fallback moves up to it.
  REQUIRE(env.op("rollout", {"--percent", "100"}).exit_code == 0);  // v3
  r = FleetEnv::update(env.device(fresh_cache.path(), late));
  CHECK(r.status == UpdateStatus::kUpdated);
  CHECK(r.version == 3);
  r = FleetEnv::update(env.device(second_cache.path(), late));
  CHECK(r.version == 3);
}
