#include "publisher_test_util.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <git2.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace modelcast::test {

namespace {

Child spawn_program(const std::string& program, const std::vector<std::string>& args, const std::string& log_prefix) {
  Child c;
  c.out_path = log_prefix + ".out";
  c.err_path = log_prefix + ".err";
  c.pid = ::fork();
  REQUIRE(c.pid >= 0);
  if (c.pid == 0) {
    int out = ::open(c.out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int err = ::open(c.err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (out < 0 || err < 0) ::_exit(126);
    ::dup2(out, STDOUT_FILENO);
    ::dup2(err, STDERR_FILENO);
    std::vector<char*> argv;
    std::string path = program;
    argv.push_back(path.data());
    std::vector<std::string> copy = args;
    for (auto& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(path.c_str(), argv.data());
    ::_exit(127);
  }
  return c;
}

std::string next_log_prefix() {
  static int counter = 0;
  return "/tmp/modelcast-cli-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
}

}  // namespace

Child spawn_cli(const std::vector<std::string>& args, const std::string& log_prefix) {
  return spawn_program(MODELCAST_CLI, args, log_prefix);
}

RunResult wait_cli(const Child& c) {
  RunResult r;
  int status = 0;
  struct rusage usage {};
  pid_t got;
  do got = ::wait4(c.pid, &status, 0, &usage);
  while (got < 0 && errno == EINTR);
  REQUIRE(got == c.pid);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.max_rss_kb = usage.ru_maxrss;
  r.out = read_text(c.out_path);
  r.err = read_text(c.err_path);
  ::unlink(c.out_path.c_str());
  ::unlink(c.err_path.c_str());
  return r;
}

RunResult run_cli(const std::vector<std::string>& args) { return wait_cli(spawn_cli(args, next_log_prefix())); }

RunResult run_shell(const std::string& command) { return wait_cli(spawn_program("/bin/sh", {"-c", command}, next_log_prefix())); }

void sh(const std::string& command) {
  RunResult r = run_shell(command);
  REQUIRE_MESSAGE(r.exit_code == 0, command << "\n" << r.out << r.err);
}

std::string sh_out(const std::string& command) {
  RunResult r = run_shell(command);
  REQUIRE_MESSAGE(r.exit_code == 0, command << "\n" << r.out << r.err);
  while (!r.out.empty() && r.out.back() == '\n') r.out.pop_back();
  return r.out;
}

std::string quote(const std::string& arg) {
  std::string out = "'";
  for (char c : arg) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  REQUIRE(f.good());
  f << text;
}

std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

void write_random(const std::string& path, size_t size, uint32_t seed) {
  std::string data(size, '\0');
  uint64_t x = 0x9E3779B97F4A7C15ull ^ seed;
  for (size_t i = 0; i < size; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    data[i] = static_cast<char>(x >> 24);
  }
  write_text(path, data);
}

void set_file_limit(const std::string& tree, uint64_t bytes) {
  Json settings = Json::parse(read_text(tree + "/modelcast.json"));
  settings["host"] = {{"name", "test"}, {"max_file_bytes", bytes}};
  write_text(tree + "/modelcast.json", settings.dump(2) + "\n");
  // Committed, as a person changing the settings would: modelcast refuses uncommitted edits.
  sh("git -C " + quote(tree) + " -c user.name=t -c user.email=t@example.com commit -q -m 'host limit' -- modelcast.json");
}

std::string format_blob_path(const std::string& sha256, const std::string& suffix) {
  return "blobs/sha256/" + sha256.substr(0, 2) + "/" + sha256 + suffix;
}

std::string format_delta_path(const std::string& from_sha256, const std::string& target_sha256, const std::string& suffix) {
  return "deltas/sha256/" + target_sha256.substr(0, 2) + "/" + from_sha256 + "-" + target_sha256 + suffix;
}

std::string config_json(const std::vector<std::string>& labels) {
  Json l = labels;
  return R"({"inputs": [{"name": "input", "dtype": "float32", "shape": [1, 128]}],
             "outputs": [{"name": "scores", "dtype": "float32", "shape": [1, )" +
         std::to_string(labels.size()) + R"(], "labels": )" + l.dump() + R"(}],
             "features": ["text"], "metadata": {"owner": "nlp-team"}})";
}

Fixture make_fixture(const TempDir& dir) {
  Fixture f;
  f.tree = dir / "tree";
  f.key = dir / "signing.pem";
  f.pub = f.key + ".pub";
  f.config = dir / "config.json";
  RunResult init = run_cli({"init", f.tree, "--base-url", "https://models.example.com/"});
  REQUIRE_MESSAGE(init.exit_code == 0, init.err);
  RunResult keygen = run_cli({"keygen", "--out", f.key});
  REQUIRE_MESSAGE(keygen.exit_code == 0, keygen.err);
  f.key_id = keygen.out.substr(0, 64);
  write_text(f.config, config_json({"negative", "positive"}));
  return f;
}

Json parse_stdout_json(const RunResult& r) {
  auto j = Json::parse(r.out, nullptr, false);
  REQUIRE_MESSAGE(!j.is_discarded(), "stdout is not JSON: " << r.out);
  return j;
}

namespace {

struct Git {
  git_repository* repo = nullptr;
  explicit Git(const std::string& dir) {
    git_libgit2_init();
    REQUIRE(git_repository_open(&repo, dir.c_str()) == 0);
  }
  ~Git() {
    git_repository_free(repo);
    git_libgit2_shutdown();
  }
};

}  // namespace

CommitInfo read_commit(const std::string& repo_dir, const std::string& rev) {
  Git g(repo_dir);
  git_object* obj = nullptr;
  REQUIRE(git_revparse_single(&obj, g.repo, rev.c_str()) == 0);
  git_commit* commit = nullptr;
  REQUIRE(git_commit_lookup(&commit, g.repo, git_object_id(obj)) == 0);
  CommitInfo info;
  char hex[GIT_OID_HEXSZ + 1];
  git_oid_tostr(hex, sizeof hex, git_commit_id(commit));
  info.id = hex;
  info.message = git_commit_message(commit);
  info.parents = git_commit_parentcount(commit);
  git_tree* tree = nullptr;
  git_tree* parent_tree = nullptr;
  REQUIRE(git_commit_tree(&tree, commit) == 0);
  if (info.parents > 0) {
    git_commit* parent = nullptr;
    REQUIRE(git_commit_parent(&parent, commit, 0) == 0);
    REQUIRE(git_commit_tree(&parent_tree, parent) == 0);
    git_commit_free(parent);
  }
  git_diff* diff = nullptr;
  REQUIRE(git_diff_tree_to_tree(&diff, g.repo, parent_tree, tree, nullptr) == 0);
  for (size_t i = 0; i < git_diff_num_deltas(diff); ++i) info.changed_paths.push_back(git_diff_get_delta(diff, i)->new_file.path);
  git_diff_free(diff);
  git_tree_free(parent_tree);
  git_tree_free(tree);
  git_commit_free(commit);
  git_object_free(obj);
  return info;
}

size_t count_commits(const std::string& repo_dir) {
  Git g(repo_dir);
  git_revwalk* walk = nullptr;
  REQUIRE(git_revwalk_new(&walk, g.repo) == 0);
  REQUIRE(git_revwalk_push_head(walk) == 0);
  git_oid oid;
  size_t n = 0;
  while (git_revwalk_next(&oid, walk) == 0) ++n;
  git_revwalk_free(walk);
  return n;
}

size_t dirty_paths(const std::string& repo_dir) {
  Git g(repo_dir);
  git_status_options opts;
  git_status_options_init(&opts, GIT_STATUS_OPTIONS_VERSION);
  opts.flags = GIT_STATUS_OPT_INCLUDE_UNTRACKED | GIT_STATUS_OPT_RECURSE_UNTRACKED_DIRS;
  git_status_list* list = nullptr;
  REQUIRE(git_status_list_new(&list, g.repo, &opts) == 0);
  size_t n = git_status_list_entrycount(list);
  git_status_list_free(list);
  return n;
}

}  // namespace modelcast::test
