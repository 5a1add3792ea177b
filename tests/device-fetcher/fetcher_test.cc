// The fetcher against a real nginx serving a published tree: installs, 304s, dedupe,
// and every way an update can go wrong, each leaving the working model in place.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <condition_variable>
#include <filesystem>
#include <tuple>
#include <mutex>
#include <set>
#include <thread>

#include "../support/nginx_server.h"
#include "fetch_test_util.h"
#include "modelcast/fs.h"
#include "modelcast/sha256.h"
#include "modelcast/signed_manifest.h"

#include "../models/model_test_util.h"

using namespace modelcast;
using namespace modelcast::testing;

namespace {

// One published tree behind one nginx, and a device cache.
struct Env {
  TempDir tree_dir;
  TempDir cache_dir;
  TreeFixture tree{tree_dir.path()};
  std::unique_ptr<NginxServer> nginx;
  std::shared_ptr<CountingTransport> transport = std::make_shared<CountingTransport>(make_default_transport());

  Env() {
    std::string err;
    nginx = NginxServer::start(NginxOptions{tree_dir.path()}, &err);
    REQUIRE_MESSAGE(nginx != nullptr, err);
  }

  FetcherOptions options() const {
    FetcherOptions o;
    o.base_url = nginx->url();
    o.cache_dir = cache_dir.path();
    o.trusted_keys = {tree.key().public_key()};
    o.platform = "android-arm64";
    o.app_version = "2.0.0";
    o.transport = transport;
    o.connect_timeout_ms = 2000;
    o.low_speed_time_ms = 2000;
    return o;
  }

  std::unique_ptr<Fetcher> fetcher(FetcherOptions o) {
    auto f = Fetcher::create(std::move(o));
    REQUIRE_MESSAGE(f.ok(), f.status().message());
    return std::move(f).value();
  }
  std::unique_ptr<Fetcher> fetcher() { return fetcher(options()); }

  UpdateResult update(FetcherOptions o) { return fetcher(std::move(o))->update("classifier"); }
  UpdateResult update() { return update(options()); }

  // nginx logs a request after answering it; give it a moment.
  std::vector<AccessLogEntry> log(size_t at_least) {
    std::vector<AccessLogEntry> entries;
    for (int i = 0; i < 200; ++i) {
      entries = nginx->access_log();
      if (entries.size() >= at_least) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return entries;
  }
};

PublishSpec spec(uint64_t version, std::vector<FixtureFile> files) {
  PublishSpec s;
  s.version = version;
  s.files = std::move(files);
  return s;
}

const std::string kWeights1 = random_bytes(300 * 1024, 1);
const std::string kWeights2 = random_bytes(300 * 1024, 2);
const std::string kWeights3 = random_bytes(300 * 1024, 3);
const std::string kLabels = "cat\ndog\n";

PublishSpec v1() { return spec(1, {{"model.bin", kWeights1, true}, {"labels.txt", kLabels, false}}); }
PublishSpec v2() { return spec(2, {{"model.bin", kWeights2, true}, {"labels.txt", kLabels, false}}); }
PublishSpec v3() { return spec(3, {{"model.bin", kWeights3, true}, {"labels.txt", kLabels, false}}); }

uint64_t stored_size_of(const std::string& manifest_text, const std::string& path) {
  for (const auto& f : TreeFixture::manifest_of(manifest_text).files)
    if (f.path == path) return f.stored_size;
  return 0;
}

FileEntry entry_of(const std::string& manifest_text, const std::string& path) {
  for (const auto& f : TreeFixture::manifest_of(manifest_text).files)
    if (f.path == path) return f;
  return {};
}

void expect_active(const std::string& cache, uint64_t version) {
  uint64_t v = 0;
  std::string problem;
  CHECK_MESSAGE(active_version_is_complete(cache, "classifier", &v, &problem), problem);
  CHECK(v == version);
}

// Installs v1, then publishes `next` and expects the update to fall back with `reason`.
void expect_fallback_from_v1(Env& env, const UpdateResult& r, const std::string& reason) {
  CHECK(r.status == UpdateStatus::kFallback);
  CHECK(r.reason == reason);
  CHECK_MESSAGE(r.version == 1, r.message);
  CHECK(!r.message.empty());
  expect_active(env.cache_dir.path(), 1);
}

size_t count_files(const std::string& dir) {
  size_t n = 0;
  if (!std::filesystem::exists(dir)) return 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir))
    if (e.is_regular_file()) ++n;
  return n;
}

}  // namespace

TEST_CASE("fetcher installs the first version and open returns its files and config") {
  Env env;
  env.tree.publish(v1());
  UpdateResult r = env.update();
  REQUIRE_MESSAGE(r.status == UpdateStatus::kUpdated, (r.reason + ": " + r.message));
  CHECK(r.version == 1);
  CHECK(r.reason.empty());
  CHECK(r.files_downloaded == 2);
  CHECK(r.path == env.cache_dir.path() + "/models/classifier/versions/1");

  auto opened = env.fetcher()->open("classifier");
  REQUIRE(opened.ok());
  CHECK(opened->version == 1);
  REQUIRE(opened->files.size() == 2);
  for (const auto& f : opened->files) {
    std::string want = f.path == "model.bin" ? kWeights1 : kLabels;
    CHECK(read_all(f.full_path) == want);
  }
  CHECK(opened->config.outputs.at(0).labels == std::vector<std::string>{"cat", "dog"});
  CHECK(std::filesystem::read_symlink(env.cache_dir / "models/classifier/current") == "versions/1");
  // Files are hard links of the read-only blobs.
  struct stat st;
  REQUIRE(::stat(opened->files[0].full_path.c_str(), &st) == 0);
  CHECK(st.st_nlink == 2);
  CHECK((st.st_mode & 0222) == 0);
  // The User-Agent names the model, the active version and the platform.
  auto log = env.log(3);
  REQUIRE(!log.empty());
  CHECK(log[0].user_agent == "modelcast-fetch/0.1.0 (classifier; v0; android-arm64)");
  CHECK(count_files(env.cache_dir / "tmp") == 0);
}

TEST_CASE("fetcher answers current from a 304 without downloading a blob byte") {
  Env env;
  env.tree.publish(v1());
  REQUIRE(env.update().status == UpdateStatus::kUpdated);
  env.transport->clear();
  env.nginx->clear_access_log();

  UpdateResult r = env.update();
  CHECK(r.status == UpdateStatus::kCurrent);
  CHECK(r.not_modified);
  CHECK(r.version == 1);
  CHECK(r.reason.empty());
  // A format 1 tree: the format 2 document is a 404, then the format 1 one a 304.
  auto seen = env.transport->seen();
  REQUIRE(seen.size() == 2);
  CHECK(seen[0].status == 404);
  CHECK(seen[1].status == 304);
  CHECK(!seen[1].if_none_match.empty());
  CHECK(seen[1].user_agent == "modelcast-fetch/0.1.0 (classifier; v1; android-arm64)");
  CHECK(env.transport->blob_bytes() == 0);
  CHECK(r.manifest_format == 1);
  auto log = env.log(2);
  REQUIRE(log.size() == 2);
  CHECK(log[1].status == 304);
  CHECK(log[1].body_bytes == 0);
}

