// scripts/review-comment, the step of .github/workflows/review.yml that posts the markdown
// diff on a pull request: the first run adds one comment, later runs update that comment
// in place (found by its marker, past the first page of comments), never a second one.
// GitHub is stood in for by tests/publisher/data/github_comments_api.py on 127.0.0.1.
#include <doctest/doctest.h>

#include "publisher_test_util.h"

using namespace modelcast;
using namespace modelcast::test;

namespace {

const std::string kSource = MODELCAST_SOURCE_DIR;

// Publishes one version of "m" and returns `modelcast diff --format markdown` of it.
std::string publish_and_diff(const Fixture& f, const TempDir& dir, uint32_t seed, const std::string& labels_json) {
  write_text(f.config, labels_json);
  write_random(dir / "m.bin", 2000, seed);
  RunResult p = run_cli({"publish", f.tree, "--model", "m", "--platform", "android", "--config", f.config, "--key", f.key,
                         "--quiet", dir / "m.bin"});
  REQUIRE_MESSAGE(p.exit_code == 0, p.err);
  RunResult d = run_cli({"diff", f.tree, "--format", "markdown"});
  REQUIRE_MESSAGE(d.exit_code == 0, d.err);
  return d.out;
}

}  // namespace

TEST_CASE("the review comment is posted once and then updated in place on every push") {
  TempDir dir;
  Fixture f = make_fixture(dir);
  const std::string first = publish_and_diff(f, dir, 1, config_json({"cat", "dog"}));
  const std::string second = publish_and_diff(f, dir, 2, config_json({"cat", "wolf"}));
  write_text(dir / "first.md", first);
  write_text(dir / "second.md", second);
  CHECK(second.find("label 1: `dog` → `wolf`") != std::string::npos);

  const std::string post = "GITHUB_TOKEN=test-token GITHUB_REPOSITORY=o/r PR_NUMBER=7 GITHUB_API_URL=http://127.0.0.1:$(cat " +
                           quote(dir / "port") + ") " + quote(kSource + "/scripts/review-comment") + " ";
  RunResult r = run_shell("python3 " + quote(kSource + "/tests/publisher/data/github_comments_api.py") + " " + quote(dir / "port") +
                          " " + quote(dir / "state.json") + " & server=$!; trap 'kill $server' EXIT; " +
                          "for i in $(seq 100); do [ -s " + quote(dir / "port") + " ] && break; sleep 0.1; done; " + post +
                          quote(dir / "first.md") + " && " + post + quote(dir / "second.md") + " && " + post +
                          quote(dir / "second.md"));
  REQUIRE_MESSAGE(r.exit_code == 0, r.out << r.err);
  CHECK(r.out == "posted review comment\nupdated review comment 5150\nupdated review comment 5150\n");

  Json state = Json::parse(read_text(dir / "state.json"));
  size_t ours = 0;
  for (const auto& c : state["comments"]) {
    const std::string body = c["body"].get<std::string>();
    if (body.rfind("<!-- modelcast-review -->", 0) != 0) continue;
    ++ours;
    CHECK(body == "<!-- modelcast-review -->\n" + second);
  }
  CHECK(ours == 1);
  size_t posts = 0, patches = 0;
  for (const auto& req : state["requests"]) {
    posts += req.get<std::string>().rfind("POST ", 0) == 0;
    patches += req.get<std::string>().rfind("PATCH ", 0) == 0;
  }
  CHECK(posts == 1);
  CHECK(patches == 2);
}

TEST_CASE("the review comment script fails with one line when GitHub refuses it") {
  TempDir dir;
  write_text(dir / "body.md", "diff\n");
  RunResult r = run_shell("python3 " + quote(kSource + "/tests/publisher/data/github_comments_api.py") + " " + quote(dir / "port") +
                          " " + quote(dir / "state.json") + " & server=$!; trap 'kill $server' EXIT; " +
                          "for i in $(seq 100); do [ -s " + quote(dir / "port") + " ] && break; sleep 0.1; done; " +
                          "GITHUB_TOKEN=wrong GITHUB_REPOSITORY=o/r PR_NUMBER=7 GITHUB_API_URL=http://127.0.0.1:$(cat " +
                          quote(dir / "port") + ") " + quote(kSource + "/scripts/review-comment") + " " + quote(dir / "body.md"));
  CHECK(r.exit_code != 0);
  CHECK(r.err.find("401") != std::string::npos);
}
