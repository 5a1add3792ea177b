// HostileHttpServer: a tiny HTTP/1.1 server on 127.0.0.1 for fetcher tests that need
// answers nginx will not give: invalid UTF-8 or oversized headers, a Content-Length or
// Content-Range that contradicts the body, a body trickled a byte at a time.
//
// One request per connection (it answers with "Connection: close"), one connection at a
// time, on its own thread. The test supplies the whole answer for each request. Bounded:
// every socket wait times out, a trickle stops when the client leaves or the server stops,
// and the server stops itself after `lifetime_ms` whatever happens.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace modelcast::testing {

struct HostileRequest {
  std::string path;     // "/manifests/..."
  std::string headers;  // raw header lines, lowercase names not guaranteed
  std::string header(const std::string& name) const;  // value of the first such header, "" when absent
};

struct HostileAnswer {
  std::string head;  // status line and header lines, each ending in "\r\n" (the blank line is added)
  std::string body;
  // After this many body bytes, send one byte every trickle_interval_ms.
  size_t trickle_after = static_cast<size_t>(-1);
  int trickle_interval_ms = 500;
};

using HostileHandler = std::function<HostileAnswer(const HostileRequest&)>;

class HostileHttpServer {
 public:
  // nullptr and a message when no socket could be bound.
  static std::unique_ptr<HostileHttpServer> start(HostileHandler handler, std::string* error, int lifetime_ms = 60000);
  ~HostileHttpServer();
  HostileHttpServer(const HostileHttpServer&) = delete;
  HostileHttpServer& operator=(const HostileHttpServer&) = delete;

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<std::string> paths_seen();  // request paths, in order
  uint64_t trickled_bytes() const { return trickled_; }  // body bytes sent one at a time so far

  // A plain answer: status, extra header lines ("Name: value\r\n"...) and the body with a
  // matching Content-Length.
  static HostileAnswer answer(int status, const std::string& body, const std::string& extra_headers = "");

 private:
  HostileHttpServer() = default;
  void serve();
  void handle(int fd);

  HostileHandler handler_;
  int listen_fd_ = -1;
  int port_ = 0;
  int lifetime_ms_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> trickled_{0};
  std::mutex mu_;
  std::vector<std::string> paths_;
  std::thread thread_;
};

}  // namespace modelcast::testing