TEST_CASE("fetcher downloads only the files whose content changed and keeps the previous version") {
  Env env;
  env.tree.publish(v1());
  REQUIRE(env.update().status == UpdateStatus::kUpdated);
  std::string text2 = env.tree.publish(v2());
  env.transport->clear();

  UpdateResult r = env.update();
  REQUIRE_MESSAGE(r.status == UpdateStatus::kUpdated, r.message);
  CHECK(r.version == 2);
  CHECK(r.files_downloaded == 1);
  CHECK(r.files_reused == 1);
  CHECK(env.transport->blob_bytes() == stored_size_of(text2, "model.bin"));
  CHECK(r.bytes_downloaded == stored_size_of(text2, "model.bin"));
  expect_active(env.cache_dir.path(), 2);
  CHECK(std::filesystem::exists(env.cache_dir / "models/classifier/versions/1/model.bin"));

  // keep_versions = 2: v3 removes v1 and the blob only v1 used.
  std::string text1 = read_all(env.tree.root() + "/manifests/classifier/stable/android-arm64/1.json");
  env.tree.publish(v3());
  REQUIRE(env.update().status == UpdateStatus::kUpdated);
  CHECK(!std::filesystem::exists(env.cache_dir / "models/classifier/versions/1"));
  CHECK(std::filesystem::exists(env.cache_dir / "models/classifier/versions/2"));
  CHECK(!std::filesystem::exists(env.cache_dir / ("blobs/sha256/" + entry_of(text1, "model.bin").sha256.substr(0, 2) + "/" +
                                                  entry_of(text1, "model.bin").sha256)));
  expect_active(env.cache_dir.path(), 3);
}

TEST_CASE("fetcher keeps the old model when the network is gone") {
  Env env;
  env.tree.publish(v1());
  REQUIRE(env.update().status == UpdateStatus::kUpdated);
  env.tree.publish(v2());

  SUBCASE("nginx stopped") {
    env.nginx->stop();
    expect_fallback_from_v1(env, env.update(), "network");
  }
  SUBCASE("DNS failure") {
    FetcherOptions o = env.options();
    o.base_url = "http://modelcast-test.invalid";
    expect_fallback_from_v1(env, env.update(o), "network");
  }
  SUBCASE("a server that accepts and never answers times out") {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(fd, 4) == 0);
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    FetcherOptions o = env.options();
    o.base_url = "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
    o.manifest_timeout_ms = 500;
    o.low_speed_time_ms = 1000;
    auto start = std::chrono::steady_clock::now();
    expect_fallback_from_v1(env, env.update(o), "network");
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
    ::close(fd);
  }
  SUBCASE("the manifest is missing from the server (404)") {
    std::filesystem::remove(env.tree.manifest_path());
    expect_fallback_from_v1(env, env.update(), "not-found");
  }
  SUBCASE("a blob missing on the server") {
    std::string text = read_all(env.tree.manifest_path());
    std::filesystem::remove(env.tree.blob_path(entry_of(text, "model.bin")));
    expect_fallback_from_v1(env, env.update(), "network");
  }
}

TEST_CASE("fetcher reports none when the very first update fails") {
  Env env;
  env.tree.publish(v1());
  env.nginx->stop();
  UpdateResult r = env.update();
  CHECK(r.status == UpdateStatus::kNone);
  CHECK(r.reason == "network");
  CHECK(r.version == 0);
  CHECK(!env.fetcher()->open("classifier").ok());
}

TEST_CASE("fetcher keeps the old model when a blob's bytes do not match its hash") {
  Env env;
  env.tree.publish(v1());
  REQUIRE(env.update().status == UpdateStatus::kUpdated);
  std::string text = env.tree.publish(v2());
  std::string blob = env.tree.blob_path(entry_of(text, "model.bin"));

  SUBCASE("a flipped byte in a zstd blob") {
    std::string bytes = read_all(blob);
    bytes[bytes.size() / 2] ^= 0x5a;
    write_all(blob, bytes);
  }
  SUBCASE("other bytes of the same size") {
    std::string other = zstd_compress(random_bytes(300 * 1024, 99));
    std::string bytes = read_all(blob);
    other.resize(bytes.size(), '\0');
    write_all(blob, other);
  }
  SUBCASE("an identity file with other bytes") {
    text = env.tree.publish(spec(2, {{"model.bin", kWeights1, true}, {"labels.txt", "cat\ncow\n", false}}));
    std::string labels = env.tree.blob_path(entry_of(text, "labels.txt"));
    write_all(labels, "cat\nrat\n");
  }
  UpdateResult r = env.update();
  expect_fallback_from_v1(env, r, "hash-mismatch");
  CHECK(r.offered_version == 2);
  CHECK(!std::filesystem::exists(env.cache_dir / "models/classifier/versions/2"));
  CHECK(count_files(env.cache_dir / "tmp") == 0);
}

TEST_CASE("fetcher cuts off a body larger than stored_size and refuses a truncated one") {
  Env env;
  env.tree.publish(v1());
  REQUIRE(env.update().status == UpdateStatus::kUpdated);
  std::string text = env.tree.publish(v2());
  FileEntry e = entry_of(text, "model.bin");
  std::string blob = env.tree.blob_path(e);
  std::string bytes = read_all(blob);
  env.transport->clear();

  SUBCASE("oversized") {
    write_all(blob, bytes + random_bytes(1 << 20, 7));
    UpdateResult r = env.update();
    expect_fallback_from_v1(env, r, "hash-mismatch");
    CHECK(env.transport->blob_bytes() <= e.stored_size);
  }
  SUBCASE("oversized, without a Content-Length to warn") {
    // As a chunked or lying server would: the body itself is cut off at stored_size.
    struct NoLength : HttpTransport {
      std::shared_ptr<HttpTransport> inner;
      Status get(const HttpRequest& request, HttpSink& sink) override {
        struct Sink : HttpSink {
          HttpSink* inner;
          uint64_t bytes = 0;
          Status on_response(const HttpResponse& r) override {
            HttpResponse copy = r;
            copy.content_length = -1;
            return inner->on_response(copy);
          }
          Status on_data(const char* d, size_t n) override {
            Status st = inner->on_data(d, n);
            if (st.ok()) bytes += n;
            return st;
          }
        } s;
        s.inner = &sink;
        Status st = inner->get(request, s);
        if (request.url.find("/blobs/") != std::string::npos) accepted += s.bytes;
        return st;
      }
      uint64_t accepted = 0;
    };
    auto t = std::make_shared<NoLength>();
    t->inner = make_default_transport();
    write_all(blob, bytes + random_bytes(1 << 20, 7));
    FetcherOptions o = env.options();
    o.transport = t;
    UpdateResult r = env.update(o);
    expect_fallback_from_v1(env, r, "hash-mismatch");
    CHECK(r.message.find("more than the manifest's stored_size") != std::string::npos);
    CHECK(t->accepted <= e.stored_size);
  }
  SUBCASE("truncated") {
    write_all(blob, bytes.substr(0, bytes.size() - 1000));
    UpdateResult r = env.update();
    expect_fallback_from_v1(env, r, "hash-mismatch");
    CHECK(r.message.find("truncated") != std::string::npos);
  }
}

