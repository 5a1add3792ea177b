// `modelcast diff` between real publish commits.
#include <doctest/doctest.h>

#include "publisher_test_util.h"

using namespace modelcast;
using namespace modelcast::test;

TEST_CASE("diff summarises versions, files, labels and requirements between commits") {
  TempDir dir;
  Fixture f = make_fixture(dir);
  write_random(dir / "model.bin", 100000, 31);
  write_text(dir / "extra.txt", "extra\n");
  auto publish = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = {"publish", f.tree, "--model", "sent", "--platform", "android", "--config", f.config,
                                     "--key",   f.key};
    args.insert(args.end(), extra.begin(), extra.end());
    RunResult r = run_cli(args);
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  };
  publish({dir / "model.bin", dir / "extra.txt"});
  write_random(dir / "model.bin", 120000, 32);
  write_text(f.config, config_json({"negative", "neutral", "positive"}));
  publish({"--min-app-version", "2.4", dir / "model.bin"});

  RunResult r = run_cli({"diff", f.tree, "--json"});
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  Json d = parse_stdout_json(r);
  REQUIRE(d["manifests"].size() == 1);
  const Json& m = d["manifests"][0];
  CHECK(m["model"] == "sent");
  CHECK(m["status"] == "changed");
  CHECK(m["version"] == Json::array({1, 2}));
  CHECK(m["files"]["removed"].size() == 1);
  CHECK(m["files"]["removed"][0]["path"] == "extra.txt");
  REQUIRE(m["files"]["changed"].size() == 1);
  CHECK(m["files"]["changed"][0]["path"] == "model.bin");
  CHECK(m["files"]["changed"][0]["size"] == Json::array({100000, 120000}));
  REQUIRE(m["config"]["outputs"]["changed"].size() == 1);
  const Json& labels = m["config"]["outputs"]["changed"][0]["labels"];
  CHECK(labels["added"] == Json::array({"neutral"}));
  CHECK(labels["removed"].empty());
  CHECK(m["config"]["outputs"]["changed"][0]["shape"] == Json::array({Json::array({1, 2}), Json::array({1, 3})}));
  CHECK(m["requires"]["min_app_version"] == Json::array({"", "2.4"}));
  CHECK(d["keys"]["added"].empty());

  RunResult text = run_cli({"diff", f.tree});
  REQUIRE(text.exit_code == 0);
  CHECK(text.out.find("sent (stable/android): version 1 -> 2 [changed]") != std::string::npos);
  CHECK(text.out.find("labels 2 -> 3 (added: neutral)") != std::string::npos);
  CHECK(text.out.find("requires min_app_version: any -> 2.4") != std::string::npos);

  // The first publish, against the tree's init commit: the manifest and the key appear.
  RunResult first = run_cli({"diff", f.tree, "HEAD~2", "HEAD~1", "--json"});
  REQUIRE_MESSAGE(first.exit_code == 0, first.err);
  Json d1 = parse_stdout_json(first);
  REQUIRE(d1["manifests"].size() == 1);
  CHECK(d1["manifests"][0]["status"] == "added");
  CHECK(d1["manifests"][0]["version"] == Json::array({nullptr, 1}));
  CHECK(d1["keys"]["added"] == Json::array({"keys/" + f.key_id + ".pub"}));

  RunResult init_only = run_cli({"diff", f.tree, "HEAD~2"});
  CHECK(init_only.exit_code == 0);

  RunResult bad = run_cli({"diff", f.tree, "no-such-rev"});
  CHECK(bad.exit_code == 1);
  CHECK(bad.err.find("no-such-rev") != std::string::npos);
}
