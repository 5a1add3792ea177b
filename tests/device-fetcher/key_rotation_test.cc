// Key rotation end to end: `modelcast key add|revoke` writes signed key-set statements, and
// a device that pins only the original key follows them through the real fetcher and
// nginx. The two procedures of publisher/README.md: a lost key and a leaked key.
#include <sys/stat.h>

#include <filesystem>

#include "fleet_env.h"
#include "modelcast/fs.h"
#include "modelcast/key_set.h"

using namespace modelcast;
using namespace modelcast::testing;

namespace {

struct Keys {
  std::string primary, backup, next;
};

Keys make_keys(FleetEnv& env) {
  Keys k{env.key, env.work / "backup", env.work / "next"};
  REQUIRE(FleetEnv::cli({"keygen", "--out", k.backup}).exit_code == 0);
  REQUIRE(FleetEnv::cli({"keygen", "--out", k.next}).exit_code == 0);
  return k;
}

std::string key_id(const std::string& pub) { return PublicKey::from_pem_file(pub).value().key_id(); }

// What an attacker holding `key_file` can do: sign a manifest of its own and serve it,
// naming the key-set statement it likes (by default the one the current manifest names).
void serve_forged_manifest(FleetEnv& env, const std::string& key_file, uint64_t version,
                           std::optional<uint64_t> keyset_version = std::nullopt) {
  ManifestV2 m = env.current_v2();  // the document devices read first
  m.version = version;
  if (keyset_version) m.keyset_version = keyset_version;
  PrivateKey key = PrivateKey::from_pem_file(key_file).value();
  auto text = sign_manifest_v2(m, {&key});
  REQUIRE(text.ok());
  write_all(env.current_path(2), *text);
  env.age_current_manifest();
}

}  // namespace

TEST_CASE("lost key: a device pinning only the lost key follows the statements to the backup and a new key") {
  FleetEnv env;
  Keys k = make_keys(env);
  TempDir cache, fresh;
  FetcherOptions device = env.device(cache.path());  // pins only the primary key
  REQUIRE(env.publish(random_bytes(20000, 1)).exit_code == 0);
  REQUIRE(FleetEnv::update(device).version == 1);

  // Done beforehand, while the primary key exists: the backup joins the key set.
  CommandResult add = FleetEnv::cli({"key", "add", env.tree, k.backup + ".pub", "--key", k.primary, "--json"});
  REQUIRE_MESSAGE(add.exit_code == 0, add.err);
  CHECK(Json::parse(add.out)["keyset_version"] == 1);
  CHECK(path_exists(env.tree + "/keys/keyset/1.json"));
  REQUIRE(env.publish(random_bytes(20000, 2)).exit_code == 0);
  UpdateResult r = FleetEnv::update(device);
  REQUIRE_MESSAGE(r.version == 2, (r.reason + ": " + r.message));

  // The primary key is lost: the backup revokes it and brings in a new key.
  CommandResult revoke = FleetEnv::cli({"key", "revoke", env.tree, key_id(k.primary + ".pub"), "--add", k.next + ".pub",
                                        "--key", k.backup, "--json"});
  REQUIRE_MESSAGE(revoke.exit_code == 0, revoke.err);
  Json out = Json::parse(revoke.out);
  CHECK(out["keyset_version"] == 2);
  REQUIRE(out["resigned"].size() == 1);  // the current manifest needed the lost key
  CHECK(out["resigned"][0]["version"] == 3);
  env.age_current_manifest();
  r = FleetEnv::update(device);
  CHECK_MESSAGE(r.status == UpdateStatus::kUpdated, (r.reason + ": " + r.message));
  CHECK(r.version == 3);

  // The new key publishes from now on; the device still pins only the lost one.
  CommandResult p = env.publish(random_bytes(20000, 4), {"--key", k.next});
  // --key given twice: the fixture's primary (revoked) and the new key.
  CHECK(p.exit_code == 1);
  CHECK(p.err.find("is revoked") != std::string::npos);
  std::vector<std::string> args = {"publish", env.tree, "--model", "classifier", "--platform", "android-arm64", "--config",
                                   env.work / "config.json", "--key", k.next, "--quiet", "--json", env.work / "model.bin"};
  write_all(env.work / "model.bin", random_bytes(20000, 5));
  REQUIRE_MESSAGE(FleetEnv::cli(args).exit_code == 0, "publish with the new key");
  env.age_current_manifest();
  r = FleetEnv::update(device);
  CHECK_MESSAGE(r.version == 4, (r.reason + ": " + r.message));

  // A new install pinning the original key walks the whole chain.
  r = FleetEnv::update(env.device(fresh.path()));
  CHECK_MESSAGE(r.version == 4, (r.reason + ": " + r.message));
}

