// The crash walk of an update: the cache lives in memory behind a PowerLossFileSystem; for
// every write, fsync, rename, link and removal of one update (v1 installed, v2 offered),
// the power is cut just before it, everything a disk could lose is dropped, and the device
// restarts. It must then open the old or the new version, complete and verified (never a
// mix, never none), and the next update must install the new one.
#include <doctest/doctest.h>

#include <cstdio>

#include "fetch_test_util.h"
#include "modelcast/mem_file_system.h"
#include "power_loss_file_system.h"

using namespace modelcast;
using namespace modelcast::testing;

namespace {

PublishSpec version_spec(uint64_t v) {
  PublishSpec s;
  s.version = v;
  s.files.push_back({"labels.txt", "cat\ndog\n", false});  // the same in both: linked, not downloaded
  for (int i = 0; i < 3; ++i)
    s.files.push_back({"part" + std::to_string(i) + ".bin", random_bytes(48 * 1024, static_cast<uint32_t>(v * 10 + i)),
                       i % 2 == 0});
  return s;
}

// Every file under `dir` in the cache, recursively, except the version's manifest.
size_t count_files(FileSystem& fs, const std::string& dir) {
  size_t n = 0;
  auto names = fs.list_dir(dir);
  if (!names.ok()) return 0;
  for (const auto& name : *names) {
    auto info = fs.lstat(dir + "/" + name);
    if (!info.ok()) continue;
    if (info->type == FileType::kDirectory) n += count_files(fs, dir + "/" + name);
    else if (name != "manifest.json") ++n;
  }
  return n;
}

struct Device {
  std::shared_ptr<MemFileSystem> disk = std::make_shared<MemFileSystem>();
  std::shared_ptr<PowerLossFileSystem> fs = std::make_shared<PowerLossFileSystem>(disk, "/trash");

  std::unique_ptr<Fetcher> fetcher(const std::string& tree, const PrivateKey& key) const {
    FetcherOptions o;
    o.base_url = "file://" + tree;
    o.cache_dir = "/cache";
    o.platform = "android-arm64";
    o.trusted_keys = {key.public_key()};
    o.file_system = fs;
    auto f = Fetcher::create(std::move(o));
    REQUIRE_MESSAGE(f.ok(), f.status().message());
    return std::move(f).value();
  }
};

// The active version, verified file by file, with exactly the manifest's files.
uint64_t open_verified(const Device& d, const std::string& tree, const PrivateKey& key) {
  OpenOptions verify;
  verify.verify_hashes = true;
  auto opened = d.fetcher(tree, key)->open("classifier", verify);
  REQUIRE_MESSAGE(opened.ok(), opened.status().message());
  CHECK(count_files(*d.disk, opened->path) == opened->files.size());
  return opened->version;
}

}  // namespace

TEST_CASE("a power cut at any write, fsync or rename of an update leaves the old or the new version, complete") {
  // Tree v1 offers version 1; tree v2 offers version 2 (same key): the device installs
  // from the first, then updates from the second.
  TempDir dir_v1, dir_v2;
  TreeFixture tree_v1(dir_v1.path()), tree_v2(dir_v2.path());
  const PrivateKey& key = tree_v1.key();
  tree_v1.publish(version_spec(1));
  tree_v2.publish(version_spec(1), {&key});
  tree_v2.publish(version_spec(2), {&key});

  int64_t points = 0, kept_old = 0, got_new = 0;
  for (int64_t n = 0;; ++n) {
    CAPTURE(n);
    Device d;
    REQUIRE(d.fetcher(dir_v1.path(), key)->update("classifier").status == UpdateStatus::kUpdated);
    auto updater = d.fetcher(dir_v2.path(), key);
    d.fs->crash_before(n);
    UpdateResult r = updater->update("classifier");
    updater.reset();
    if (!d.fs->crashed()) {  // the update ran to its end before point n: every point walked
      CHECK(r.status == UpdateStatus::kUpdated);
      points = n;
      break;
    }
    REQUIRE(d.fs->power_loss().ok());

    uint64_t v = open_verified(d, dir_v2.path(), key);
    REQUIRE((v == 1 || v == 2));
    (v == 1 ? kept_old : got_new)++;
    UpdateResult again = d.fetcher(dir_v2.path(), key)->update("classifier");
    CHECK_MESSAGE((again.status == UpdateStatus::kUpdated || again.status == UpdateStatus::kCurrent), again.message);
    CHECK(open_verified(d, dir_v2.path(), key) == 2);
  }
  MESSAGE("update crash walk: " << points << " crash points walked; after the power cut " << kept_old
                                << " left v1, " << got_new << " left v2");
  std::printf("update crash walk: %lld crash points walked (%lld left v1, %lld left v2)\n", static_cast<long long>(points),
              static_cast<long long>(kept_old), static_cast<long long>(got_new));
  CHECK(points > 20);
  CHECK(kept_old > 0);
  CHECK(got_new > 0);
}
