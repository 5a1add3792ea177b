// `modelcast report` on the combined-format access log the real nginx wrote while real
// fetchers updated: devices per version by install token, never by anything else.
#include <algorithm>
#include <map>
#include <thread>

#include "fleet_env.h"

using namespace modelcast;
using namespace modelcast::testing;

namespace {
// nginx writes a log line when a request ends; wait until `path` has `lines` lines.
std::string wait_for_lines(const std::string& path, size_t lines) {
  std::string text;
  for (int i = 0; i < 400; ++i) {
    text = read_all(path);
    if (static_cast<size_t>(std::count(text.begin(), text.end(), '\n')) >= lines) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return text;
}
}  // namespace

TEST_CASE("report counts distinct install tokens per version from the nginx combined log") {
  FleetEnv env;
  TempDir a, b, c;
  REQUIRE(env.publish(random_bytes(10000, 1)).exit_code == 0);
  FetcherOptions da = env.device(a.path()), db = env.device(b.path()), dc = env.device(c.path());
  da.install_token = "aaaaaaaa-token";
  db.install_token = new_install_token();
  CHECK(db.install_token.size() == 32);
  REQUIRE(FleetEnv::update(da).version == 1);  // says v0: it had no model when it asked
  REQUIRE(FleetEnv::update(db).version == 1);
  REQUIRE(FleetEnv::update(dc).version == 1);  // no token: counted as requests only
  REQUIRE(env.publish(random_bytes(10000, 2)).exit_code == 0);
  REQUIRE(FleetEnv::update(da).version == 2);  // says v1
  REQUIRE(FleetEnv::update(da).version == 2);  // says v2
  REQUIRE(FleetEnv::update(db).version == 2);  // says v1, installs v2, not seen since
  size_t with_token = 0;
  for (const auto& line : env.nginx->access_log()) {
    if (line.user_agent.find("; install ") == std::string::npos) continue;
    ++with_token;
    CHECK((line.user_agent.find("; install aaaaaaaa-token)") != std::string::npos ||
           line.user_agent.find("; install " + db.install_token + ")") != std::string::npos));
  }
  CHECK(with_token >= 5);

  const std::string log = env.nginx->combined_log_path();
  const std::string text = wait_for_lines(log, env.nginx->access_log().size());
  CHECK(text.find("\"modelcast-fetch/") != std::string::npos);
  CommandResult r = FleetEnv::cli({"report", "--access-log", log, "--json"});
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  Json out = Json::parse(r.out);
  CHECK(out["skipped"] == 0);
  REQUIRE(out["streams"].size() == 1);
  const Json& s = out["streams"][0];
  CHECK(s["model"] == "classifier");
  CHECK(s["platform"] == "android-arm64");
  CHECK(s["devices"] == 2);
  CHECK(s["requests_without_token"].get<int>() >= 1);
  std::map<uint64_t, Json> by_version;
  for (const auto& v : s["versions"]) by_version[v["version"].get<uint64_t>()] = v;
  CHECK(by_version[2]["devices"] == 1);  // a: its latest request ran v2
  CHECK(by_version[1]["devices"] == 1);  // b: its latest request ran v1
  CHECK(by_version[0]["devices"] == 0);
  CHECK(by_version[2]["last_seen"].get<std::string>().size() == 20);

  CommandResult plain = FleetEnv::cli({"report", "--access-log", log});
  REQUIRE(plain.exit_code == 0);
  CHECK(plain.out.find("classifier (android-arm64): 2 devices") != std::string::npos);

  CommandResult missing = FleetEnv::cli({"report", "--access-log", env.work / "nope.log"});
  CHECK(missing.exit_code == 1);
  CHECK(missing.err.find("cannot open the access log") != std::string::npos);
}
