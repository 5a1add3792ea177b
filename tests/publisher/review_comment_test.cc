// scripts/review-comment, the step of .github/workflows/review.yml that posts the markdown
// diff on a pull request: the first run adds one comment, later runs update that comment
// in place (found by its marker, past the first page of comments), never a second one.
// GitHub is stood in for by tests/publisher/data/github_comments_api.py on 127.0.0.1.
#include <doctest/doctest.h>

#include <map>

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

// Runs the stand-in API in `dir` and then `commands` (a shell line; $api is its URL).
RunResult with_api(const TempDir& dir, const std::string& commands) {
  return run_shell("python3 " + quote(kSource + "/tests/publisher/data/github_comments_api.py") + " " + quote(dir / "port") + " " +
                   quote(dir / "state.json") + " & server=$!; trap 'kill $server' EXIT; " + "for i in $(seq 100); do [ -s " +
                   quote(dir / "port") + " ] && break; sleep 0.1; done; api=http://127.0.0.1:$(cat " + quote(dir / "port") +
                   "); " + commands);
}

// One run of scripts/review-comment as the user of `token`.
std::string post_as(const std::string& token, const std::string& body_file) {
  return "GITHUB_TOKEN=" + token + " GITHUB_REPOSITORY=o/r PR_NUMBER=7 GITHUB_API_URL=$api " +
         quote(kSource + "/scripts/review-comment") + " " + quote(body_file);
}

}  // namespace

TEST_CASE("the review comment never edits another user's comment that carries its marker: it posts its own") {
  TempDir dir;
  write_text(dir / "stranger.md", "not a review\n");
  write_text(dir / "first.md", "first review\n");
  write_text(dir / "second.md", "second review\n");
  RunResult r = with_api(dir, post_as("stranger-token", dir / "stranger.md") + " && " + post_as("test-token", dir / "first.md") +
                                  " && " + post_as("test-token", dir / "second.md"));
  REQUIRE_MESSAGE(r.exit_code == 0, r.out << r.err);
  CHECK(r.out == "posted review comment\nposted review comment\nupdated review comment 5151\n");
  Json state = Json::parse(read_text(dir / "state.json"));
  std::map<std::string, std::string> marked;  // author -> body of the comment with the marker
  for (const auto& c : state["comments"])
    if (c["body"].get<std::string>().rfind("<!-- modelcast-review -->", 0) == 0)
      marked[c["user"]["login"].get<std::string>()] = c["body"].get<std::string>();
  CHECK(marked.size() == 2);
  CHECK(marked["stranger"] == "<!-- modelcast-review -->\nnot a review\n");
  CHECK(marked["modelcast-bot"] == "<!-- modelcast-review -->\nsecond review\n");
  for (const auto& req : state["requests"]) CHECK(req.get<std::string>() != "PATCH /repos/o/r/issues/comments/5150");
}

TEST_CASE("a review comment over GitHub's limit is cut at the end of a line, never inside a character") {
  TempDir dir;
  std::string body;
  while (body.size() < 200000) body += "- label `été 猫 😀 " + std::to_string(body.size()) + "`\n";
  write_text(dir / "long.md", body);
  RunResult r = with_api(dir, post_as("test-token", dir / "long.md"));
  REQUIRE_MESSAGE(r.exit_code == 0, r.out << r.err);
  Json state = Json::parse(read_text(dir / "state.json"));  // parsing fails on a split character
  const std::string posted = state["comments"].back()["body"].get<std::string>();
  const std::string tail = "\n(cut: the full diff is in the job log)\n";
  REQUIRE(posted.size() > tail.size());
  CHECK(posted.compare(posted.size() - tail.size(), tail.size(), tail) == 0);
  const std::string kept = posted.substr(0, posted.size() - tail.size());
  CHECK(kept.back() == '\n');
  CHECK(body.compare(0, kept.size() - 26, kept.substr(26)) == 0);  // after the marker line, a prefix of the body
}

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
