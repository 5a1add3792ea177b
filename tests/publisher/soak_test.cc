// A 1 GiB model through `modelcast publish` as a child process, with its peak RSS read by
// wait4: the publisher streams, so memory must stay flat whatever the file size.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <vector>

#include "modelcast/signed_manifest.h"
#include "publisher_test_util.h"

using namespace modelcast;
using namespace modelcast::test;

namespace {

constexpr long kRssLimitKb = 64 * 1024;

// 1 GiB: 1 MiB of noise then 1 MiB of zeros (a hole), repeated with a changing stamp so no
// two noise blocks are equal. zstd halves it; the holes keep the test's own disk use low.
void write_soak_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  REQUIRE(fd >= 0);
  std::vector<char> block(1 << 20);
  uint64_t x = 88172645463325252ull;
  for (auto& c : block) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    c = static_cast<char>(x);
  }
  for (int i = 0; i < 512; ++i) {
    std::snprintf(block.data(), 16, "block%08d", i);
    REQUIRE(::pwrite(fd, block.data(), block.size(), static_cast<off_t>(i) * (2 << 20)) == static_cast<ssize_t>(block.size()));
  }
  REQUIRE(::ftruncate(fd, off_t{1} << 30) == 0);
  ::close(fd);
}

}  // namespace

TEST_CASE("publishing a 1 GiB file keeps the publisher under 64 MiB of RSS") {
  TempDir dir;
  Fixture f = make_fixture(dir);
  write_soak_file(dir / "big.bin");
  auto start = std::chrono::steady_clock::now();
  RunResult r = run_cli({"publish", f.tree, "--model", "big", "--platform", "linux", "--config", f.config, "--key", f.key,
                         "--json", dir / "big.bin"});
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  MESSAGE("publish of 1 GiB: " << seconds << " s, peak RSS " << r.max_rss_kb / 1024 << " MiB");
  CHECK(r.max_rss_kb < kRssLimitKb);
  Json out = parse_stdout_json(r);
  REQUIRE(out["files"].size() == 1);
  CHECK(out["files"][0]["size"] == (uint64_t{1} << 30));
  CHECK(out["files"][0]["encoding"] == "zstd");

  // The git object of the blob is there and the whole tree verifies, also in bounded memory.
  CommitInfo c = read_commit(f.tree, "HEAD");
  CHECK(c.message.rfind("publish big 1 (stable/linux): big.bin 1.1 GB", 0) == 0);
  RunResult v = run_cli({"verify", f.tree});
  CHECK_MESSAGE(v.exit_code == 0, v.err);
  CHECK(v.max_rss_kb < kRssLimitKb);
  MESSAGE("verify: peak RSS " << v.max_rss_kb / 1024 << " MiB");

  // Publishing it again reads it once more but writes nothing.
  RunResult again = run_cli({"publish", f.tree, "--model", "big", "--platform", "linux", "--config", f.config, "--key",
                             f.key, "--json", dir / "big.bin"});
  REQUIRE(again.exit_code == 0);
  CHECK(parse_stdout_json(again)["status"] == "unchanged");
  CHECK(again.max_rss_kb < kRssLimitKb);
}
