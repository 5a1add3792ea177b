// Helpers for the publisher tests: temporary folders, running the CLI as a child process
// (exit code, stdout, stderr and peak RSS via wait4), small trees and keys, and reading
// commits back with libgit2.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "temp_dir.h"
#include "modelcast/canonical_json.h"

namespace modelcast::test {

using modelcast::testing::TempDir;

struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
  long max_rss_kb = 0;  // ru_maxrss of the child
};

// Runs `modelcast args...` and waits for it.
RunResult run_cli(const std::vector<std::string>& args);

// Runs `/bin/sh -c command` (git set-ups, scripts) and waits for it.
RunResult run_shell(const std::string& command);
// run_shell that must succeed (the test stops with the output when it does not); sh_out
// returns stdout without its trailing newlines.
void sh(const std::string& command);
std::string sh_out(const std::string& command);
// `arg` quoted for a shell command line.
std::string quote(const std::string& arg);

// Starts `modelcast args...` with stdout/stderr into files beside `log_prefix`.
struct Child {
  pid_t pid = -1;
  std::string out_path, err_path;
};
Child spawn_cli(const std::vector<std::string>& args, const std::string& log_prefix);
RunResult wait_cli(const Child& child);

void write_text(const std::string& path, const std::string& text);
std::string read_text(const std::string& path);
// `size` bytes of a deterministic pseudo-random stream (incompressible).
void write_random(const std::string& path, size_t size, uint32_t seed);

// A tree, a key and a config ready for publishing, in `dir`.
struct Fixture {
  std::string tree, key, pub, config, key_id;
};
Fixture make_fixture(const TempDir& dir);
// Lowers the tree's host file limit to `bytes` (as `init --host` records a real host's),
// so a test needs only small files to get parts.
void set_file_limit(const std::string& tree, uint64_t bytes);

// Tree paths as manifests/FORMAT.md spells them, written out here instead of taken from
// the library, so a test compares the publisher's names with the format's and not with
// themselves. `suffix`: "", ".zst", ".xf" (blobs); ".zstpatch", ".xfd" (deltas).
std::string format_blob_path(const std::string& sha256, const std::string& suffix);
std::string format_delta_path(const std::string& from_sha256, const std::string& target_sha256, const std::string& suffix);

// A valid config with one input and one labelled output.
std::string config_json(const std::vector<std::string>& labels);

Json parse_stdout_json(const RunResult& r);

// Reads the repository with libgit2.
struct CommitInfo {
  std::string id;
  std::string message;
  size_t parents = 0;
  std::vector<std::string> changed_paths;  // against the first parent (or everything)
};
CommitInfo read_commit(const std::string& repo_dir, const std::string& rev);
size_t count_commits(const std::string& repo_dir);
// Number of paths `git status` would show (working tree or index vs HEAD).
size_t dirty_paths(const std::string& repo_dir);

}  // namespace modelcast::test
