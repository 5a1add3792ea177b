// HttpTransport: how the fetcher performs a GET. libcurl by default (http, https, and
// file:// served from the local disk); an app may plug in its own stack (OkHttp through
// JNI, NSURLSession), and tests plug in fault-injecting wrappers.
//
// A transport streams: it reports the status line and headers once, then the body in
// chunks, and stops as soon as the sink returns an error (the fetcher uses that to cut
// off a server that sends more than the manifest declares). It never buffers a whole body.
// The fetcher calls one transport from one thread at a time; implementations need not
// be thread-safe, except cancel(), which may be called from any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "modelcast/status.h"

namespace modelcast {

struct HttpRequest {
  std::string url;
  std::string user_agent;
  std::string if_none_match;  // sent as If-None-Match when not empty
  uint64_t range_start = 0;   // sent as "Range: bytes=N-" when > 0
  int connect_timeout_ms = 10000;
  // Abort when fewer than low_speed_bytes arrive in low_speed_time_ms (stalled server);
  // a whole-request deadline would cut off a big model on a slow but healthy link.
  int low_speed_time_ms = 30000;
  int low_speed_bytes = 1;
  int total_timeout_ms = 0;  // 0: none
};

struct HttpResponse {
  int status = 0;               // 200, 206, 304, 404, ...
  std::string etag;             // as sent, quotes included; empty when absent
  int64_t content_length = -1;  // -1 when unknown
  uint64_t range_start = 0;     // first byte of a 206 body (from Content-Range)
  int64_t retry_after_s = -1;   // Retry-After given in seconds (503, 429); -1 when absent or a date
};

// Receives one response. Returning an error stops the transfer; the transport then
// returns that same Status from get().
class HttpSink {
 public:
  virtual ~HttpSink() = default;
  virtual Status on_response(const HttpResponse& response) = 0;
  virtual Status on_data(const char* data, size_t size) = 0;
};

class HttpTransport {
 public:
  virtual ~HttpTransport() = default;
  // Performs the GET. OK means the exchange completed (whatever the HTTP status: the
  // sink saw it). kNetwork for DNS, connect, TLS, timeouts and bodies cut short by the
  // peer; kCancelled after cancel(); otherwise whatever the sink returned.
  virtual Status get(const HttpRequest& request, HttpSink& sink) = 0;
  // Makes the running and every later get() fail with kCancelled until reset_cancel().
  virtual void cancel() {}
  virtual void reset_cancel() {}
};

// libcurl for http(s)://, plain file reads for file:// (no ETag; Range honoured).
// Keeps one connection alive between requests.
std::unique_ptr<HttpTransport> make_default_transport();

}  // namespace modelcast
