// Kills `modelcast-fetch update` with SIGKILL at many instants of an update (manifest
// fetch, downloads, building the folder, the swap, pruning) and checks after each kill that
// `open` returns a complete, verified version: the old one or the new one, never a mix,
// and that the next update recovers without help.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "../support/nginx_server.h"
#include "fetch_test_util.h"

using namespace modelcast;
using namespace modelcast::testing;

namespace {

constexpr int kKills = 30;

PublishSpec version_spec(uint64_t v) {
  PublishSpec s;
  s.version = v;
  s.files.push_back({"labels.txt", "cat\ndog\n", false});  // unchanged: deduplicated
  for (int i = 0; i < 4; ++i)
    s.files.push_back({"part" + std::to_string(i) + ".bin", random_bytes(768 * 1024, static_cast<uint32_t>(v * 10 + i)),
                       i % 2 == 0});
  return s;
}

pid_t spawn(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid == 0) {
    int devnull = ::open("/dev/null", O_WRONLY);
    ::dup2(devnull, 1);
    ::dup2(devnull, 2);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  return pid;
}

}  // namespace

TEST_CASE("a SIGKILL at any instant of an update leaves the old or the new version, complete") {
  TempDir tree_dir, cache_dir;
  TreeFixture tree(tree_dir.path());
  std::string err;
  auto nginx = NginxServer::start(NginxOptions{tree_dir.path()}, &err);
  REQUIRE_MESSAGE(nginx, err);
  const std::string cli = MODELCAST_FETCH_CLI;
  const std::vector<std::string> update = {cli,        "update",         "--url",    nginx->url(), "--cache",
                                           cache_dir.path(), "--model", "classifier", "--platform", "android-arm64",
                                           "--pubkey", tree.pubkey_path(), "--quiet"};

  // v1 installed normally; time a full update of v2 to spread the kills over it.
  tree.publish(version_spec(1));
  REQUIRE(run_command(update).exit_code == 0);
  tree.publish(version_spec(2));
  auto start = std::chrono::steady_clock::now();
  REQUIRE(run_command(update).exit_code == 0);
  auto full = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start).count();
  MESSAGE("an uninterrupted update takes " << full << " us");

  uint64_t active = 2;
  uint64_t next = 3;
  uint64_t published = 2;
  int saw_old = 0, saw_new = 0;
  for (int i = 0; i < kKills; ++i) {
    if (published < next) tree.publish(version_spec(published = next));
    // Spread over [0, 1.2 x full]: some kills land after the end (a finished update).
    auto delay = std::chrono::microseconds(full * 12 * i / (10 * kKills));
    pid_t pid = spawn(update);
    std::this_thread::sleep_for(delay);
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);

    CAPTURE(i);
    CAPTURE(delay.count());
    uint64_t v = 0;
    std::string problem;
    REQUIRE_MESSAGE(active_version_is_complete(cache_dir.path(), "classifier", &v, &problem), problem);
    CommandResult open = run_command({cli, "open", "--cache", cache_dir.path(), "--model", "classifier", "--verify", "--json"});
    REQUIRE(open.exit_code == 0);
    CHECK(Json::parse(open.out)["version"] == v);
    REQUIRE((v == active || v == next));
    (v == next ? saw_new : saw_old)++;
    active = v;
    // Every third kill, let the next update run to the end: it must recover and install.
    if (i % 3 == 2) {
      CommandResult r = run_command(update);
      REQUIRE(r.exit_code == 0);
      REQUIRE(active_version_is_complete(cache_dir.path(), "classifier", &v, &problem));
      CHECK(v == next);
      active = v;
    }
    if (active == next) ++next;
  }
  MESSAGE("kills that left the old version: " << saw_old << ", the new one: " << saw_new);
  CHECK(saw_old > 0);

  CommandResult r = run_command(update);
  CHECK(r.exit_code == 0);
  uint64_t v = 0;
  std::string problem;
  CHECK(active_version_is_complete(cache_dir.path(), "classifier", &v, &problem));
  CHECK(v == published);
  CHECK(std::filesystem::is_empty(cache_dir / "tmp"));
  for (const auto& e : std::filesystem::directory_iterator(cache_dir / "models/classifier/versions"))
    CHECK(e.path().filename().string().find(".partial") == std::string::npos);
}