TEST_CASE("fetcher refuses manifests that are not signed by a pinned key") {
  Env env;
  env.tree.publish(v1());
  REQUIRE(env.update().status == UpdateStatus::kUpdated);

  SUBCASE("content edited after signing") {
    std::string text = env.tree.publish(v2());
    size_t pos = text.find("\"version\": 2");
    REQUIRE(pos != std::string::npos);
    text.replace(pos, 12, "\"version\": 9");
    env.tree.set_current_manifest(text);
    expect_fallback_from_v1(env, env.update(), "signature");
  }
  SUBCASE("signed by a key the device does not trust") {
    PrivateKey other = PrivateKey::generate().value();
    env.tree.publish(v2(), {&other});
    expect_fallback_from_v1(env, env.update(), "signature");
  }
  SUBCASE("one signature where the device requires two") {
    PrivateKey second = PrivateKey::generate().value();
    env.tree.publish(v2());
    FetcherOptions o = env.options();
    o.trusted_keys.push_back(second.public_key());
    o.threshold = 2;
    expect_fallback_from_v1(env, env.update(o), "signature");
    // Both keys sign: accepted.
    env.tree.publish(v3(), {&env.tree.key(), &second});
    CHECK(env.update(o).status == UpdateStatus::kUpdated);
  }
  SUBCASE("a manifest signed for another platform served at this platform's path") {
    PublishSpec s = v2();
    s.platform = "ios-arm64";
    std::string text = env.tree.publish(s);
    write_all(env.tree.manifest_path(), text);
    touch_later(env.tree.manifest_path(), 30);
    expect_fallback_from_v1(env, env.update(), "signature");
  }
  SUBCASE("not JSON at all") {
    write_all(env.tree.manifest_path(), "<html>captive portal</html>");
    touch_later(env.tree.manifest_path(), 30);
    expect_fallback_from_v1(env, env.update(), "corrupt");
  }
}

TEST_CASE("fetcher refuses an expired manifest and an older version served again") {
  Env env;
  env.tree.publish(v1());
  REQUIRE(env.update().status == UpdateStatus::kUpdated);

  SUBCASE("expired at the server") {
    PublishSpec s = v2();
    int64_t now = static_cast<int64_t>(::time(nullptr));
    s.published_at = now - 10 * 86400;
    s.expires_at = now - 86400;
    env.tree.publish(s);
    expect_fallback_from_v1(env, env.update(), "expired");
  }
  SUBCASE("expired by the device's clock") {
    env.tree.publish(v2());
    FetcherOptions o = env.options();
    o.clock = std::make_shared<FixedClock>(static_cast<int64_t>(::time(nullptr)) + 31 * 86400);
    expect_fallback_from_v1(env, env.update(o), "expired");
  }
  SUBCASE("rollback to a version below the one installed") {
    std::string old = read_all(env.tree.manifest_path());
    env.tree.publish(v2());
    REQUIRE(env.update().status == UpdateStatus::kUpdated);
    env.tree.set_current_manifest(old);
    UpdateResult r = env.update();
    CHECK(r.status == UpdateStatus::kFallback);
    CHECK(r.reason == "rollback");
    CHECK(r.version == 2);
    expect_active(env.cache_dir.path(), 2);
  }
  SUBCASE("rollback below the highest version seen, even if it was never installed") {
    std::string text2 = env.tree.publish(v2());
    std::string blob = env.tree.blob_path(entry_of(text2, "model.bin"));
    write_all(blob, "garbage");
    REQUIRE(env.update().reason == "hash-mismatch");
    auto state = read_model_state(env.cache_dir.path(), "classifier");
    REQUIRE(state.ok());
    CHECK(state->highest_seen == 2);
    // v1 re-served (v1 is active: current), then a re-signed v1 with a fresh expiry is
    // still only v1; the device refuses nothing it already has, but never goes below v2.
    env.tree.publish(v1());
    UpdateResult r = env.update();
    CHECK(r.status == UpdateStatus::kFallback);
    CHECK(r.reason == "rollback");
    expect_active(env.cache_dir.path(), 1);
  }
}

TEST_CASE("fetcher checks what the manifest requires against the device") {
  Env env;
  env.tree.publish(v1());
  REQUIRE(env.update().status == UpdateStatus::kUpdated);
  PublishSpec s = v2();
  FetcherOptions o = env.options();
  std::string reason;

  SUBCASE("app too old") {
    s.requirements.min_app_version = "2.10";
    o.app_version = "2.9.5";
    reason = "incompatible";
  }
  SUBCASE("app version unknown") {
    s.requirements.min_app_version = "1.0";
    o.app_version = "";
    reason = "incompatible";
  }
  SUBCASE("a required feature the app lacks") {
    s.requirements.features = {"audio-mfcc"};
    o.features = {"image-rgb"};
    reason = "unsupported-feature";
  }
  SUBCASE("a config feature the app lacks") {
    s.config = simple_config();
    s.config.features = {"depth"};
    reason = "unsupported-feature";
  }
  SUBCASE("a runtime the app does not have") {
    s.requirements.runtime = "onnx";
    o.runtimes = {"tflite"};
    reason = "incompatible";
  }
  env.tree.publish(s);
  expect_fallback_from_v1(env, env.update(o), reason);

  // The same manifest is accepted by a device that has what it needs.
  FetcherOptions ok = env.options();
  ok.app_version = "3.0";
  ok.features = {"audio-mfcc", "depth"};
  ok.runtimes = {"tflite", "onnx"};
  UpdateResult r = env.update(ok);
  CHECK_MESSAGE(r.status == UpdateStatus::kUpdated, r.message);
}

TEST_CASE("fetcher follows a staged rollout by a stable bucket of the device id") {
  Env env;
  PublishSpec s = v1();
  s.rollout_percent = 50;
  env.tree.publish(s);
  // Buckets fixed by FORMAT.md ("Requirements and rollout on the device"): the first 8
  // bytes of SHA-256("modelcast-rollout\nclassifier\n" + id), big-endian, mod 100,
  // worked out outside this code base (Python's hashlib).
  const std::string in_id = "device-1", out_id = "device-2";
  CHECK(rollout_bucket("device-0", "classifier") == 12);
  CHECK(rollout_bucket(in_id, "classifier") == 41);
  CHECK(rollout_bucket(out_id, "classifier") == 70);
  CHECK(rollout_bucket("device-5", "classifier") == 72);
  FetcherOptions o = env.options();
  o.device_id = out_id;
  UpdateResult r = env.update(o);
  CHECK(r.status == UpdateStatus::kNone);
  CHECK(r.reason == "rollout");
  o.device_id = "";
  CHECK(env.update(o).reason == "rollout");
  o.device_id = in_id;
  r = env.update(o);
  CHECK(r.status == UpdateStatus::kUpdated);
  CHECK(r.version == 1);
}

