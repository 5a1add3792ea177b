// The fetcher against a server that sends what no healthy server would: invalid UTF-8 in
// the manifest and in headers, a 10 KB ETag, Content-Length and Content-Range values that
// contradict the body or the request. Every case must end in fallback (or none when there
// is no model yet) with a reason, never an exception, and the next update against a
// healthy server must work.
#include <doctest/doctest.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <mutex>

#include "fetch_test_util.h"
#include "hostile_http_server.h"
#include "modelcast/fs.h"
#include "modelcast/utf8.h"

using namespace modelcast;
using namespace modelcast::testing;

namespace {

const std::string kWeights1 = random_bytes(200 * 1024, 11);
const std::string kWeights2 = random_bytes(200 * 1024, 12);
const std::string kWeights3 = random_bytes(200 * 1024, 13);

PublishSpec version_with(uint64_t v, const std::string& weights) {
  PublishSpec s;
  s.version = v;
  s.files = {{"model.bin", weights, true}, {"labels.txt", "cat\ndog\n", false}};
  return s;
}

// How the server answers; the test changes it between updates.
struct Twist {
  std::string manifest_body;      // non-empty: served instead of the real manifest
  std::string manifest_headers;   // extra header lines on the manifest
  int64_t manifest_length_delta = 0;  // added to the manifest's Content-Length
  int64_t blob_length_delta = 0;      // added to each blob's Content-Length
  bool blob_range_from_zero = false;  // answer a Range request with a 206 from byte 0
  size_t blob_trickle_after = static_cast<size_t>(-1);  // then 2 bytes a second
};

// A tree served by the hostile server: healthy unless a twist is set.
struct HostileEnv {
  TempDir tree_dir;
  TempDir cache_dir;
  TreeFixture tree{tree_dir.path()};
  std::mutex mu;
  Twist twist;
  std::unique_ptr<HostileHttpServer> server;

  HostileEnv() {
    std::string err;
    server = HostileHttpServer::start([this](const HostileRequest& r) { return serve(r); }, &err);
    REQUIRE_MESSAGE(server != nullptr, err);
  }

  void set(Twist t) {
    std::lock_guard<std::mutex> l(mu);
    twist = std::move(t);
  }
  void healthy() { set(Twist()); }

  HostileAnswer serve(const HostileRequest& r) {
    Twist t;
    {
      std::lock_guard<std::mutex> l(mu);
      t = twist;
    }
    const std::string path = tree_dir.path() + r.path;
    if (r.path.find("..") != std::string::npos || !path_exists(path)) return HostileHttpServer::answer(404, "");
    std::string body = read_all(path);
    const bool manifest = r.path.compare(0, 11, "/manifests/") == 0;
    if (manifest && !t.manifest_body.empty()) body = t.manifest_body;
    const int64_t delta = manifest ? t.manifest_length_delta : t.blob_length_delta;
    std::string head;
    uint64_t from = 0;
    const std::string range = r.header("Range");  // "bytes=N-"
    if (!manifest && range.compare(0, 6, "bytes=") == 0) from = std::stoull(range.substr(6));
    if (from > 0 && from < body.size()) {
      const uint64_t start = t.blob_range_from_zero ? 0 : from;
      head = "HTTP/1.1 206 Partial\r\nContent-Range: bytes " + std::to_string(start) + "-" +
             std::to_string(body.size() - 1) + "/" + std::to_string(body.size()) + "\r\n";
      body = body.substr(start);
    } else {
      head = "HTTP/1.1 200 OK\r\n";
    }
    head += "Content-Length: " + std::to_string(static_cast<int64_t>(body.size()) + delta) + "\r\n";
    if (manifest) head += t.manifest_headers;
    HostileAnswer a;
    a.head = head;
    a.body = body;  // with a shorter Content-Length the client stops early
    if (!manifest) a.trickle_after = t.blob_trickle_after;
    return a;
  }

  FetcherOptions options() const {
    FetcherOptions o;
    o.base_url = server->url();
    o.cache_dir = cache_dir.path();
    o.trusted_keys = {tree.key().public_key()};
    o.platform = "android-arm64";
    o.connect_timeout_ms = 2000;
    o.low_speed_time_ms = 2000;
    o.max_retries = 0;
    return o;
  }
  UpdateResult update() {
    auto f = Fetcher::create(options());
    REQUIRE_MESSAGE(f.ok(), f.status().message());
    return (*f)->update("classifier");
  }
  std::string state_json() const { return read_all(cache_dir.path() + "/models/classifier/state.json"); }
};

// A fallback (or none) with a reason and a printable message; the cache still opens.
void expect_refused(const UpdateResult& r, uint64_t active, const std::string& reason) {
  CHECK(r.status == (active ? UpdateStatus::kFallback : UpdateStatus::kNone));
  CHECK_MESSAGE(r.reason == reason, r.message);
  CHECK(r.version == active);
  CHECK(!r.message.empty());
  CHECK(is_valid_utf8(r.message));
}

void expect_recovers(HostileEnv& env, uint64_t version) {
  env.healthy();
  UpdateResult r = env.update();
  CHECK_MESSAGE(r.status == UpdateStatus::kUpdated, r.reason << ": " << r.message);
  CHECK(r.version == version);
}

const std::string kInvalidUtf8Manifest = std::string("{\"signed\":{\"model\":\"\xff\x00\"},\"signatures\":[]}", 42);

}  // namespace