TEST_CASE("leaked key: after the revocation the device refuses what the leaked key signs, and an old key set cannot undo it") {
  FleetEnv env;
  Keys k = make_keys(env);
  TempDir cache;
  FetcherOptions device = env.device(cache.path());
  REQUIRE(env.publish(random_bytes(20000, 1)).exit_code == 0);
  REQUIRE(FleetEnv::cli({"key", "add", env.tree, k.backup + ".pub", "--key", k.primary}).exit_code == 0);
  const std::string keyset1 = read_all(env.tree + "/keys/keyset.json");
  REQUIRE(FleetEnv::update(device).version == 1);

  CommandResult revoke = FleetEnv::cli({"key", "revoke", env.tree, k.primary + ".pub", "--key", k.backup, "--json"});
  REQUIRE_MESSAGE(revoke.exit_code == 0, revoke.err);
  env.age_current_manifest();
  UpdateResult r = FleetEnv::update(device);
  REQUIRE_MESSAGE(r.version == 2, (r.reason + ": " + r.message));  // re-signed by the backup

  // The attacker signs a "new version" with the leaked key.
  serve_forged_manifest(env, k.primary, 50);
  r = FleetEnv::update(device);
  CHECK(r.status == UpdateStatus::kFallback);
  CHECK(r.reason == "signature");
  CHECK(r.message.find("revoked") != std::string::npos);
  CHECK(r.version == 2);

  // ... and serves the older key set, in which the leaked key was still good.
  write_all(env.tree + "/keys/keyset.json", keyset1);
  r = FleetEnv::update(device);
  CHECK(r.reason == "signature");
  CHECK(r.version == 2);

  // ... or a statement of its own, bringing in its key: signed below the threshold of the
  // device's set (the leaked key's signature no longer counts).
  PrivateKey leaked = PrivateKey::from_pem_file(k.primary).value();
  PrivateKey attacker = PrivateKey::generate().value();
  KeySet forged;
  forged.version = 3;
  forged.keys = {attacker.public_key()};
  forged.revoked = {leaked.public_key().key_id()};
  auto statement = sign_key_set(forged, "2026-11-26T00:00:00Z", {&leaked, &attacker});
  REQUIRE(statement.ok());
  write_all(env.tree + "/keys/keyset/3.json", *statement);
  write_all(env.tree + "/keys/keyset.json", *statement);
  serve_forged_manifest(env, k.primary, 50, 3);  // naming the forged statement
  r = FleetEnv::update(device);
  CHECK(r.status == UpdateStatus::kFallback);
  CHECK(r.reason == "signature");
  CHECK(r.message.find("threshold") != std::string::npos);
  CHECK(r.version == 2);
}

TEST_CASE("a key statement signed below the threshold is refused by the publisher, tree unchanged") {
  FleetEnv env;
  Keys k = make_keys(env);
  REQUIRE(env.publish(random_bytes(5000, 1)).exit_code == 0);
  // Raising the threshold re-signs the current manifest, so both keys sign this statement's commit.
  CommandResult raise = FleetEnv::cli({"key", "add", env.tree, k.backup + ".pub", "--key", k.primary, "--key", k.backup,
                                       "--threshold", "2"});
  REQUIRE_MESSAGE(raise.exit_code == 0, raise.err);
  const std::string before = read_all(env.tree + "/keys/keyset.json");
  CommandResult one = FleetEnv::cli({"key", "add", env.tree, k.next + ".pub", "--key", k.primary});
  CHECK(one.exit_code == 1);
  CHECK(one.err.find("threshold is 2") != std::string::npos);
  CHECK(std::count(one.err.begin(), one.err.end(), '\n') == 1);
  CHECK_FALSE(path_exists(env.tree + "/keys/keyset/2.json"));
  CHECK(read_all(env.tree + "/keys/keyset.json") == before);
  CommandResult outsider = FleetEnv::cli({"key", "add", env.tree, k.next + ".pub", "--key", k.next});
  CHECK(outsider.exit_code == 1);
  CHECK_FALSE(path_exists(env.tree + "/keys/keyset/2.json"));
  CommandResult two = FleetEnv::cli({"key", "add", env.tree, k.next + ".pub", "--key", k.primary, "--key", k.backup});
  CHECK_MESSAGE(two.exit_code == 0, two.err);
}