TEST_CASE("fetcher resumes a dropped download with a Range request") {
  Env env;
  env.tree.publish(v1());
  REQUIRE(env.update().status == UpdateStatus::kUpdated);
  std::string text = env.tree.publish(v2());
  const uint64_t stored = stored_size_of(text, "model.bin");
  const uint64_t cut = 100 * 1024;
  REQUIRE(stored > cut);

  SUBCASE("in a later update, as after an app restart") {
    FetcherOptions o = env.options();
    o.max_retries = 0;
    env.transport->cut_blob_bodies(cut, 1);
    UpdateResult r = env.update(o);
    expect_fallback_from_v1(env, r, "network");
    std::string part = env.cache_dir / ("tmp/" + entry_of(text, "model.bin").sha256 + ".zst.part");
    REQUIRE(std::filesystem::exists(part));
    CHECK(std::filesystem::file_size(part) == cut);
    env.transport->clear();
    env.nginx->clear_access_log();
    r = env.update(o);
    REQUIRE_MESSAGE(r.status == UpdateStatus::kUpdated, r.message);
    CHECK(env.transport->blob_bytes() == stored - cut);
  }
  SUBCASE("within one update") {
    env.transport->cut_blob_bodies(cut, 1);
    env.nginx->clear_access_log();
    UpdateResult r = env.update();
    REQUIRE_MESSAGE(r.status == UpdateStatus::kUpdated, r.message);
    CHECK(r.bytes_downloaded == stored);
  }
  expect_active(env.cache_dir.path(), 2);
  bool saw_range = false;
  for (const auto& e : env.log(2))
    if (e.status == 206 && e.range == "bytes=" + std::to_string(cut) + "-") {
      saw_range = true;
      CHECK(e.body_bytes == stored - cut);
    }
  CHECK(saw_range);
  CHECK(count_files(env.cache_dir / "tmp") == 0);
}

TEST_CASE("fetcher restarts cleanly when a kept partial download is corrupt") {
  Env env;
  env.tree.publish(v1());
  REQUIRE(env.update().status == UpdateStatus::kUpdated);
  std::string text = env.tree.publish(v2());
  FileEntry e = entry_of(text, "model.bin");
  // A partial whose bytes are not the blob's (say, a torn write before a power cut).
  write_all(env.cache_dir / ("tmp/" + e.sha256 + ".zst.part"), random_bytes(4096, 5));
  UpdateResult r = env.update();
  REQUIRE_MESSAGE(r.status == UpdateStatus::kUpdated, r.message);
  expect_active(env.cache_dir.path(), 2);
}

TEST_CASE("fetcher keeps the old model when the disk is full or a rename fails") {
  Env env;
  env.tree.publish(v1());
  REQUIRE(env.update().status == UpdateStatus::kUpdated);
  env.tree.publish(v2());
  auto fs = std::make_shared<FaultyFileSystem>();
  FetcherOptions o = env.options();
  o.file_system = fs;

  SUBCASE("no space left") {
    fs->space_left = 64 * 1024;
    UpdateResult r = env.update(o);
    expect_fallback_from_v1(env, r, "io");
    CHECK(r.message.find("No space left on device") != std::string::npos);
    fs->space_left = INT64_MAX;
    r = env.update(o);
    CHECK_MESSAGE(r.status == UpdateStatus::kUpdated, r.message);
    expect_active(env.cache_dir.path(), 2);
  }
  SUBCASE("each rename, link, symlink, file and folder fsync failing in turn") {
    // A first attempt that fails on a full disk records v2 as seen. Each round then starts
    // from a copy of that cache, so failing operation n hits every operation exactly once.
    fs->space_left = 4096;  // room for state.json, not for the blob
    REQUIRE(env.update(o).reason == "io");
    REQUIRE(read_model_state(env.cache_dir.path(), "classifier")->highest_seen == 2);
    fs->space_left = INT64_MAX;
    int fallbacks = 0;
    std::set<std::string> failed_ops;
    bool updated = false;
    for (int n = 0; n < 60 && !updated; ++n) {
      TempDir copy;
      std::filesystem::copy(env.cache_dir.path(), copy.path(),
                            std::filesystem::copy_options::recursive | std::filesystem::copy_options::copy_symlinks);
      FetcherOptions oc = o;
      oc.cache_dir = copy.path();
      fs->ops = 0;
      fs->fail_op_at = n;
      UpdateResult r = env.update(oc);
      CAPTURE(n);
      CAPTURE(r.message);
      uint64_t v = 0;
      std::string problem;
      REQUIRE_MESSAGE(active_version_is_complete(copy.path(), "classifier", &v, &problem), problem);
      if (r.status == UpdateStatus::kUpdated) {
        CHECK(v == 2);
        updated = true;
        break;
      }
      CHECK(r.status == UpdateStatus::kFallback);
      CHECK(r.reason == "io");
      CHECK(v == 1);
      ++fallbacks;
      failed_ops.insert(r.message.substr(0, r.message.find(' ')));
      // The next update on the damaged copy recovers and installs.
      fs->fail_op_at = -1;
      r = env.update(oc);
      CHECK_MESSAGE(r.status == UpdateStatus::kUpdated, r.message);
      CHECK_MESSAGE(active_version_is_complete(copy.path(), "classifier", &v, &problem), problem);
      CHECK(v == 2);
    }
    CHECK(updated);
    MESSAGE("injected failures that fell back: " << fallbacks);
    CHECK(fallbacks >= 12);  // blob fsync and rename, links, manifest, folder syncs, the swap
    CHECK(failed_ops == std::set<std::string>{"fsync", "link", "rename", "symlink"});
  }
}

TEST_CASE("fetcher serialises concurrent updaters and all end on the same version") {
  Env env;
  env.tree.publish(v1());
  std::vector<UpdateResult> results(4);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < results.size(); ++i)
    threads.emplace_back([&, i] {
      FetcherOptions o = env.options();
      o.transport = nullptr;  // each its own connection
      auto f = Fetcher::create(o);
      results[i] = f.value()->update("classifier");
    });
  for (auto& t : threads) t.join();
  int updated = 0;
  for (const auto& r : results) {
    CHECK_MESSAGE((r.status == UpdateStatus::kUpdated || r.status == UpdateStatus::kCurrent), r.message);
    CHECK(r.version == 1);
    updated += r.status == UpdateStatus::kUpdated;
  }
  CHECK(updated == 1);
  expect_active(env.cache_dir.path(), 1);
  // Blobs were fetched once: one GET per blob in the whole run.
  size_t blob_gets = 0;
  for (const auto& e : env.log(6))
    if (e.path.find("/blobs/") == 0) ++blob_gets;
  CHECK(blob_gets == 2);

  SUBCASE("a second updater that must not wait gets busy and keeps the model") {
    FetcherOptions o = env.options();
    o.wait_for_lock = false;
    auto held = FileLock::acquire(env.cache_dir / "lock", false);
    REQUIRE(held.ok());
    UpdateResult r = env.update(o);
    CHECK(r.status == UpdateStatus::kFallback);
    CHECK(r.reason == "busy");
    CHECK(r.version == 1);
  }
}

TEST_CASE("a reader keeps consistent files while updates swap and prune versions") {
  Env env;
  env.tree.publish(v1());
  REQUIRE(env.update().status == UpdateStatus::kUpdated);
  auto reader = env.fetcher()->open("classifier");
  REQUIRE(reader.ok());
  const std::string model_path = reader->files[0].path == "model.bin" ? reader->files[0].full_path : reader->files[1].full_path;
  int fd = ::open(model_path.c_str(), O_RDONLY);
  REQUIRE(fd >= 0);

  env.tree.publish(v2());
  // While v2 is downloading (and after the swap), v1's files read back intact.
  bool checked_during = false;
  env.transport->on_blob_bytes(1000, [&] {
    auto during = open_cached_model(env.cache_dir.path(), "classifier");
    checked_during = during.ok() && during->version == 1 && read_all(model_path) == kWeights1;
  });
  REQUIRE(env.update().version == 2);
  CHECK(checked_during);
  CHECK(read_all(model_path) == kWeights1);

  // v3 prunes v1's folder; the open descriptor still reads the old content.
  env.transport->on_blob_bytes(0, nullptr);
  env.tree.publish(v3());
  REQUIRE(env.update().version == 3);
  CHECK(!std::filesystem::exists(model_path));
  std::string back(kWeights1.size(), '\0');
  CHECK(::pread(fd, back.data(), back.size(), 0) == static_cast<ssize_t>(back.size()));
  CHECK(back == kWeights1);
  ::close(fd);
}