TEST_CASE("a manifest of invalid UTF-8 ends in fallback with a reason, is recorded, and the next update works") {
  HostileEnv env;
  env.tree.publish(version_with(1, kWeights1));
  REQUIRE(env.update().status == UpdateStatus::kUpdated);
  env.tree.publish(version_with(2, kWeights2));
  Twist t;
  t.manifest_body = kInvalidUtf8Manifest;
  env.set(t);
  expect_refused(env.update(), 1, "corrupt");
  auto state = read_model_state(env.cache_dir.path(), "classifier");
  REQUIRE(state.ok());
  CHECK(state->last_status == "fallback");
  CHECK(state->last_reason == "corrupt");
  CHECK(is_valid_utf8(state->last_message));
  expect_recovers(env, 2);
}

TEST_CASE("with no model yet, a manifest of invalid UTF-8 ends in none with a reason") {
  HostileEnv env;
  env.tree.publish(version_with(1, kWeights1));
  Twist t;
  t.manifest_body = kInvalidUtf8Manifest;
  env.set(t);
  expect_refused(env.update(), 0, "corrupt");
  expect_recovers(env, 1);
}

TEST_CASE("an ETag of invalid UTF-8 or of 10 KB is not kept, and every later check still works") {
  HostileEnv env;
  env.tree.publish(version_with(1, kWeights1));
  for (const std::string& etag : {std::string("\"\xff\""), "\"" + std::string(10 * 1024, 'e') + "\""}) {
    CAPTURE(etag.size());
    Twist t;
    t.manifest_headers = "ETag: " + etag + "\r\n";
    env.set(t);
    UpdateResult first = env.update();
    CHECK_MESSAGE(first.status != UpdateStatus::kFallback, first.message);
    UpdateResult again = env.update();
    CHECK(again.status == UpdateStatus::kCurrent);
    auto state = read_model_state(env.cache_dir.path(), "classifier");
    REQUIRE(state.ok());
    CHECK(state->etag.empty());
    CHECK(state->last_status == "current");
    env.tree.publish(version_with(first.version + 1, first.version == 1 ? kWeights2 : kWeights3));
  }
  expect_recovers(env, 3);

  // A well-formed ETag is still kept and sent back.
  Twist t;
  t.manifest_headers = "ETag: \"v3-abc\"\r\n";
  env.set(t);
  CHECK(env.update().status == UpdateStatus::kCurrent);
  CHECK(read_model_state(env.cache_dir.path(), "classifier")->etag == "\"v3-abc\"");
}

TEST_CASE("a Content-Length that contradicts the body ends in fallback and the next update works") {
  HostileEnv env;
  env.tree.publish(version_with(1, kWeights1));
  REQUIRE(env.update().status == UpdateStatus::kUpdated);
  uint64_t next = 2;
  struct Case {
    const char* what;
    Twist twist;
    const char* reason;
  };
  Twist manifest_longer, manifest_shorter, blob_longer, blob_shorter;
  manifest_longer.manifest_length_delta = 100;    // the connection closes early
  manifest_shorter.manifest_length_delta = -50;   // the manifest is cut short
  blob_longer.blob_length_delta = 100;
  blob_shorter.blob_length_delta = -100;
  for (const Case& c : {Case{"manifest longer", manifest_longer, "network"}, Case{"manifest shorter", manifest_shorter, "corrupt"},
                        Case{"blob longer", blob_longer, "hash-mismatch"}, Case{"blob shorter", blob_shorter, "hash-mismatch"}}) {
    CAPTURE(c.what);
    env.tree.publish(version_with(next, random_bytes(200 * 1024, static_cast<uint32_t>(100 + next))));
    env.set(c.twist);
    expect_refused(env.update(), next - 1, c.reason);
    expect_recovers(env, next);
    ++next;
  }
}

