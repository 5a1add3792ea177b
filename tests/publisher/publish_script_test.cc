// scripts/publish-to-branch, the steps of .github/workflows/publish-pages.yml, replayed
// against a local bare "origin" with git 2.39: the first run (no branch yet), a second run
// from a fresh clone, a refresh run, and a rejected push or failed commit then a retry.
#include <doctest/doctest.h>

#include <unistd.h>

#include "modelcast/fs.h"
#include "publisher_test_util.h"

using namespace modelcast;
using namespace modelcast::test;

namespace {

const std::string kScript = std::string(MODELCAST_SOURCE_DIR) + "/scripts/publish-to-branch";
const char* kGitEnv = "GIT_AUTHOR_NAME=ci GIT_AUTHOR_EMAIL=ci@localhost GIT_COMMITTER_NAME=ci GIT_COMMITTER_EMAIL=ci@localhost";

// A code repository pushed to a bare origin, the key and config a CI job would have.
struct Origin {
  TempDir dir;
  std::string bare = dir / "origin.git";
  std::string key = dir / "signing.pem";
  std::string config = dir / "config.json";
  Origin() {
    sh("git init -q --bare -b main " + quote(bare));
    std::string code = dir / "seed";
    sh("git init -q -b main " + quote(code) + " && cd " + quote(code) + " && echo code > README && git add README && " + kGitEnv +
       " git commit -q -m code && git remote add origin " + quote(bare) + " && git push -q origin main");
    REQUIRE(run_cli({"keygen", "--out", key}).exit_code == 0);
    write_text(config, config_json({"no", "yes"}));
  }
  // A fresh clone, as each CI run starts with.
  std::string clone(const std::string& name) const {
    std::string path = dir / name;
    sh("git clone -q " + quote(bare) + " " + quote(path));
    return path;
  }
  // Runs the script in `checkout` with `args` after the options.
  RunResult run(const std::string& checkout, const std::string& args) const {
    return run_shell("cd " + quote(checkout) + " && " + kGitEnv + " " + quote(kScript) + " --modelcast " + quote(MODELCAST_CLI) +
                     " --base-url https://example.com/ " + args);
  }
  std::string publish_args(const std::string& file, int expires_in = 30) const {
    return "publish --model m --platform android --config " + quote(config) + " --key " + quote(key) + " --quiet --expires-in " +
           std::to_string(expires_in) + " " + quote(file);
  }
  std::string remote_head() const { return sh_out("git -C " + quote(bare) + " rev-parse models"); }
  size_t remote_commits() const { return std::stoul(sh_out("git -C " + quote(bare) + " rev-list --count models")); }
  std::string remote_file(const std::string& path) const {
    return sh_out("git -C " + quote(bare) + " show models:" + path);
  }
};

bool one_error_line(const RunResult& r) {
  return r.err.rfind("error: ", 0) == 0 && r.err.find('\n') == r.err.size() - 1;
}

}  // namespace

TEST_CASE("the publish script's first run makes the models branch, and a second run from a fresh clone adds to it") {
  Origin o;
  std::string first = o.clone("run1");
  write_random(o.dir / "m.bin", 4000, 1);
  RunResult r = o.run(first, o.publish_args(o.dir / "m.bin"));
  REQUIRE_MESSAGE(r.exit_code == 0, r.out << r.err);
  CHECK(r.out.find("pushed origin models") != std::string::npos);
  CHECK(o.remote_commits() == 2);  // init + publish, with no commit of the code branch
  CHECK(o.remote_file("manifests/m/stable/android.json").find("\"version\": 1") != std::string::npos);
  CHECK(sh_out("git -C " + quote(o.bare) + " ls-tree --name-only models README").empty());
  CHECK(sh_out("git -C " + quote(o.bare) + " rev-list --count main") == "1");

  std::string second = o.clone("run2");
  write_random(o.dir / "m.bin", 4000, 2);
  r = o.run(second, o.publish_args(o.dir / "m.bin"));
  REQUIRE_MESSAGE(r.exit_code == 0, r.out << r.err);
  CHECK(r.out.find("version 1 -> 2") != std::string::npos);  // the diff against the remote
  CHECK(o.remote_commits() == 3);
  CHECK(o.remote_file("manifests/m/stable/android.json").find("\"version\": 2") != std::string::npos);
  // The remote's tree verifies as a device would see it.
  std::string check = o.dir / "check";
  sh("git clone -q -b models " + quote(o.bare) + " " + quote(check));
  RunResult v = run_cli({"verify", check});
  CHECK_MESSAGE(v.exit_code == 0, v.err);

  // Nothing new: exit 0, nothing pushed.
  r = o.run(second, o.publish_args(o.dir / "m.bin"));
  CHECK_MESSAGE(r.exit_code == 0, r.err);
  CHECK(r.out.find("nothing to push") != std::string::npos);
  CHECK(o.remote_commits() == 3);
}