TEST_CASE("fetcher recovers from leftovers of a crash without the network") {
  Env env;
  env.tree.publish(v1());
  REQUIRE(env.update().status == UpdateStatus::kUpdated);
  const std::string versions = env.cache_dir / "models/classifier/versions";
  write_all(versions + "/2.partial/model.bin", "half");
  write_all(versions + "/5/model.bin", "never made current");
  write_all(env.cache_dir / "tmp/something.dec", "x");
  write_all(env.cache_dir / "tmp/not-a-hash.part", "x");
  std::string resumable = env.cache_dir / ("tmp/" + std::string(64, 'a') + ".zst.part");
  write_all(resumable, "partial");
  ::symlink("versions/5", (env.cache_dir / "models/classifier/current.new").c_str());

  env.nginx->stop();
  auto f = env.fetcher();
  REQUIRE(f->recover().ok());
  CHECK(!std::filesystem::exists(versions + "/2.partial"));
  CHECK(!std::filesystem::exists(versions + "/5"));
  CHECK(!std::filesystem::exists(env.cache_dir / "tmp/something.dec"));
  CHECK(!std::filesystem::exists(env.cache_dir / "tmp/not-a-hash.part"));
  CHECK(std::filesystem::exists(resumable));
  CHECK(!std::filesystem::is_symlink(env.cache_dir / "models/classifier/current.new"));
  expect_active(env.cache_dir.path(), 1);
  UpdateResult r = f->update("classifier");
  CHECK(r.status == UpdateStatus::kFallback);
  CHECK(r.version == 1);
}

TEST_CASE("open falls back to the previous version when current's files were deleted") {
  Env env;
  env.tree.publish(v1());
  REQUIRE(env.update().status == UpdateStatus::kUpdated);
  env.tree.publish(v2());
  REQUIRE(env.update().status == UpdateStatus::kUpdated);
  std::filesystem::remove(env.cache_dir / "models/classifier/versions/2/model.bin");
  auto opened = env.fetcher()->open("classifier");
  REQUIRE(opened.ok());
  CHECK(opened->version == 1);
}

TEST_CASE("fetcher stops when the app cancels and keeps the old model") {
  Env env;
  env.tree.publish(v1());
  REQUIRE(env.update().status == UpdateStatus::kUpdated);
  env.tree.publish(v2());
  FetcherOptions o = env.options();
  uint64_t calls = 0;
  o.progress = [&](const Progress& p) {
    ++calls;
    CHECK(p.bytes_total > 0);
    return p.bytes_done < 50 * 1024;
  };
  UpdateResult r = env.update(o);
  expect_fallback_from_v1(env, r, "cancelled");
  CHECK(calls > 0);

  // cancel() from another thread.
  auto f = env.fetcher(env.options());
  env.transport->on_blob_bytes(1000, [&] { f->cancel(); });
  r = f->update("classifier");
  CHECK(r.reason == "cancelled");
  env.transport->on_blob_bytes(0, nullptr);
  CHECK(f->update("classifier").status == UpdateStatus::kUpdated);
}

namespace {

// Re-slices every body into chunks of a fixed size, as different networks would.
class RechunkingTransport : public HttpTransport {
 public:
  RechunkingTransport(std::shared_ptr<HttpTransport> inner, size_t chunk) : inner_(std::move(inner)), chunk_(chunk) {}
  Status get(const HttpRequest& request, HttpSink& sink) override {
    struct Sink : HttpSink {
      HttpSink* inner;
      size_t chunk;
      Status on_response(const HttpResponse& r) override { return inner->on_response(r); }
      Status on_data(const char* data, size_t size) override {
        for (size_t off = 0; off < size; off += chunk) MC_RETURN_IF_ERROR(inner->on_data(data + off, std::min(chunk, size - off)));
        return OkStatus();
      }
    } s;
    s.inner = &sink;
    s.chunk = chunk_;
    return inner_->get(request, s);
  }

 private:
  std::shared_ptr<HttpTransport> inner_;
  size_t chunk_;
};

}  // namespace

TEST_CASE("fetcher decodes zstd blobs whatever the chunking and framing of the body") {
  Env env;
  std::string text = env.tree.publish(v1());
  SUBCASE("several concatenated frames, as zstd -d accepts") {
    Manifest m = TreeFixture::manifest_of(text);
    for (auto& f : m.files) {
      if (f.encoding != "zstd") continue;
      std::string frames = zstd_compress(kWeights1.substr(0, 1000)) + zstd_compress(kWeights1.substr(1000, 150000)) +
                           zstd_compress(kWeights1.substr(151000));
      f.stored_size = frames.size();
      write_all(env.tree.blob_path(f), frames);
    }
    env.tree.set_current_manifest(sign_manifest(m, {&env.tree.key()}).value());
    UpdateResult r = env.update();
    CHECK_MESSAGE(r.status == UpdateStatus::kUpdated, r.message);
  }
  for (size_t chunk : {size_t{1}, size_t{7}, size_t{4096}, size_t{(1 << 17) + 1}, size_t{1 << 20}}) {
    CAPTURE(chunk);
    TempDir cache;
    FetcherOptions o = env.options();
    o.cache_dir = cache.path();
    o.transport = std::make_shared<RechunkingTransport>(make_default_transport(), chunk);
    UpdateResult r = env.update(o);
    CHECK_MESSAGE(r.status == UpdateStatus::kUpdated, r.message);
    uint64_t v = 0;
    std::string problem;
    CHECK_MESSAGE(active_version_is_complete(cache.path(), "classifier", &v, &problem), problem);
  }
}

TEST_CASE("fetcher reads a tree from a file:// base URL") {
  Env env;
  env.tree.publish(v1());
  FetcherOptions o = env.options();
  o.base_url = "file://" + env.tree.root();
  o.transport = nullptr;
  UpdateResult r = env.update(o);
  CHECK_MESSAGE(r.status == UpdateStatus::kUpdated, r.message);
  expect_active(env.cache_dir.path(), 1);
  CHECK(env.update(o).status == UpdateStatus::kCurrent);
}

TEST_CASE("fetcher refuses a version whose config does not fit its TFLite model") {
  Env env;
  modelcast_test::FakeModel fake;
  fake.inputs.push_back({"input", tflite::TensorType_FLOAT32, {1, 4}, {}});
  fake.outputs.push_back({"scores", tflite::TensorType_FLOAT32, {1, 2}, {}});
  std::string good = modelcast_test::build_tflite(fake);
  PublishSpec s1 = spec(1, {{"model.tflite", good, true}});
  env.tree.publish(s1);
  UpdateResult r = env.update();
  REQUIRE_MESSAGE(r.status == UpdateStatus::kUpdated, r.message);

  // 3 outputs, 2 labels: the brief's example.
  fake.outputs[0].shape = {1, 3};
  PublishSpec s2 = spec(2, {{"model.tflite", modelcast_test::build_tflite(fake), true}});
  env.tree.publish(s2);
  r = env.update();
  expect_fallback_from_v1(env, r, "config-mismatch");
  CHECK(!std::filesystem::exists(env.cache_dir / "models/classifier/versions/2"));
}

