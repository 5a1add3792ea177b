#include "callback_transport.h"

#include <atomic>
#include <cctype>
#include <exception>
#include <string>

namespace modelcast {

namespace {

bool iequals(const char* a, const char* b) {
  for (; *a && *b; ++a, ++b)
    if (std::tolower(static_cast<unsigned char>(*a)) != std::tolower(static_cast<unsigned char>(*b))) return false;
  return *a == *b;
}

// Digits only, no sign, no overflow; false otherwise.
bool parse_u64(const std::string& text, size_t* pos, uint64_t* out) {
  uint64_t v = 0;
  size_t i = *pos, start = i;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
    uint64_t d = static_cast<uint64_t>(text[i] - '0');
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
    ++i;
  }
  if (i == start) return false;
  *pos = i;
  *out = v;
  return true;
}

std::string trimmed(const char* value) {
  std::string v = value ? value : "";
  size_t b = 0, e = v.size();
  while (b < e && (v[b] == ' ' || v[b] == '\t')) ++b;
  while (e > b && (v[e - 1] == ' ' || v[e - 1] == '\t' || v[e - 1] == '\r' || v[e - 1] == '\n')) --e;
  return v.substr(b, e - b);
}

// Everything an app's stack may report, bounded: one header value at most this long.
constexpr size_t kMaxHeaderValue = 8192;

// One exchange: what the app streamed, turned into the HttpSink calls the fetcher expects.
struct Exchange {
  HttpSink* sink = nullptr;
  const std::atomic<bool>* cancelled = nullptr;
  HttpResponse response;
  bool got_status = false;
  bool delivered = false;
  Status failure;  // the first refusal; the callback must return after it

  int refuse(Status s) {
    if (failure.ok()) failure = std::move(s);
    return failure.code() == StatusCode::kCancelled ? MC_ECANCELLED : MC_EVERIFY;
  }
  int check_cancel() { return *cancelled ? refuse(error(StatusCode::kCancelled, "cancelled")) : 0; }
  int deliver() {
    delivered = true;
    Status s = sink->on_response(response);
    return s.ok() ? 0 : refuse(std::move(s));
  }

