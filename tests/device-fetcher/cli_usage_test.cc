// modelcast-fetch's usage contract through the real binary: a mistyped command is named.
#include <doctest/doctest.h>

#include "fetch_test_util.h"
#include "modelcast/canonical_json.h"

using namespace modelcast;
using namespace modelcast::testing;

TEST_CASE("modelcast-fetch names an unknown command and suggests the closest one") {
  CommandResult typo = run_command({MODELCAST_FETCH_CLI, "updat", "--cache", "/tmp/x"});
  CHECK(typo.exit_code == 2);
  CHECK(typo.err.find("error: unknown command 'updat' (did you mean 'update'?)") != std::string::npos);

  CommandResult json = run_command({MODELCAST_FETCH_CLI, "stauts", "--json"});
  CHECK(json.exit_code == 2);
  Json out = Json::parse(json.out);
  CHECK(out["error"]["kind"] == "usage");
  CHECK(out["error"]["message"].get<std::string>().find("did you mean 'status'") != std::string::npos);
}