TEST_CASE("modelcast-fetch CLI: update, open and status with --json and exit codes") {
  Env env;
  const std::string cli = MODELCAST_FETCH_CLI;
  auto update = [&](std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {cli,        "update",          "--url",    env.nginx->url(), "--cache",
                                     env.cache_dir.path(), "--model", "classifier", "--platform", "android-arm64",
                                     "--pubkey", env.tree.pubkey_path(), "--json"};
    args.insert(args.end(), extra.begin(), extra.end());
    return run_command(args);
  };
  CommandResult none = update();
  CHECK(none.exit_code == 3);
  Json j = Json::parse(none.out);
  CHECK(j["status"] == "none");
  CHECK(j["reason"] == "not-found");
  CHECK_MESSAGE(j["message"].get<std::string>().find("no such model") != std::string::npos, none.out);
  // A base URL below the tree's root is not a missing model: said so.
  CommandResult not_tree = run_command({cli, "update", "--url", env.nginx->url() + "/models", "--cache", env.cache_dir.path(),
                                        "--model", "classifier", "--platform", "android-arm64", "--pubkey",
                                        env.tree.pubkey_path(), "--json"});
  CHECK(not_tree.exit_code == 3);
  j = Json::parse(not_tree.out);
  CHECK(j["reason"] == "not-found");
  CHECK_MESSAGE(j["message"].get<std::string>().find("no modelcast tree at this URL") != std::string::npos, not_tree.out);

  env.tree.publish(v1());
  CommandResult first = update({"--app-version", "2.1", "--features", "a,b", "--device-id", "d1"});
  REQUIRE_MESSAGE(first.exit_code == 0, first.err);
  j = Json::parse(first.out);
  CHECK(j["status"] == "updated");
  CHECK(j["version"] == 1);
  CHECK(j["path"] == env.cache_dir.path() + "/models/classifier/versions/1");
  CHECK(!j.contains("reason"));

  CommandResult again = update();
  CHECK(Json::parse(again.out)["status"] == "current");

  std::string text = env.tree.publish(v2());
  write_all(env.tree.blob_path(entry_of(text, "model.bin")), "tampered");
  CommandResult fb = update();
  CHECK(fb.exit_code == 0);
  j = Json::parse(fb.out);
  CHECK(j["status"] == "fallback");
  CHECK(j["reason"] == "hash-mismatch");
  CHECK(j["version"] == 1);

  CommandResult open = run_command({cli, "open", "--cache", env.cache_dir.path(), "--model", "classifier", "--json"});
  REQUIRE(open.exit_code == 0);
  j = Json::parse(open.out);
  CHECK(j["version"] == 1);
  CHECK(j["path"] == env.cache_dir.path() + "/models/classifier/versions/1");
  CHECK(j["files"].size() == 2);
  CHECK(j["config"]["outputs"][0]["labels"][1] == "dog");
  CHECK(std::filesystem::exists(env.cache_dir.path() + "/models/classifier/versions/1.manifest.json"));
  CHECK(!std::filesystem::exists(j["path"].get<std::string>() + "/manifest.json"));

  CommandResult status = run_command({cli, "status", "--cache", env.cache_dir.path(), "--model", "classifier", "--json"});
  CHECK(status.exit_code == 0);
  j = Json::parse(status.out);
  CHECK(j["version"] == 1);
  CHECK(j["highest_seen"] == 2);
  CHECK(j["last_reason"] == "hash-mismatch");

  CommandResult missing = run_command({cli, "open", "--cache", env.cache_dir.path(), "--model", "other", "--json"});
  CHECK(missing.exit_code == 3);
  CHECK(missing.err.rfind("error: ", 0) == 0);
  CommandResult usage = run_command({cli, "update", "--cache", env.cache_dir.path()});
  CHECK(usage.exit_code == 2);
  CHECK(usage.err.rfind("error: ", 0) == 0);
  CommandResult bad_key = update({"--pubkey", env.cache_dir / "nope.pub"});
  CHECK(bad_key.exit_code == 1);
  CommandResult help = run_command({cli, "update", "--help"});
  CHECK(help.exit_code == 0);
  CHECK(help.out.find("--pubkey") != std::string::npos);

  // The private key where the public one belongs: said so.
  const std::string private_key = env.cache_dir / "signing.pem";
  write_all(private_key, env.tree.key().to_pem());
  CommandResult private_as_public = update({"--pubkey", private_key});
  CHECK(private_as_public.exit_code == 1);
  CHECK_MESSAGE(private_as_public.err.find("this is a private key; pass " + private_key + ".pub") != std::string::npos,
                private_as_public.err);

  // status on a cache that does not exist, or without the model: an error, not empty fields.
  const std::vector<std::tuple<std::string, std::string, std::string>> absent = {
      {env.cache_dir / "nowhere", "classifier", "no modelcast cache"}, {env.cache_dir.path(), "other", "holds no model other"}};
  for (const auto& [dir, model, says] : absent) {
    CommandResult st = run_command({cli, "status", "--cache", dir, "--model", model, "--json"});
    CHECK(st.exit_code == 3);
    CHECK_MESSAGE(st.err.find(says) != std::string::npos, st.err);
    Json err = Json::parse(st.out, nullptr, false);
    REQUIRE_MESSAGE(!err.is_discarded(), st.out);
    CHECK(err["error"]["kind"] == "no-model");
    CHECK(err["error"]["message"].get<std::string>().find(says) != std::string::npos);
    CHECK_FALSE(err.contains("highest_seen"));
  }
}

TEST_CASE("concurrent modelcast-fetch processes on one cache: one installs, the others see current") {
  Env env;
  env.tree.publish(v1());
  std::vector<CommandResult> results(3);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < results.size(); ++i)
    threads.emplace_back([&, i] {
      results[i] = run_command({MODELCAST_FETCH_CLI, "update", "--url", env.nginx->url(), "--cache", env.cache_dir.path(),
                                "--model", "classifier", "--platform", "android-arm64", "--pubkey", env.tree.pubkey_path(),
                                "--json", "--quiet"});
    });
  for (auto& t : threads) t.join();
  int updated = 0;
  for (const auto& r : results) {
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    Json j = Json::parse(r.out);
    CHECK(j["version"] == 1);
    updated += j["status"] == "updated";
  }
  CHECK(updated == 1);
  expect_active(env.cache_dir.path(), 1);
}

