// The Java API end to end: publishes a tree, serves it with the real nginx, and runs
// FetcherTest.java on the host JVM, whose HTTP is java.net.http.HttpClient plugged in
// through the C API's transport callback. Then publishes v2 and runs it again.
#include <doctest/doctest.h>

#include "fetch_test_util.h"
#include "nginx_server.h"

using namespace modelcast;
using namespace modelcast::testing;

namespace {

CommandResult run_java(const std::string& url, const std::string& pubkey, const std::string& work, const std::string& phase) {
  return run_command({MODELCAST_JAVA_EXE, "-Djava.library.path=" MODELCAST_JNI_DIR, "-Xcheck:jni", "-cp",
                      MODELCAST_JAVA_CLASSPATH, "FetcherTest", url, pubkey, work, phase});
}

}  // namespace

TEST_CASE("the Java API installs, checks, defers and cancels through java.net.http against nginx") {
  TempDir tree_dir, work;
  TreeFixture tree(tree_dir.path());
  std::string err;
  auto nginx = NginxServer::start(NginxOptions{tree_dir.path()}, &err);
  REQUIRE_MESSAGE(nginx != nullptr, err);
  PublishSpec v1;
  v1.files = {{"model.bin", random_bytes(200 * 1024, 5), true}, {"labels.txt", "cat\ndog\n", false}};
  v1.config = simple_config();
  tree.publish(v1);

  CommandResult install = run_java(nginx->url(), tree.pubkey_path(), work.path(), "install");
  INFO(install.out, install.err);
  CHECK(install.exit_code == 0);
  CHECK(install.out.find("0 failed") != std::string::npos);

  PublishSpec v2 = v1;
  v2.version = 2;
  v2.files[0].content = random_bytes(200 * 1024, 6);
  tree.publish(v2);
  touch_later(tree.manifest_path(), 5);
  CommandResult update = run_java(nginx->url(), tree.pubkey_path(), work.path(), "v2");
  INFO(update.out, update.err);
  CHECK(update.exit_code == 0);
  CHECK(update.out.find("0 failed") != std::string::npos);
  // Java's HttpClient sent our User-Agent and the conditional header the library asked for.
  auto log = nginx->access_log();
  REQUIRE(!log.empty());
  size_t ours = 0, conditional = 0;
  for (const auto& e : log) {
    ours += e.user_agent.rfind("modelcast-fetch/", 0) == 0;
    conditional += e.if_none_match != "-";
  }
  CHECK(ours == log.size());
  CHECK(conditional >= 1);
}
