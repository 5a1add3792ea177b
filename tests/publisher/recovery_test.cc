// Nothing left uncommitted: a publish whose commit failed is committed by the next command
// that takes the tree lock (even one that finds the content unchanged), `verify` reports
// uncommitted files, and a human's uncommitted edits are refused, naming the paths.
#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include "modelcast/fs.h"
#include "publisher_test_util.h"

using namespace modelcast;
using namespace modelcast::test;

namespace {

std::vector<std::string> publish_args(const Fixture& f, const std::string& file) {
  return {"publish", f.tree, "--model", "rec", "--platform", "android", "--config", f.config, "--key", f.key, "--quiet", file};
}

bool contains(const std::vector<std::string>& v, const std::string& s) { return std::find(v.begin(), v.end(), s) != v.end(); }

// git's own lock on the branch: libgit2 cannot move the branch while it exists, so the
// commit fails after every file is written, as a full disk or a killed process would.
struct BranchLock {
  std::string path;
  explicit BranchLock(const Fixture& f) : path(f.tree + "/.git/refs/heads/main.lock") { write_text(path, ""); }
  ~BranchLock() { ::unlink(path.c_str()); }
};

}  // namespace

TEST_CASE("a publish whose commit failed is committed by the retry, which then says unchanged") {
  TempDir dir;
  Fixture f = make_fixture(dir);
  write_random(dir / "m.bin", 5000, 7);
  const size_t commits_before = count_commits(f.tree);
  {
    BranchLock lock(f);
    RunResult failed = run_cli(publish_args(f, dir / "m.bin"));
    CHECK(failed.exit_code == 1);
    CHECK(failed.err.find("error: ") == 0);
    CHECK(count_commits(f.tree) == commits_before);

    // verify names what is not committed.
    RunResult v = run_cli({"verify", f.tree});
    CHECK(v.exit_code == 1);
    CHECK(v.err.find("manifests/rec/stable/android/1.json") != std::string::npos);
    CHECK(v.err.find("not committed") != std::string::npos);
  }
  RunResult retry = run_cli(publish_args(f, dir / "m.bin"));
  REQUIRE_MESSAGE(retry.exit_code == 0, retry.err);
  CHECK(retry.out.find("unchanged: rec 1") == 0);
  CHECK(retry.err.find("left uncommitted") != std::string::npos);
  CHECK(count_commits(f.tree) == commits_before + 1);
  CommitInfo c = read_commit(f.tree, "HEAD");
  CHECK(contains(c.changed_paths, "manifests/rec/stable/android/1.json"));
  CHECK(contains(c.changed_paths, "manifests/rec/stable/android.json"));
  CHECK(contains(c.changed_paths, "keys/" + f.key_id + ".pub"));
  CHECK(contains(c.changed_paths, "index.json"));
  CHECK(dirty_paths(f.tree) == 0);
  RunResult v = run_cli({"verify", f.tree});
  CHECK_MESSAGE(v.exit_code == 0, v.err);
}

TEST_CASE("a human's uncommitted edit to a manifest or a blob is refused by name and left as it is") {
  TempDir dir;
  Fixture f = make_fixture(dir);
  write_random(dir / "m.bin", 5000, 8);
  REQUIRE(run_cli(publish_args(f, dir / "m.bin")).exit_code == 0);
  const std::string head = read_commit(f.tree, "HEAD").id;
  write_random(dir / "m2.bin", 5000, 9);

  SUBCASE("a hand-edited current manifest") {
    const std::string path = f.tree + "/manifests/rec/stable/android.json";
    std::string text = read_text(path);
    text.replace(text.find("\"nlp-team\""), 10, "\"evil-team\"");
    write_text(path, text);
    RunResult r = run_cli(publish_args(f, dir / "m2.bin"));
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("manifests/rec/stable/android.json (modified)") != std::string::npos);
    CHECK(r.err.find('\n') == r.err.size() - 1);  // one line
    CHECK(read_text(path) == text);
  }
  SUBCASE("a deleted blob") {
    RunResult ls = run_shell("cd " + quote(f.tree) + " && git ls-files blobs");
    REQUIRE(!ls.out.empty());
    const std::string blob = ls.out.substr(0, ls.out.find('\n'));
    REQUIRE(::unlink((f.tree + "/" + blob).c_str()) == 0);
    RunResult r = run_cli(publish_args(f, dir / "m2.bin"));
    CHECK(r.exit_code == 1);
    CHECK(r.err.find(blob + " (deleted)") != std::string::npos);
    CHECK(!path_exists(f.tree + "/" + blob));
  }
  SUBCASE("a stray file in manifests/") {
    write_text(f.tree + "/manifests/rec/stable/notes.txt", "hello");
    RunResult r = run_cli(publish_args(f, dir / "m2.bin"));
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("manifests/rec/stable/notes.txt (added)") != std::string::npos);
  }
  CHECK(read_commit(f.tree, "HEAD").id == head);
  CHECK(!path_exists(f.tree + "/manifests/rec/stable/android/2.json"));
}