TEST_CASE("refresh follows the key set: a revoked key or too few signers is refused, the threshold signs, devices accept it") {
  FleetEnv env;
  Keys k = make_keys(env);
  TempDir cache;
  FetcherOptions device = env.device(cache.path());
  REQUIRE(env.publish(random_bytes(5000, 1)).exit_code == 0);
  REQUIRE(FleetEnv::update(device).version == 1);
  REQUIRE(FleetEnv::cli({"key", "add", env.tree, k.backup + ".pub", "--key", k.primary, "--key", k.backup, "--threshold",
                         "2"})
              .exit_code == 0);
  const std::string before = read_all(env.tree + "/manifests/classifier/stable/android-arm64.json");

  // One signer where the set needs two: every device would refuse the refreshed manifest.
  CommandResult one = FleetEnv::cli({"refresh", env.tree, "--key", k.primary, "--within", "3650"});
  CHECK(one.exit_code != 0);
  CHECK(one.err.find("requires 2") != std::string::npos);
  CHECK(std::count(one.err.begin(), one.err.end(), '\n') == 1);
  CHECK(read_all(env.tree + "/manifests/classifier/stable/android-arm64.json") == before);

  CommandResult two = FleetEnv::cli({"refresh", env.tree, "--key", k.primary, "--key", k.backup, "--within", "3650", "--json"});
  REQUIRE_MESSAGE(two.exit_code == 0, two.err);
  CHECK(Json::parse(two.out)["keyids"].size() == 2);
  env.age_current_manifest();
  UpdateResult r = FleetEnv::update(device);
  CHECK_MESSAGE(r.reason.empty(), (r.reason + ": " + r.message));
  CHECK(r.version == env.current().version);

  // After the primary key is revoked (threshold back to 1), refresh refuses it outright.
  REQUIRE(FleetEnv::cli({"key", "revoke", env.tree, k.primary + ".pub", "--key", k.primary, "--key", k.backup, "--threshold",
                         "1"})
              .exit_code == 0);
  CommandResult revoked = FleetEnv::cli({"refresh", env.tree, "--key", k.primary, "--within", "3650"});
  CHECK(revoked.exit_code != 0);
  CHECK(revoked.err.find("revoked") != std::string::npos);
  CHECK(FleetEnv::cli({"verify", env.tree}).exit_code == 0);
}

TEST_CASE("verify names a current manifest that devices holding the key set refuse, and a broken statement chain") {
  FleetEnv env;
  Keys k = make_keys(env);
  REQUIRE(env.publish(random_bytes(5000, 1)).exit_code == 0);
  REQUIRE(FleetEnv::cli({"key", "add", env.tree, k.backup + ".pub", "--key", k.primary}).exit_code == 0);
  REQUIRE(FleetEnv::cli({"key", "revoke", env.tree, k.primary + ".pub", "--key", k.backup}).exit_code == 0);
  CommandResult clean = FleetEnv::cli({"verify", env.tree});
  REQUIRE_MESSAGE(clean.exit_code == 0, (clean.out + clean.err));

  // A manifest signed by the revoked key, as a careless hand-made commit would leave it.
  serve_forged_manifest(env, k.primary, 50);
  CommandResult forged = FleetEnv::cli({"verify", env.tree});
  CHECK(forged.exit_code != 0);
  CHECK((forged.out + forged.err).find("devices holding key set 2 refuse it") != std::string::npos);

  // keys/keyset.json put back to statement 1: not the newest statement.
  write_all(env.tree + "/keys/keyset.json", read_all(env.tree + "/keys/keyset/1.json"));
  CommandResult stale = FleetEnv::cli({"verify", env.tree});
  CHECK((stale.out + stale.err).find("keys/keyset.json: is not a copy of the newest statement") != std::string::npos);
}

namespace {

// The requests nginx saw whose path starts with `prefix`.
size_t requests_under(const NginxServer& nginx, const std::string& prefix) {
  size_t n = 0;
  for (const auto& line : nginx.access_log()) n += line.path.compare(0, prefix.size(), prefix) == 0;
  return n;
}

}  // namespace