TEST_CASE("a Content-Range that does not match the requested range ends in fallback and the next update resumes") {
  HostileEnv env;
  env.tree.publish(version_with(1, kWeights1));
  REQUIRE(env.update().status == UpdateStatus::kUpdated);
  const std::string text = env.tree.publish(version_with(2, kWeights2));
  FileEntry weights;
  for (const auto& f : TreeFixture::manifest_of(text).files)
    if (f.path == "model.bin") weights = f;
  // A partial download left by an earlier update: the next one asks for the rest.
  const std::string stored = read_all(env.tree.blob_path(weights));
  write_all(env.cache_dir.path() + "/tmp/" + weights.sha256 + ".zst.part", stored.substr(0, 50000));
  Twist t;
  t.blob_range_from_zero = true;
  env.set(t);
  UpdateResult r = env.update();
  expect_refused(r, 1, "network");
  CHECK(r.message.find("range from byte 0") != std::string::npos);
  expect_recovers(env, 2);
}

TEST_CASE("modelcast-fetch prints JSON and exits 0 on a manifest of invalid UTF-8 while a model is active") {
  HostileEnv env;
  env.tree.publish(version_with(1, kWeights1));
  std::vector<std::string> argv = {MODELCAST_FETCH_CLI, "update", "--url", env.server->url(), "--cache",
                                   env.cache_dir.path(), "--model", "classifier", "--platform", "android-arm64",
                                   "--pubkey", env.tree.pubkey_path(), "--json", "--quiet"};
  REQUIRE(run_command(argv).exit_code == 0);
  Twist t;
  t.manifest_body = kInvalidUtf8Manifest;
  env.set(t);
  CommandResult r = run_command(argv);
  CHECK_MESSAGE(r.exit_code == 0, r.err);
  Json out = Json::parse(r.out, nullptr, false);
  REQUIRE_MESSAGE(!out.is_discarded(), r.out);
  CHECK(out["status"] == "fallback");
  CHECK(out["reason"] == "corrupt");
  CHECK(out["version"] == 1);
}

TEST_CASE("a server trickling 2 bytes a second is abandoned at the minimum rate, and within the update deadline") {
  HostileEnv env;
  env.tree.publish(version_with(1, kWeights1));
  REQUIRE(env.update().status == UpdateStatus::kUpdated);
  env.tree.publish(version_with(2, kWeights2));
  Twist t;
  t.blob_trickle_after = 50 * 1024;
  env.set(t);
  // Default minimum rate (1024 B/s over low_speed_time_ms = 2 s).
  expect_refused(env.update(), 1, "network");
  // Before the minimum rate existed the trickle went on until the server gave up (60 s).
  CHECK(env.server->trickled_bytes() < 30);

  // With the rate check off, the per-update deadline still ends it.
  const uint64_t before = env.server->trickled_bytes();
  FetcherOptions o = env.options();
  o.low_speed_bytes = 1;
  o.update_deadline_ms = 1500;
  auto f = Fetcher::create(o);
  REQUIRE(f.ok());
  UpdateResult r = (*f)->update("classifier");
  expect_refused(r, 1, "network");
  CHECK(r.message.find("deadline") != std::string::npos);
  CHECK(env.server->trickled_bytes() - before < 30);
  expect_recovers(env, 2);
}

TEST_CASE("SIGINT during modelcast-fetch update --json cancels it, prints the result with the model kept, and exits 0") {
  HostileEnv env;
  env.tree.publish(version_with(1, kWeights1));
  std::vector<std::string> argv = {MODELCAST_FETCH_CLI, "update", "--url", env.server->url(), "--cache",
                                   env.cache_dir.path(), "--model", "classifier", "--platform", "android-arm64",
                                   "--pubkey", env.tree.pubkey_path(), "--json", "--quiet", "--timeout", "60"};
  REQUIRE(run_command(argv).exit_code == 0);
  env.tree.publish(version_with(2, kWeights2));
  Twist t;
  t.blob_trickle_after = 50 * 1024;
  env.set(t);
  bool interrupted = false;
  CommandResult r = run_command_with(argv, [&](pid_t pid) {
    // Wait (at most 20 s) until the download is trickling, then press Ctrl-C.
    for (int i = 0; i < 400 && env.server->trickled_bytes() == 0; ++i) ::usleep(50 * 1000);
    interrupted = env.server->trickled_bytes() > 0;
    ::kill(pid, SIGINT);
  });
  CHECK(interrupted);
  CHECK_MESSAGE(r.exit_code == 0, r.err);
  Json out = Json::parse(r.out, nullptr, false);
  REQUIRE_MESSAGE(!out.is_discarded(), r.out);
  CHECK(out["status"] == "fallback");
  CHECK(out["reason"] == "cancelled");
  CHECK(out["version"] == 1);
  expect_recovers(env, 2);
}