TEST_CASE("a README a human keeps beside the tree is none of modelcast's business") {
  TempDir dir;
  Fixture f = make_fixture(dir);
  write_text(f.tree + "/README.md", "our models\n");
  write_random(dir / "m.bin", 5000, 10);
  RunResult r = run_cli(publish_args(f, dir / "m.bin"));
  CHECK_MESSAGE(r.exit_code == 0, r.err);
  CHECK(run_cli({"verify", f.tree}).exit_code == 0);
}

namespace {

void append_text(const std::string& path, const std::string& text) { write_text(path, read_text(path) + text); }

// Every way a command could commit what is on disk: a publish, and both steps of `recover`.
void check_refused_everywhere(const Fixture& f, const std::string& file, const std::vector<std::string>& named) {
  const std::string head = read_commit(f.tree, "HEAD").id;
  for (const auto& args : {publish_args(f, file), std::vector<std::string>{"recover", f.tree, "--dry-run"},
                           std::vector<std::string>{"recover", f.tree}}) {
    RunResult r = run_cli(args);
    CHECK_MESSAGE(r.exit_code == 1, args[0] << ": " << r.out << r.err);
    CHECK(r.err.find('\n') == r.err.size() - 1);  // one line
    for (const auto& path : named) CHECK_MESSAGE(r.err.find(path + " (modified)") != std::string::npos, r.err);
  }
  CHECK(read_commit(f.tree, "HEAD").id == head);
}

}  // namespace

TEST_CASE("a hand edit that still verifies is refused, by publish and by `modelcast recover`") {
  TempDir dir;
  Fixture f = make_fixture(dir);
  write_random(dir / "m.bin", 5000, 11);
  REQUIRE(run_cli(publish_args(f, dir / "m.bin")).exit_code == 0);
  const std::string current = f.tree + "/manifests/rec/stable/android.json";
  append_text(current, " \n");  // the signature still holds
  write_random(dir / "m2.bin", 5000, 12);
  check_refused_everywhere(f, dir / "m2.bin", {"manifests/rec/stable/android.json"});
  CHECK(!path_exists(f.tree + "/manifests/rec/stable/android/2.json"));
}

TEST_CASE("a hand rollback of both formats is refused, and so is one the journal names") {
  TempDir dir;
  Fixture f = make_fixture(dir);
  for (uint32_t seed : {13u, 14u}) {
    write_random(dir / "m.bin", 5000, seed);
    REQUIRE(run_cli(publish_args(f, dir / "m.bin")).exit_code == 0);
  }
  const std::vector<std::string> currents = {"manifests/rec/stable/android.json", "v2/manifests/rec/stable/android.json"};
  for (const auto& rel : currents) {
    const std::string base = f.tree + "/" + rel.substr(0, rel.size() - 5);
    write_text(f.tree + "/" + rel, read_text(base + "/1.json"));
  }
  write_random(dir / "m3.bin", 5000, 15);
  SUBCASE("no journal") { check_refused_everywhere(f, dir / "m3.bin", currents); }
  SUBCASE("a journal naming both") {
    // As if an interrupted command had recorded them: a version going down is still refused.
    write_text(f.tree + "/.git/modelcast/journal", currents[0] + "\n" + currents[1] + "\n");
    check_refused_everywhere(f, dir / "m3.bin", currents);
  }
  CHECK(!path_exists(f.tree + "/manifests/rec/stable/android/3.json"));
}