TEST_CASE("each format 2 manifest names its key-set statement; a tree without statements names none") {
  FleetEnv env;
  Keys k = make_keys(env);
  REQUIRE(env.publish(random_bytes(5000, 1)).exit_code == 0);
  CHECK_FALSE(env.current_v2().keyset_version.has_value());
  CHECK(read_all(env.current_path(2)).find("keyset_version") == std::string::npos);
  REQUIRE(FleetEnv::cli({"key", "add", env.tree, k.backup + ".pub", "--key", k.primary}).exit_code == 0);
  REQUIRE(env.publish(random_bytes(5000, 2)).exit_code == 0);
  CHECK(env.current_v2().keyset_version == std::optional<uint64_t>(1));
  REQUIRE(FleetEnv::cli({"refresh", env.tree, "--key", k.primary, "--within", "3650"}).exit_code == 0);
  REQUIRE(FleetEnv::cli({"key", "revoke", env.tree, k.primary + ".pub", "--key", k.backup}).exit_code == 0);
  // The revocation re-signed the current manifest (it needed the revoked key): under 2.
  CHECK(env.current_v2().keyset_version == std::optional<uint64_t>(2));
  CHECK(FleetEnv::cli({"verify", env.tree}).exit_code == 0);
}

TEST_CASE("a fresh device follows the statement the manifest names even when keys/keyset.json is a 404, then refuses the revoked key") {
  FleetEnv env;
  Keys k = make_keys(env);
  TempDir cache;
  FetcherOptions device = env.device(cache.path());  // pins only the primary key
  REQUIRE(env.publish(random_bytes(5000, 1)).exit_code == 0);
  REQUIRE(FleetEnv::cli({"key", "add", env.tree, k.backup + ".pub", "--key", k.primary}).exit_code == 0);
  REQUIRE(FleetEnv::cli({"key", "revoke", env.tree, k.primary + ".pub", "--key", k.backup}).exit_code == 0);
  env.age_current_manifest();
  // A mirror that lost keys/keyset.json (or an attacker answering 404 for it).
  REQUIRE(std::filesystem::remove(env.tree + "/keys/keyset.json"));
  UpdateResult r = FleetEnv::update(device);
  REQUIRE_MESSAGE(r.status == UpdateStatus::kUpdated, (r.reason + ": " + r.message));
  CHECK(requests_under(*env.nginx, "/tree/keys/keyset/1.json") == 1);
  CHECK(requests_under(*env.nginx, "/tree/keys/keyset/2.json") == 1);
  // The leaked key signs a very high version: refused, the device keeps its model.
  serve_forged_manifest(env, k.primary, 1000);
  r = FleetEnv::update(device);
  CHECK(r.status == UpdateStatus::kFallback);
  CHECK(r.reason == "signature");
  CHECK_MESSAGE(r.message.find("revoked") != std::string::npos, r.message);

  // Named but nowhere to be found: refused, not skipped.
  TempDir other;
  REQUIRE(std::filesystem::remove(env.tree + "/keys/keyset/2.json"));
  env.age_current_manifest();
  r = FleetEnv::update(env.device(other.path()));
  CHECK(r.status == UpdateStatus::kNone);
  CHECK(r.reason == "not-found");
  CHECK_MESSAGE(r.message.find("keys/keyset/2.json") != std::string::npos, r.message);
}

TEST_CASE("a key-set answer other than 200 or 404 is a network fallback, not a skip") {
  FleetEnv env;
  Keys k = make_keys(env);
  TempDir cache;
  FetcherOptions device = env.device(cache.path());
  REQUIRE(env.publish(random_bytes(5000, 1)).exit_code == 0);
  REQUIRE(FleetEnv::update(device).version == 1);
  REQUIRE(FleetEnv::cli({"key", "add", env.tree, k.backup + ".pub", "--key", k.primary}).exit_code == 0);
  REQUIRE(env.publish(random_bytes(5000, 2)).exit_code == 0);
  // A folder where keys/keyset.json belongs: nginx redirects to keyset.json/ and refuses
  // to list it (403), as a broken CDN answers an error page (the tests run as root, so an
  // unreadable file would still be served).
  const std::string keyset = env.tree + "/keys/keyset.json";
  const std::string aside = env.work / "keyset.json";
  std::filesystem::rename(keyset, aside);
  std::filesystem::create_directory(keyset);
  device.max_retries = 0;
  UpdateResult r = FleetEnv::update(device);
  CHECK(r.status == UpdateStatus::kFallback);
  CHECK(r.reason == "network");
  CHECK_MESSAGE(r.message.find("keys/keyset.json: HTTP 403") != std::string::npos, r.message);
  CHECK(r.version == 1);
  CHECK(r.retry_after_s > 0);
  std::filesystem::remove(keyset);
  std::filesystem::rename(aside, keyset);
  r = FleetEnv::update(device);
  CHECK_MESSAGE(r.status == UpdateStatus::kUpdated, (r.reason + ": " + r.message));
}

