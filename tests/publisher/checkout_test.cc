// Every command on every kind of git checkout CI hands us: a plain repository, a clone
// with a remote, and a linked worktree of a new orphan branch (git 2.39 has no
// `git worktree add --orphan`). Real git repositories, real `git` commands.
#include <doctest/doctest.h>

#include "publisher_test_util.h"

using namespace modelcast;
using namespace modelcast::test;

namespace {

const char* kGitEnv = "GIT_AUTHOR_NAME=ci GIT_AUTHOR_EMAIL=ci@localhost GIT_COMMITTER_NAME=ci GIT_COMMITTER_EMAIL=ci@localhost";

// keygen + config beside a tree that `init` has not made yet.
struct Keys {
  std::string key, config;
  explicit Keys(const TempDir& dir) : key(dir / "signing.pem"), config(dir / "config.json") {
    REQUIRE(run_cli({"keygen", "--out", key}).exit_code == 0);
    write_text(config, config_json({"no", "yes"}));
  }
};

// init, publish twice, verify, diff: every command a CI job runs, on `tree`.
void run_every_command(const TempDir& dir, const Keys& k, const std::string& tree) {
  RunResult init = run_cli({"init", tree, "--base-url", "https://example.com/"});
  REQUIRE_MESSAGE(init.exit_code == 0, init.err);
  for (uint32_t v = 1; v <= 2; ++v) {
    write_random(dir / "m.bin", 3000 + v, v);
    RunResult p = run_cli({"publish", tree, "--model", "m", "--platform", "android", "--config", k.config, "--key", k.key,
                           "--quiet", dir / "m.bin"});
    REQUIRE_MESSAGE(p.exit_code == 0, p.err);
  }
  RunResult v = run_cli({"verify", tree});
  CHECK_MESSAGE(v.exit_code == 0, v.err);
  RunResult d = run_cli({"diff", tree});
  CHECK_MESSAGE(d.exit_code == 0, d.err);
  CHECK(d.out.find("version 1 -> 2") != std::string::npos);
  CHECK(dirty_paths(tree) == 0);
  CHECK(count_commits(tree) == 3);
  // Every object the commits name is in the repository (`git fsck` walks them all).
  sh("git -C " + quote(tree) + " fsck --no-progress --connectivity-only");
}

}  // namespace

TEST_CASE("every command works in a clone with a remote, and the result pushes") {
  TempDir dir;
  Keys k(dir);
  sh("git init -q --bare " + quote(dir / "origin.git"));
  sh("git clone -q " + quote(dir / "origin.git") + " " + quote(dir / "tree") + " 2>/dev/null");
  run_every_command(dir, k, dir / "tree");
  sh(std::string(kGitEnv) + " git -C " + quote(dir / "tree") + " push -q origin HEAD:refs/heads/models");
  CHECK(sh_out("git -C " + quote(dir / "origin.git") + " rev-parse models") == read_commit(dir / "tree", "HEAD").id);
}

TEST_CASE("every command works in a linked worktree of a new orphan branch, made with git 2.39's commands") {
  TempDir dir;
  Keys k(dir);
  const std::string repo = dir / "repo";
  sh("git init -q -b main " + quote(repo) + " && cd " + quote(repo) + " && echo code > README && git add README && " + kGitEnv +
     " git commit -q -m code");
  // What the publish script does: a detached worktree, then an orphan branch in it (which
  // empties the working tree and index of the code branch's files).
  sh("git -C " + quote(repo) + " worktree add -q --detach " + quote(dir / "tree") + " && git -C " + quote(dir / "tree") +
     " switch -q --orphan models");
  run_every_command(dir, k, dir / "tree");
  CHECK(sh_out("git -C " + quote(repo) + " rev-parse models") == read_commit(dir / "tree", "HEAD").id);
  // The code branch did not move and holds none of the tree.
  CHECK(sh_out("git -C " + quote(repo) + " ls-tree --name-only main") == "README");
  CHECK(sh_out("git -C " + quote(dir / "tree") + " ls-files README").empty());
}

TEST_CASE("init refuses a checkout whose branch already has commits, and a folder with files") {
  TempDir dir;
  const std::string repo = dir / "repo";
  sh("git init -q -b main " + quote(repo) + " && cd " + quote(repo) + " && echo code > README && git add README && " + kGitEnv +
     " git commit -q -m code");
  sh("git -C " + quote(repo) + " worktree add -q --detach " + quote(dir / "wt"));
  RunResult r = run_cli({"init", dir / "wt"});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("folder is not empty") != std::string::npos);
  sh("rm " + quote(dir / "wt/README"));
  r = run_cli({"init", dir / "wt"});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("git switch --orphan") != std::string::npos);
  CHECK(count_commits(repo) == 1);
}

TEST_CASE("an empty plain repository made by git init becomes a tree") {
  TempDir dir;
  Keys k(dir);
  sh("git init -q " + quote(dir / "tree"));
  run_every_command(dir, k, dir / "tree");
}
