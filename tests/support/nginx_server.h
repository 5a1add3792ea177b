// NginxServer: a real nginx (Debian's /usr/sbin/nginx) serving a folder on 127.0.0.1 for
// integration tests and benchmarks.
//
// start() writes a config into a fresh temporary prefix (pid file, error and access logs,
// temp paths all inside it), picks a free port, runs nginx in the foreground
// ("daemon off", one worker) as a child process and waits until it accepts connections.
// ETags are on, so conditional GETs answer 304. The destructor stops it (SIGQUIT then
// SIGKILL) and removes the prefix. stop()/start_again() let a test take the server away
// and bring it back on the same port. Not thread-safe; one object per server.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

namespace modelcast::testing {

struct NginxOptions {
  std::string root;                // folder to serve at /
  std::string nginx = "/usr/sbin/nginx";
  int start_timeout_ms = 5000;
};

// One line of the access log: "GET /path HTTP/1.1" status bytes range if-none-match.
struct AccessLogEntry {
  std::string method;
  std::string path;
  int status = 0;
  uint64_t body_bytes = 0;
  std::string range;          // Range header, "-" when absent
  std::string if_none_match;  // "-" when absent
  std::string user_agent;
};

class NginxServer {
 public:
  // nullptr and a message on failure (nginx missing, no port).
  static std::unique_ptr<NginxServer> start(const NginxOptions& options, std::string* error);
  ~NginxServer();
  NginxServer(const NginxServer&) = delete;
  NginxServer& operator=(const NginxServer&) = delete;

  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  bool running() const { return pid_ > 0; }

  void stop();
  bool start_again(std::string* error);

  // Everything logged so far (nginx writes each line when the request ends).
  std::vector<AccessLogEntry> access_log() const;
  // Forget earlier lines: access_log() only returns what comes after.
  void clear_access_log();
  std::string error_log() const;
  // The same requests in nginx's standard "combined" format (what `modelcast report` reads).
  std::string combined_log_path() const;

 private:
  NginxServer() = default;
  bool launch(std::string* error);

  NginxOptions options_;
  std::string prefix_;
  int port_ = 0;
  pid_t pid_ = -1;
  size_t log_offset_ = 0;
};

// True when /usr/sbin/nginx (or `path`) exists and is executable.
bool nginx_available(const std::string& path = "/usr/sbin/nginx");

}  // namespace modelcast::testing