#ifdef MODELCAST_PUBLISHER_CLI
TEST_CASE("fetcher installs and updates a tree written by the modelcast publisher CLI") {
  Env env;
  const std::string pub = MODELCAST_PUBLISHER_CLI;
  TempDir work;
  const std::string tree = env.tree_dir / "published";  // served at <nginx>/published
  CommandResult init = run_command({pub, "init", tree});
  REQUIRE_MESSAGE(init.exit_code == 0, init.err);
  CommandResult keygen = run_command({pub, "keygen", "--out", work / "key"});
  REQUIRE_MESSAGE(keygen.exit_code == 0, keygen.err);

  // The config must fit the model: the publisher checks it, and so does the device.
  ModelConfig config = simple_config();
  std::string model_bytes = random_bytes(200 * 1024, 21);
  modelcast_test::FakeModel fake;
  fake.inputs.push_back({"input", tflite::TensorType_FLOAT32, {1, 4}, {}});
  fake.outputs.push_back({"scores", tflite::TensorType_FLOAT32, {1, 2}, {}});
  fake.description = std::string(4096, 'x');  // a little bulk
  model_bytes = modelcast_test::build_tflite(fake);
  const std::string model_name = "model.tflite";
  write_all(work / "config.json", config_to_json(config).dump());
  write_all(work / model_name, model_bytes);
  write_all(work / "labels.txt", kLabels);
  auto publish = [&](std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {pub, "publish", tree, "--model", "classifier", "--platform", "android-arm64",
                                     "--config", work / "config.json", "--key", work / "key", "--quiet", "--json"};
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back(model_name + "=" + (work / model_name));
    args.push_back("labels.txt=" + (work / "labels.txt"));
    return run_command(args);
  };
  CommandResult p1 = publish();
  REQUIRE_MESSAGE(p1.exit_code == 0, p1.err);

  FetcherOptions o = env.options();
  o.base_url = env.nginx->url() + "/published";
  auto key = PublicKey::from_pem_file(work / "key.pub");
  REQUIRE(key.ok());
  o.trusted_keys = {key.value()};
  UpdateResult r = env.update(o);
  REQUIRE_MESSAGE(r.status == UpdateStatus::kUpdated, (r.reason + ": " + r.message));
  CHECK(r.version == 1);
  auto opened = env.fetcher(o)->open("classifier");
  REQUIRE(opened.ok());
  for (const auto& f : opened->files)
    CHECK(read_all(f.full_path) == (f.path == model_name ? model_bytes : kLabels));

  // Unchanged: one 304.
  env.transport->clear();
  r = env.update(o);
  CHECK(r.status == UpdateStatus::kCurrent);
  CHECK(r.not_modified);
  CHECK(env.transport->blob_bytes() == 0);

  // A new model file, same labels: only the model travels.
  fake.description = std::string(4096, 'y');
  model_bytes = modelcast_test::build_tflite(fake);
  write_all(work / model_name, model_bytes);
  CommandResult p2 = publish();
  REQUIRE_MESSAGE(p2.exit_code == 0, p2.err);
  CHECK(Json::parse(p2.out).dump().find("\"version\":2") != std::string::npos);
  // nginx's ETag is mtime (seconds) + size: a same-size manifest rewritten within the same
  // second would look unchanged. A real publish is a git push later; here, age it.
  touch_later(tree + "/manifests/classifier/stable/android-arm64.json", 5);
  touch_later(tree + "/v2/manifests/classifier/stable/android-arm64.json", 5);
  env.transport->clear();
  r = env.update(o);
  REQUIRE_MESSAGE(r.status == UpdateStatus::kUpdated, r.message);
  CHECK(r.version == 2);
  CHECK(r.files_reused == 1);
  CHECK(r.files_downloaded == 1);
  CHECK(env.transport->blob_bytes() == r.bytes_downloaded);
  expect_active(env.cache_dir.path(), 2);

  // A version this app is too old for: the device keeps v2.
  write_all(work / "labels.txt", "cat\ndog\n\n");
  CommandResult p3 = publish({"--min-app-version", "9.0"});
  REQUIRE_MESSAGE(p3.exit_code == 0, p3.err);
  touch_later(tree + "/manifests/classifier/stable/android-arm64.json", 10);
  touch_later(tree + "/v2/manifests/classifier/stable/android-arm64.json", 10);
  r = env.update(o);
  CHECK(r.status == UpdateStatus::kFallback);
  CHECK(r.reason == "incompatible");
  CHECK(r.version == 2);

  // The CLI agrees.
  CommandResult cli = run_command({MODELCAST_FETCH_CLI, "update", "--url", o.base_url, "--cache", env.cache_dir.path(),
                                   "--model", "classifier", "--platform", "android-arm64", "--pubkey", work / "key.pub",
                                   "--app-version", "9.1", "--json"});
  REQUIRE_MESSAGE(cli.exit_code == 0, cli.err);
  CHECK(Json::parse(cli.out)["status"] == "updated");
  CHECK(Json::parse(cli.out)["version"] == 3);
}
#endif

TEST_CASE("a model file named manifest.json is installed as published and not downloaded again") {
  Env env;
  const std::string publisher_manifest = "{\"a file of the model\": true}\n";
  env.tree.publish(spec(1, {{"model.bin", kWeights1, true}, {"manifest.json", publisher_manifest, false}}));
  UpdateResult r = env.update();
  REQUIRE_MESSAGE(r.status == UpdateStatus::kUpdated, r.message);
  auto opened = env.fetcher()->open("classifier", OpenOptions{true});
  REQUIRE_MESSAGE(opened.ok(), opened.status().message());
  CHECK(opened->version == 1);
  CHECK(read_all(opened->path + "/manifest.json") == publisher_manifest);
  expect_active(env.cache_dir.path(), 1);
  env.transport->clear();
  r = env.update();
  CHECK(r.status == UpdateStatus::kCurrent);
  CHECK(env.transport->blob_bytes() == 0);
}

TEST_CASE("a cache in the older layout (manifest inside the version folder) keeps its model") {
  Env env;
  env.tree.publish(v1());
  REQUIRE(env.update().status == UpdateStatus::kUpdated);
  const std::string versions = env.cache_dir / "models/classifier/versions";
  std::filesystem::rename(versions + "/1.manifest.json", versions + "/1/manifest.json");
  auto opened = env.fetcher()->open("classifier");
  REQUIRE_MESSAGE(opened.ok(), opened.status().message());
  CHECK(opened->version == 1);
  // An update keeps the old-layout version as the previous one; a 304 keeps it current.
  CHECK(env.update().status == UpdateStatus::kCurrent);
  env.tree.publish(v2());
  REQUIRE(env.update().status == UpdateStatus::kUpdated);
  CHECK(std::filesystem::exists(versions + "/1/model.bin"));
  CHECK(std::filesystem::exists(versions + "/2.manifest.json"));
}

TEST_CASE("a 304 does not extend a manifest past its expiry") {
  Env env;
  auto clock = std::make_shared<FixedClock>(static_cast<int64_t>(::time(nullptr)));
  PublishSpec s = v1();
  s.expires_at = clock->now_unix() + 3600;
  env.tree.publish(s);
  FetcherOptions o = env.options();
  o.clock = clock;
  REQUIRE(env.update(o).status == UpdateStatus::kUpdated);
  UpdateResult r = env.update(o);
  REQUIRE(r.not_modified);
  CHECK(r.status == UpdateStatus::kCurrent);
  // Expired: the device asks without If-None-Match (a 304 could only confirm what no
  // longer holds) and refuses the expired manifest it gets.
  clock->now_ = clock->now_unix() + 7200;
  env.transport->clear();
  r = env.update(o);
  CHECK_FALSE(r.not_modified);
  CHECK(r.status == UpdateStatus::kFallback);
  CHECK(r.reason == "expired");
  CHECK(r.version == 1);
  for (const auto& seen : env.transport->seen()) CHECK_MESSAGE(seen.if_none_match.empty(), seen.url);
}

