// The one file that includes curl/curl.h.
#include <curl/curl.h>

#include <atomic>
#include <cctype>
#include <mutex>

#include "modelcast/http_transport.h"
#include "transports.h"

namespace modelcast {

namespace {

std::once_flag g_curl_init;

bool header_is(const std::string& line, const char* name) {
  size_t n = std::char_traits<char>::length(name);
  if (line.size() <= n || line[n] != ':') return false;
  for (size_t i = 0; i < n; ++i)
    if (std::tolower(static_cast<unsigned char>(line[i])) != std::tolower(static_cast<unsigned char>(name[i]))) return false;
  return true;
}

std::string header_value(const std::string& line) {
  size_t start = line.find(':') + 1;
  while (start < line.size() && (line[start] == ' ' || line[start] == '\t')) ++start;
  size_t end = line.size();
  while (end > start && (line[end - 1] == '\r' || line[end - 1] == '\n' || line[end - 1] == ' ')) --end;
  return line.substr(start, end - start);
}

class CurlTransport : public HttpTransport {
 public:
  CurlTransport() {
    std::call_once(g_curl_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
    curl_ = curl_easy_init();
  }
  ~CurlTransport() override {
    if (curl_) curl_easy_cleanup(curl_);
  }

  Status get(const HttpRequest& request, HttpSink& sink) override {
    if (!curl_) return error(StatusCode::kNetwork, "libcurl failed to initialise");
    if (cancelled_) return error(StatusCode::kCancelled, "cancelled");
    Exchange ex;
    ex.self = this;
    ex.sink = &sink;
    CURL* c = curl_;
    curl_easy_reset(c);  // keeps the connection cache: the next GET reuses the socket
    curl_easy_setopt(c, CURLOPT_URL, request.url.c_str());
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    // Larger receive chunks: fewer callbacks and syscalls on fast links (default 16 KiB).
    curl_easy_setopt(c, CURLOPT_BUFFERSIZE, 256L * 1024);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(request.connect_timeout_ms));
    if (request.total_timeout_ms > 0) curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(request.total_timeout_ms));
    if (request.low_speed_time_ms > 0) {
      curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, static_cast<long>(request.low_speed_bytes));
      curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, static_cast<long>((request.low_speed_time_ms + 999) / 1000));
    }
    if (!request.user_agent.empty()) curl_easy_setopt(c, CURLOPT_USERAGENT, request.user_agent.c_str());
    // Bodies are hashed as received: no transparent Content-Encoding.
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, nullptr);
    struct curl_slist* headers = nullptr;
    if (!request.if_none_match.empty())
      headers = curl_slist_append(headers, ("If-None-Match: " + request.if_none_match).c_str());
    if (headers) curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    std::string range;
    if (request.range_start > 0) {
      range = std::to_string(request.range_start) + "-";
      curl_easy_setopt(c, CURLOPT_RANGE, range.c_str());
    }
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, &CurlTransport::on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &ex);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &CurlTransport::on_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &ex);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, &CurlTransport::on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &ex);

    CURLcode rc = curl_easy_perform(c);
    if (headers) curl_slist_free_all(headers);

    if (!ex.sink_status.ok()) return ex.sink_status;
    if (rc == CURLE_ABORTED_BY_CALLBACK || cancelled_) return error(StatusCode::kCancelled, "cancelled");
    if (rc != CURLE_OK) {
      std::string what = curl_easy_strerror(rc);
      if (rc == CURLE_PARTIAL_FILE) what = "connection closed before the whole body arrived";
      return error(StatusCode::kNetwork, request.url + ": " + what);
    }
    if (!ex.delivered) {
      Status s = ex.deliver();
      if (!s.ok()) return s;
    }
    return OkStatus();
  }

  void cancel() override { cancelled_ = true; }
  void reset_cancel() override { cancelled_ = false; }

 private:
  struct Exchange {
    CurlTransport* self = nullptr;
    HttpSink* sink = nullptr;
    HttpResponse response;
    bool delivered = false;
    Status sink_status;

    Status deliver() {
      delivered = true;
      long code = 0;
      curl_easy_getinfo(self->curl_, CURLINFO_RESPONSE_CODE, &code);
      response.status = static_cast<int>(code);
      curl_off_t length = -1;
      if (curl_easy_getinfo(self->curl_, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length) == CURLE_OK && length >= 0)
        response.content_length = static_cast<int64_t>(length);
      return sink->on_response(response);
    }
  };

  static size_t on_header(char* data, size_t size, size_t count, void* user) {
    auto* ex = static_cast<Exchange*>(user);
    std::string line(data, size * count);
    if (line.compare(0, 5, "HTTP/") == 0) {
      ex->response = HttpResponse();  // a new header block (after a redirect or 100-continue)
    } else if (header_is(line, "etag")) {
      ex->response.etag = header_value(line);
    } else if (header_is(line, "retry-after")) {
      std::string v = header_value(line);  // seconds; the HTTP-date form is ignored
      if (!v.empty() && v.size() <= 9 && v.find_first_not_of("0123456789") == std::string::npos)
        ex->response.retry_after_s = std::stoll(v);
    } else if (header_is(line, "content-range")) {
      std::string v = header_value(line);  // "bytes 100-999/1000"
      size_t sp = v.find(' ');
      if (sp != std::string::npos) {
        try {
          ex->response.range_start = std::stoull(v.substr(sp + 1));
        } catch (...) {
          ex->response.range_start = 0;
        }
      }
    }
    return size * count;
  }

  static size_t on_write(char* data, size_t size, size_t count, void* user) {
    auto* ex = static_cast<Exchange*>(user);
    size_t n = size * count;
    if (!ex->delivered) {
      ex->sink_status = ex->deliver();
      if (!ex->sink_status.ok()) return 0;  // any count other than n aborts the transfer
    }
    ex->sink_status = ex->sink->on_data(data, n);
    if (!ex->sink_status.ok()) return 0;  // any count other than n aborts the transfer
    return n;
  }

  static int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
    auto* ex = static_cast<Exchange*>(user);
    return ex->self->cancelled_ ? 1 : 0;
  }

  CURL* curl_ = nullptr;
  std::atomic<bool> cancelled_{false};
};

}  // namespace

std::unique_ptr<HttpTransport> make_curl_transport() { return std::make_unique<CurlTransport>(); }

}  // namespace modelcast