TEST_CASE("the publish script's refresh run pushes re-signed manifests") {
  Origin o;
  write_random(o.dir / "m.bin", 4000, 3);
  REQUIRE(o.run(o.clone("run1"), o.publish_args(o.dir / "m.bin", 3)).exit_code == 0);
  std::string blob_before = sh_out("git -C " + quote(o.bare) + " ls-tree -r --name-only models blobs");
  RunResult r = o.run(o.clone("run2"), "refresh --key " + quote(o.key) + " --within 7");
  REQUIRE_MESSAGE(r.exit_code == 0, r.out << r.err);
  CHECK(r.out.find("refreshed m 1 -> 2") != std::string::npos);
  CHECK(o.remote_file("manifests/m/stable/android.json").find("\"version\": 2") != std::string::npos);
  CHECK(sh_out("git -C " + quote(o.bare) + " ls-tree -r --name-only models blobs") == blob_before);
  // A scheduled run with nothing to refresh succeeds quietly.
  r = o.run(o.clone("run3"), "refresh --key " + quote(o.key) + " --within 7");
  CHECK_MESSAGE(r.exit_code == 0, r.err);
  CHECK(r.out.find("nothing to refresh") != std::string::npos);
}

TEST_CASE("a rejected push is one error line with the remote's reason, leaves the remote as it was, and the retry pushes "
          "the same commit") {
  Origin o;
  std::string checkout = o.clone("run1");
  write_random(o.dir / "m.bin", 4000, 4);
  REQUIRE(o.run(checkout, o.publish_args(o.dir / "m.bin")).exit_code == 0);
  const std::string before = o.remote_head();
  // A pre-receive hook that refuses the first push after it is installed.
  std::string marker = o.dir / "rejected-once";
  write_text(o.bare + "/hooks/pre-receive",
             "#!/bin/sh\nif [ ! -e " + quote(marker) + " ]; then touch " + quote(marker) +
                 "; echo 'models/big.bin is 120 MB; this exceeds the limit of 100 MB' >&2; exit 1; fi\nexit 0\n");
  sh("chmod +x " + quote(o.bare + "/hooks/pre-receive"));

  write_random(o.dir / "m.bin", 4000, 5);
  RunResult r = o.run(checkout, o.publish_args(o.dir / "m.bin"));
  CHECK(r.exit_code == 1);
  // One error line, then git's `remote:` lines, which carry the reason.
  const std::string first_line = r.err.substr(0, r.err.find('\n') + 1);
  CHECK_MESSAGE(first_line.rfind("error: push to origin models was rejected", 0) == 0, r.err);
  CHECK_MESSAGE(r.err.find("\nremote: models/big.bin is 120 MB; this exceeds the limit of 100 MB\n") != std::string::npos, r.err);
  for (size_t pos = first_line.size(); pos < r.err.size(); pos = r.err.find('\n', pos) + 1)
    CHECK_MESSAGE(r.err.compare(pos, 8, "remote: ") == 0, r.err);
  CHECK(o.remote_head() == before);
  const std::string local = sh_out("git -C " + quote(checkout + "/models-tree") + " rev-parse HEAD");
  CHECK(local != before);

  RunResult retry = o.run(checkout, o.publish_args(o.dir / "m.bin"));
  REQUIRE_MESSAGE(retry.exit_code == 0, retry.out << retry.err);
  CHECK(retry.out.find("unchanged: m 2") != std::string::npos);
  CHECK(o.remote_head() == local);
}

