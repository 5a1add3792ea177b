#include "health_check.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

extern char** environ;

namespace modelcast {

namespace {

// What the child needs, built before fork: only async-signal-safe calls happen after it.
struct Launch {
  std::vector<std::string> env_strings;
  std::vector<char*> env;
  std::vector<std::string> arg_strings;
  std::vector<char*> argv;
};

Launch prepare(const std::string& command, const std::string& dir, uint64_t version) {
  Launch l;
  for (char** e = environ; e && *e; ++e) {
    std::string entry = *e;
    if (entry.rfind("MODELCAST_VERSION_DIR=", 0) == 0 || entry.rfind("MODELCAST_VERSION=", 0) == 0) continue;
    l.env_strings.push_back(entry);
  }
  l.env_strings.push_back("MODELCAST_VERSION_DIR=" + dir);
  l.env_strings.push_back("MODELCAST_VERSION=" + std::to_string(version));
  for (auto& s : l.env_strings) l.env.push_back(s.data());
  l.env.push_back(nullptr);
  l.arg_strings = {"sh", "-c", command, "sh", dir};
  for (auto& s : l.arg_strings) l.argv.push_back(s.data());
  l.argv.push_back(nullptr);
  return l;
}

bool run_command(const std::string& command, int timeout_ms, const std::string& dir, uint64_t version, std::string* why) {
  Launch l = prepare(command, dir, version);
  pid_t pid = ::fork();
  if (pid < 0) {
    *why = std::string("cannot start the health command: ") + std::strerror(errno);
    return false;
  }
  if (pid == 0) {
    ::setpgid(0, 0);    // its own group, so a timeout kills whatever it started too
    ::dup2(2, 1);       // keep the caller's stdout (e.g. --json) clean
    ::execve("/bin/sh", l.argv.data(), l.env.data());
    ::_exit(127);
  }
  ::setpgid(pid, pid);  // also from the parent: no race with the kill below
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  int status = 0;
  for (;;) {
    pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid) break;
    if (done < 0 && errno != EINTR) {
      *why = std::string("waiting for the health command: ") + std::strerror(errno);
      return false;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      ::kill(-pid, SIGKILL);
      ::kill(pid, SIGKILL);
      while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      *why = "health command did not finish within " + std::to_string(timeout_ms) + " ms; killed";
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return true;
  if (WIFEXITED(status)) *why = "health command exited with status " + std::to_string(WEXITSTATUS(status));
  else if (WIFSIGNALED(status)) *why = "health command killed by signal " + std::to_string(WTERMSIG(status));
  else *why = "health command failed";
  return false;
}

}  // namespace

HealthCheck command_health_check(std::string command, int timeout_ms) {
  if (timeout_ms < 1) timeout_ms = 1;
  return [command = std::move(command), timeout_ms](const std::string& dir, uint64_t version, std::string* why) {
    return run_command(command, timeout_ms, dir, version, why);
  };
}

Status check_version_health(const FetcherOptions& options, const std::string& version_dir, uint64_t version) {
  if (!options.health_check) return OkStatus();
  std::string why;
  bool passed = false;
  try {
    passed = options.health_check(version_dir, version, &why);
  } catch (...) {  // an app's callback must not take the fetcher down
    why = "the health check threw an exception";
  }
  if (passed) return OkStatus();
  return error(StatusCode::kHealthCheck, "v" + std::to_string(version) + " failed the app's health check" +
                                             (why.empty() ? std::string() : ": " + why) + "; the previous version stays active");
}

}  // namespace modelcast