TEST_CASE("a device holding the statement the manifest names asks for nothing else: one request per check") {
  FleetEnv env;
  Keys k = make_keys(env);
  TempDir cache;
  FetcherOptions device = env.device(cache.path());
  REQUIRE(env.publish(random_bytes(5000, 1)).exit_code == 0);
  REQUIRE(FleetEnv::cli({"key", "add", env.tree, k.backup + ".pub", "--key", k.primary}).exit_code == 0);
  REQUIRE(env.publish(random_bytes(5000, 2)).exit_code == 0);
  REQUIRE(FleetEnv::update(device).version == 2);  // learns statement 1 on the way

  // A manifest-only update: the same files re-signed as version 3.
  REQUIRE(FleetEnv::cli({"refresh", env.tree, "--key", k.primary, "--within", "3650"}).exit_code == 0);
  env.age_current_manifest();
  env.nginx->clear_access_log();
  UpdateResult r = FleetEnv::update(device);
  REQUIRE_MESSAGE(r.status == UpdateStatus::kUpdated, (r.reason + ": " + r.message));
  CHECK(r.version == 3);
  CHECK(r.files_downloaded == 0);
  auto log = env.nginx->access_log();
  CHECK(log.size() == 1);
  CHECK(requests_under(*env.nginx, "/tree/v2/manifests/") == 1);
  CHECK(requests_under(*env.nginx, "/tree/keys/") == 0);
  MESSAGE("manifest-only update on a tree with statements: " << log.size() << " request(s)");

  // Unchanged: one 304.
  env.nginx->clear_access_log();
  r = FleetEnv::update(device);
  CHECK(r.not_modified);
  log = env.nginx->access_log();
  REQUIRE(log.size() == 1);
  CHECK(log[0].status == 304);
}

TEST_CASE("300 key-set statements ahead: the device advances 256 per update and gets there, a fresh install too") {
  FleetEnv env;
  TempDir cache;
  REQUIRE(env.publish(random_bytes(5000, 1)).exit_code == 0);
  REQUIRE(FleetEnv::update(env.device(cache.path())).version == 1);
  // 300 statements that each keep the same key (a long-lived tree's history).
  PrivateKey key = PrivateKey::from_pem_file(env.key).value();
  std::string newest;
  for (uint64_t n = 1; n <= 300; ++n) {
    KeySet set;
    set.version = n;
    set.keys = {key.public_key()};
    auto statement = sign_key_set(set, "2026-11-26T00:00:00Z", {&key});
    REQUIRE(statement.ok());
    newest = *statement;
    write_all(env.tree + "/keys/keyset/" + std::to_string(n) + ".json", newest);
  }
  write_all(env.tree + "/keys/keyset.json", newest);
  const std::string git = "git -C " + env.tree + " -c user.name=t -c user.email=t@t ";
  REQUIRE(run_command({"/bin/sh", "-c", git + "add -A && " + git + "commit -qm statements"}).exit_code == 0);
  REQUIRE(env.publish(random_bytes(5000, 2)).exit_code == 0);
  REQUIRE(env.current_v2().keyset_version == std::optional<uint64_t>(300));

  TempDir fresh;
  for (const std::string& dir : {cache.path(), fresh.path()}) {
    CAPTURE(dir);
    UpdateResult r = FleetEnv::update(env.device(dir));
    CHECK(r.reason == "network");
    CHECK_MESSAGE(r.message.find("followed statements 1 to 256 of 300") != std::string::npos, r.message);
    r = FleetEnv::update(env.device(dir));
    CHECK_MESSAGE(r.status == UpdateStatus::kUpdated, (r.reason + ": " + r.message));
    CHECK(r.version == 2);
  }
}