TEST_CASE("a run whose commit failed is committed and pushed by the retry") {
  Origin o;
  std::string checkout = o.clone("run1");
  write_random(o.dir / "m.bin", 4000, 6);
  REQUIRE(o.run(checkout, o.publish_args(o.dir / "m.bin")).exit_code == 0);
  const std::string before = o.remote_head();
  // git's own lock on the branch, in the repository's common folder: the commit fails
  // after every file of version 2 is written.
  const std::string lock = checkout + "/.git/refs/heads/models.lock";
  write_text(lock, "");
  write_random(o.dir / "m.bin", 4000, 7);
  RunResult r = o.run(checkout, o.publish_args(o.dir / "m.bin"));
  CHECK(r.exit_code == 1);
  CHECK_MESSAGE(one_error_line(r), r.err);
  CHECK(o.remote_head() == before);
  REQUIRE(::unlink(lock.c_str()) == 0);

  RunResult retry = o.run(checkout, o.publish_args(o.dir / "m.bin"));
  REQUIRE_MESSAGE(retry.exit_code == 0, retry.out << retry.err);
  CHECK(retry.out.find("unchanged: m 2") != std::string::npos);
  CHECK(o.remote_head() != before);
  CHECK(o.remote_file("manifests/m/stable/android.json").find("\"version\": 2") != std::string::npos);
  CHECK(dirty_paths(checkout + "/models-tree") == 0);
}

TEST_CASE("the publish script passes names with spaces through: the tree folder, the config, a model file") {
  Origin o;
  std::string checkout = o.clone("run1");
  write_random(o.dir / "my model.bin", 4000, 8);
  write_text(o.dir / "my config.json", read_text(o.config));
  RunResult r = run_shell("cd " + quote(checkout) + " && " + kGitEnv + " " + quote(kScript) + " --modelcast " +
                          quote(MODELCAST_CLI) + " --base-url https://example.com/ --tree 'models tree' publish --model m " +
                          "--platform android --config " + quote(o.dir / "my config.json") + " --key " + quote(o.key) +
                          " --quiet " + quote("model.bin=" + (o.dir / "my model.bin")));
  REQUIRE_MESSAGE(r.exit_code == 0, r.out << r.err);
  CHECK(r.out.find("pushed origin models") != std::string::npos);
  CHECK(o.remote_file("manifests/m/stable/android.json").find("\"path\": \"model.bin\"") != std::string::npos);
  CHECK(path_exists(checkout + "/models tree/manifests/m/stable/android/1.json"));
}

TEST_CASE("scripts/demo refuses a folder it did not make, and removes nothing from it") {
  TempDir dir;
  const std::string demo = std::string(MODELCAST_SOURCE_DIR) + "/scripts/demo";
  const std::string mine = dir / "my work";
  sh("mkdir " + quote(mine) + " && echo keep > " + quote(mine + "/notes.txt"));
  write_text(dir / "a-file", "keep");
  for (const std::string& target : {mine, dir / "a-file"}) {
    RunResult r = run_shell(quote(demo) + " " + quote(target));
    CHECK(r.exit_code == 1);
    CHECK_MESSAGE(one_error_line(r), r.err);
    CHECK(r.err.find("an earlier demo did not make it") != std::string::npos);
  }
  CHECK(read_text(mine + "/notes.txt") == "keep\n");
  CHECK(read_text(dir / "a-file") == "keep");
}