  int on_status(int status) {
    if (int rc = check_cancel()) return rc;
    if (!failure.ok()) return refuse(failure);
    if (got_status) return refuse(error(StatusCode::kNetwork, "transport callback: status reported twice"));
    if (status < 100 || status > 599)
      return refuse(error(StatusCode::kNetwork, "transport callback: HTTP status " + std::to_string(status) + " is not valid"));
    got_status = true;
    response.status = status;
    return 0;
  }
  int on_header(const char* name, const char* value) {
    if (int rc = check_cancel()) return rc;
    if (!failure.ok()) return refuse(failure);
    if (!got_status || delivered)
      return refuse(error(StatusCode::kNetwork, "transport callback: a header must come after the status and before the body"));
    if (!name) return refuse(error(StatusCode::kNetwork, "transport callback: NULL header name"));
    std::string v = trimmed(value);
    if (v.size() > kMaxHeaderValue) return 0;  // nothing we read is that long: ignore it
    if (iequals(name, "etag")) {
      response.etag = v;
    } else if (iequals(name, "content-length")) {
      size_t pos = 0;
      uint64_t n = 0;
      if (!parse_u64(v, &pos, &n) || pos != v.size() || n > static_cast<uint64_t>(INT64_MAX))
        return refuse(error(StatusCode::kNetwork, "transport callback: Content-Length \"" + v.substr(0, 40) + "\" is not a number"));
      response.content_length = static_cast<int64_t>(n);
    } else if (iequals(name, "content-range")) {
      // "bytes FIRST-LAST/TOTAL" (TOTAL may be "*")
      size_t pos = 6;
      uint64_t first = 0;
      if (v.compare(0, 6, "bytes ") != 0 || !parse_u64(v, &pos, &first))
        return refuse(error(StatusCode::kNetwork, "transport callback: Content-Range \"" + v.substr(0, 40) + "\" is not bytes N-M/T"));
      response.range_start = first;
    } else if (iequals(name, "retry-after")) {
      // Seconds (the HTTP-date form is ignored); backoff.h caps what it honours.
      size_t pos = 0;
      uint64_t n = 0;
      if (parse_u64(v, &pos, &n) && pos == v.size() && n <= 1000000000) response.retry_after_s = static_cast<int64_t>(n);
    }
    return 0;
  }
  int on_body(const void* data, size_t size) {
    if (int rc = check_cancel()) return rc;
    if (!failure.ok()) return refuse(failure);
    if (!got_status) return refuse(error(StatusCode::kNetwork, "transport callback: body before the status"));
    if (!delivered)
      if (int rc = deliver()) return rc;
    if (size == 0) return 0;
    if (!data) return refuse(error(StatusCode::kNetwork, "transport callback: NULL body chunk"));
    Status s = sink->on_data(static_cast<const char*>(data), size);
    return s.ok() ? 0 : refuse(std::move(s));
  }
};

// The sink functions the app calls: C linkage-compatible, never throw.
template <typename F>
int guard(void* ctx, F&& f) {
  auto* ex = static_cast<Exchange*>(ctx);
  if (!ex) return MC_EINVALID;
  try {
    return f(*ex);
  } catch (const std::exception& e) {
    return ex->refuse(error(StatusCode::kNetwork, std::string("transport callback: ") + e.what()));
  } catch (...) {
    return ex->refuse(error(StatusCode::kNetwork, "transport callback: internal error"));
  }
}
int sink_status(void* ctx, int status) {
  return guard(ctx, [&](Exchange& ex) { return ex.on_status(status); });
}
int sink_header(void* ctx, const char* name, const char* value) {
  return guard(ctx, [&](Exchange& ex) { return ex.on_header(name, value); });
}
int sink_body(void* ctx, const void* data, size_t size) {
  return guard(ctx, [&](Exchange& ex) { return ex.on_body(data, size); });
}

class CallbackTransport : public HttpTransport {
 public:
  CallbackTransport(mc_transport_cb callback, void* payload) : callback_(callback), payload_(payload) {}

  Status get(const HttpRequest& request, HttpSink& sink) override {
    if (cancelled_) return error(StatusCode::kCancelled, "cancelled");
    Exchange ex;
    ex.sink = &sink;
    ex.cancelled = &cancelled_;
    mc_http_request req{};
    req.version = MC_HTTP_REQUEST_VERSION;
    req.url = request.url.c_str();
    req.if_none_match = request.if_none_match.empty() ? nullptr : request.if_none_match.c_str();
    req.range_start = request.range_start;
    req.user_agent = request.user_agent.c_str();
    req.connect_timeout_ms = request.connect_timeout_ms;
    req.low_speed_time_ms = request.low_speed_time_ms;
    req.total_timeout_ms = request.total_timeout_ms;
    mc_http_sink s{&ex, &sink_status, &sink_header, &sink_body};
    int rc = callback_(&req, &s, payload_);
    if (!ex.failure.ok()) return ex.failure;  // we refused: whatever the callback returned
    if (cancelled_ || rc == MC_ECANCELLED) return error(StatusCode::kCancelled, "cancelled");
    if (rc != MC_OK)
      return error(StatusCode::kNetwork, request.url + ": the app's transport failed (" + std::to_string(rc) + ")");
    if (!ex.got_status) return error(StatusCode::kNetwork, request.url + ": the app's transport reported no status");
    if (!ex.delivered) {
      Status d = sink.on_response(ex.response);
      if (!d.ok()) return d;
    }
    return OkStatus();
  }
  void cancel() override { cancelled_ = true; }
  void reset_cancel() override { cancelled_ = false; }

 private:
  mc_transport_cb callback_;
  void* payload_;
  std::atomic<bool> cancelled_{false};
};

}  // namespace

std::unique_ptr<HttpTransport> make_callback_transport(mc_transport_cb callback, void* payload) {
  return std::make_unique<CallbackTransport>(callback, payload);
}

}  // namespace modelcast