TEST_CASE("in the last tenth of the active manifest's validity the device asks without If-None-Match") {
  Env env;
  const int64_t now = static_cast<int64_t>(::time(nullptr));
  auto clock = std::make_shared<FixedClock>(now);
  PublishSpec s = v1();
  s.published_at = now - 60;
  s.expires_at = now + 9940;  // valid for 10,000 s: the last tenth starts at now + 8940
  env.tree.publish(s);
  FetcherOptions o = env.options();
  o.clock = clock;
  REQUIRE(env.update(o).status == UpdateStatus::kUpdated);
  clock->now_ = now + 8900;
  UpdateResult r = env.update(o);
  CHECK(r.not_modified);  // still early enough for a 304
  // A manifest rewritten so that nginx keeps its ETag (same size, same mtime second) would
  // be hidden by 304s from here on; near the expiry the device looks at the bytes.
  clock->now_ = now + 8950;
  env.transport->clear();
  r = env.update(o);
  CHECK_FALSE(r.not_modified);
  CHECK(r.status == UpdateStatus::kCurrent);
  // This fixture tree is format 1: the format 2 document is a 404, then the format 1 one.
  auto seen = env.transport->seen();
  REQUIRE(seen.size() >= 2);
  CHECK(seen[0].status == 404);
  CHECK(seen[1].status == 200);
  for (const auto& one : seen) CHECK_MESSAGE(one.if_none_match.empty(), one.url);
  // A new version published meanwhile is found the same way.
  PublishSpec next = v2();
  next.published_at = now + 8940;
  next.expires_at = now + 100000;
  env.tree.publish(next);
  r = env.update(o);
  CHECK(r.status == UpdateStatus::kUpdated);
  CHECK(r.version == 2);
}

TEST_CASE("a lost or replaced current link is repaired from the newest complete version, even offline") {
  Env env;
  env.tree.publish(v1());
  REQUIRE(env.update().status == UpdateStatus::kUpdated);
  env.tree.publish(v2());
  REQUIRE(env.update().status == UpdateStatus::kUpdated);
  const std::string model_dir = env.cache_dir / "models/classifier";
  REQUIRE(::unlink((model_dir + "/current").c_str()) == 0);
  env.nginx->stop();
  UpdateResult r = env.update();
  CHECK(r.status == UpdateStatus::kFallback);
  CHECK(r.reason == "network");
  CHECK(r.version == 2);
  CHECK(std::filesystem::exists(model_dir + "/versions/1/model.bin"));
  CHECK(std::filesystem::exists(model_dir + "/versions/2/model.bin"));
  CHECK(std::filesystem::read_symlink(model_dir + "/current") == "versions/2");

  // A folder where the link was: removed, and online updates work again.
  REQUIRE(::unlink((model_dir + "/current").c_str()) == 0);
  write_all(model_dir + "/current/stray.txt", "x");
  std::string err;
  REQUIRE_MESSAGE(env.nginx->start_again(&err), err);
  env.tree.publish(v3());
  r = env.update();
  CHECK_MESSAGE(r.status == UpdateStatus::kUpdated, r.message);
  CHECK(r.version == 3);
  expect_active(env.cache_dir.path(), 3);
}

TEST_CASE("cancel stops an update still waiting for the lock; an update called after cancel runs") {
  Env env;
  env.tree.publish(v1());
  FetcherOptions o = env.options();
  std::mutex mu;
  std::condition_variable cv;
  bool in_progress = false, release = false;
  o.progress = [&](const Progress&) {
    std::unique_lock<std::mutex> l(mu);
    in_progress = true;
    cv.notify_all();
    cv.wait(l, [&] { return release; });
    return true;
  };
  auto f = env.fetcher(o);
  UpdateResult first, second;
  std::thread a([&] { first = f->update("classifier"); });
  {
    std::unique_lock<std::mutex> l(mu);
    cv.wait(l, [&] { return in_progress; });
  }
  std::thread b([&] { second = f->update("classifier"); });  // waits for the first
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  f->cancel();
  {
    std::lock_guard<std::mutex> l(mu);
    release = true;
  }
  cv.notify_all();
  a.join();
  b.join();
  CHECK(first.reason == "cancelled");
  CHECK(second.reason == "cancelled");
  CHECK(second.status == UpdateStatus::kNone);
  UpdateResult third = f->update("classifier");
  CHECK_MESSAGE(third.status == UpdateStatus::kUpdated, third.message);
}

TEST_CASE("update called from inside its own progress callback returns busy instead of deadlocking") {
  Env env;
  env.tree.publish(v1());
  FetcherOptions o = env.options();
  Fetcher* self = nullptr;
  UpdateResult nested;
  bool called = false;
  o.progress = [&](const Progress&) {
    if (!called) {
      called = true;
      nested = self->update("classifier");
    }
    return true;
  };
  auto f = env.fetcher(o);
  self = f.get();
  UpdateResult r = f->update("classifier");
  CHECK(r.status == UpdateStatus::kUpdated);
  REQUIRE(called);
  CHECK(nested.status == UpdateStatus::kNone);
  CHECK(nested.reason == "busy");
  CHECK(nested.message.find("progress callback") != std::string::npos);
}

TEST_CASE("fetcher refuses a cache whose fixed folders are links and never follows links planted inside") {
  Env env;
  TempDir outside;
  write_all(outside / "victim", "not the cache's");
  env.tree.publish(v1());
  REQUIRE(env.update().status == UpdateStatus::kUpdated);

  // tmp/ as a link to a folder outside: refused with reason io, nothing outside removed.
  const std::string tmp = env.cache_dir / "tmp";
  std::filesystem::remove_all(tmp);
  REQUIRE(::symlink(outside.path().c_str(), tmp.c_str()) == 0);
  UpdateResult r = env.update();
  CHECK(r.status == UpdateStatus::kFallback);
  CHECK(r.reason == "io");
  CHECK(r.message.find("tmp") != std::string::npos);
  CHECK(read_all(outside / "victim") == "not the cache's");
  REQUIRE(::unlink(tmp.c_str()) == 0);
  REQUIRE(::mkdir(tmp.c_str(), 0755) == 0);

  // A link as a blob prefix folder and as a resumable partial: removed or skipped, never followed.
  const std::string text = env.tree.publish(v2());
  FileEntry weights = entry_of(text, "model.bin");
  REQUIRE(::symlink(outside.path().c_str(), (env.cache_dir / "blobs/sha256/zz").c_str()) == 0);
  write_all(outside / "appended", "keep");
  REQUIRE(::chmod((outside / "appended").c_str(), 0644) == 0);
  REQUIRE(::symlink((outside / "appended").c_str(), (tmp + "/" + weights.sha256 + ".zst.part").c_str()) == 0);
  r = env.update();
  CHECK_MESSAGE(r.status == UpdateStatus::kUpdated, r.message);
  CHECK(read_all(outside / "victim") == "not the cache's");
  CHECK(read_all(outside / "appended") == "keep");
  struct stat st;
  REQUIRE(::stat((outside / "appended").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0644);
  expect_active(env.cache_dir.path(), 2);
}
