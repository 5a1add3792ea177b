// FaultProxy: a test-only HTTP/1.1 proxy on 127.0.0.1 that sits in front of a real server
// (the nginx of nginx_server.h) and breaks chosen responses the way networks, CDNs and
// mirrors do: a connection dropped after N bytes, a stall, a 500/503/404, flipped bytes, a
// truncated body, more bytes than declared, another URL's body (an old or another stream's
// manifest), headers that arrive late.
//
// Each request is forwarded as it came (Range and If-None-Match included, so resumes and
// 304s work through it) on a fresh upstream connection; the whole upstream answer is read
// (bounded by max_body_bytes), the fault applied, and the result sent on the client's
// kept-alive connection. Which fault a request gets: the first rule whose URL substring
// matches and whose schedule (skip, times, time window) allows it; otherwise, with
// probability random_rate (seeded, reproducible for a given request order), a fault drawn
// from random_kinds with random parameters; otherwise none.
//
// Bounded: at most max_connections client connections at once (more are closed at
// accept), stalls and delays capped by max_delay_ms and cut short by stop(), and the proxy
// stops by itself after lifetime_ms. Threads: one accepts, one per client connection; every
// public method is thread-safe. The destructor stops and joins everything.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace modelcast::testing {

enum class FaultKind {
  kNone,
  kDropAfter,     // send the headers and `bytes` body bytes (declared length intact), then close
  kStall,         // send the headers and `bytes` body bytes, pause `delay_ms`, then the rest
  kStatus,        // answer `status` (500, 503, 404...) without asking upstream; Retry-After if set
  kFlipBytes,     // flip the low bit of the body byte at `bytes` (modulo the body size)
  kTruncate,      // a clean, shorter answer: Content-Length and body cut to `bytes`
  kMoreThanDeclared,  // declare the real length, then send `bytes` extra bytes after the body
  kLonger,        // declare and send the body plus `bytes` extra bytes
  kSubstitute,    // serve the body and headers of upstream path `substitute_path` instead
  kDelayHeaders,  // wait `delay_ms` before the status line
};
const char* fault_kind_name(FaultKind kind);

struct Fault {
  FaultKind kind = FaultKind::kNone;
  uint64_t bytes = 0;
  int delay_ms = 0;
  int status = 503;
  int retry_after_s = -1;  // kStatus: sent as Retry-After when >= 0
  std::string substitute_path;
};

struct FaultRule {
  std::string url_contains;  // empty: every request
  Fault fault;
  int skip = 0;       // let this many matching requests through first
  int times = -1;     // then apply to this many (-1: no limit)
  int for_ms = -1;    // only within this many ms of add_rule() (-1: no limit)
};

struct FaultProxyOptions {
  int upstream_port = 0;
  double random_rate = 0;  // probability of a random fault for a request no rule matched
  uint32_t seed = 1;
  std::vector<FaultKind> random_kinds;      // empty: every kind except kNone and kSubstitute
  std::vector<std::string> random_substitutes;  // paths kSubstitute picks from (needed for it)
  int random_max_delay_ms = 300;  // random stalls and header delays last up to this
  int max_delay_ms = 10000;       // no stall or delay lasts longer, whatever a rule says
  uint64_t max_body_bytes = 64ull << 20;
  int max_connections = 256;
  int idle_timeout_ms = 10000;   // a client connection idle this long is closed
  int lifetime_ms = 300000;      // the proxy stops by itself after this
};

// One request as the proxy handled it.
struct ProxyRecord {
  int64_t at_ms = 0;  // since start
  std::string path;
  FaultKind fault = FaultKind::kNone;
  int status = 0;      // status sent to the client (0 when the connection was dropped first)
  uint64_t body_bytes = 0;  // body bytes sent to the client
  bool from_rule = false;
};

struct ProxyStats {
  uint64_t requests = 0;
  uint64_t faults = 0;
  uint64_t body_bytes = 0;
  uint64_t upstream_requests = 0;
  uint64_t refused_connections = 0;  // over max_connections
};

class FaultProxy {
 public:
  // nullptr and a message when it cannot listen.
  static std::unique_ptr<FaultProxy> start(const FaultProxyOptions& options, std::string* error);
  ~FaultProxy();
  FaultProxy(const FaultProxy&) = delete;
  FaultProxy& operator=(const FaultProxy&) = delete;

  int port() const;
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port()); }

  void add_rule(const FaultRule& rule);
  void clear_rules();
  void set_random_rate(double rate);

  ProxyStats stats() const;
  // Requests handled so far (at most the last 1,000,000).
  std::vector<ProxyRecord> records() const;
  void clear_records();

  // Closes the listener and every connection, ends stalls at once, joins the threads.
  void stop();

 private:
  FaultProxy();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace modelcast::testing
