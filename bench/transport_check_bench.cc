// One 304 check through the C API's transport callback against the built-in libcurl
// transport, for bench/README.md. Both sides go through mc_fetcher_update on one reused
// handle each; the callback side's "app HTTP stack" is its own libcurl easy handle (kept
// alive between requests, like the built-in one), so the difference is what the callback
// path adds: building mc_http_request, the sink calls and their header parsing.
//
//   modelcast_bench_transport ROUNDS N --url BASE --cache DIR --pubkey KEY.pub
//     (model "classifier", platform "android-arm64"; the cache must hold the active version)
// Rounds alternate the two sides (N checks each) so drift hits both; prints one JSON
// object with each side's median and p99 per check in microseconds.
#include <curl/curl.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "modelcast/modelcast_fetch.h"

namespace {

struct AppHttp {
  CURL* curl = curl_easy_init();
  ~AppHttp() { curl_easy_cleanup(curl); }
};

struct Call {
  const mc_http_sink* sink;
  int rc = 0;
  bool started = false;
  long status = 0;
};

size_t on_header(char* data, size_t size, size_t n, void* user) {
  auto* c = static_cast<Call*>(user);
  std::string line(data, size * n);
  if (line.compare(0, 5, "HTTP/") == 0) {
    c->status = std::strtol(line.c_str() + line.find(' ') + 1, nullptr, 10);
    c->started = false;
    return size * n;
  }
  size_t colon = line.find(':');
  if (colon == std::string::npos) return size * n;
  if (!c->started) {
    c->rc = c->sink->status(c->sink->ctx, static_cast<int>(c->status));
    c->started = true;
  }
  std::string name = line.substr(0, colon), value = line.substr(colon + 1);
  if (c->rc == 0) c->rc = c->sink->header(c->sink->ctx, name.c_str(), value.c_str());
  return c->rc == 0 ? size * n : 0;
}

size_t on_body(char* data, size_t size, size_t n, void* user) {
  auto* c = static_cast<Call*>(user);
  if (!c->started) {
    c->rc = c->sink->status(c->sink->ctx, static_cast<int>(c->status));
    c->started = true;
  }
  if (c->rc == 0) c->rc = c->sink->body(c->sink->ctx, data, size * n);
  return c->rc == 0 ? size * n : 0;
}

int transport(const mc_http_request* req, const mc_http_sink* sink, void* payload) {
  auto* app = static_cast<AppHttp*>(payload);
  CURL* h = app->curl;
  curl_easy_reset(h);
  Call call{sink};
  curl_easy_setopt(h, CURLOPT_URL, req->url);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_USERAGENT, req->user_agent);
  struct curl_slist* headers = nullptr;
  std::string inm;
  if (req->if_none_match) {
    inm = std::string("If-None-Match: ") + req->if_none_match;
    headers = curl_slist_append(headers, inm.c_str());
  }
  std::string range;
  if (req->range_start > 0) {
    range = std::to_string(req->range_start) + "-";
    curl_easy_setopt(h, CURLOPT_RANGE, range.c_str());
  }
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &call);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &call);
  CURLcode rc = curl_easy_perform(h);
  curl_slist_free_all(headers);
  if (call.rc != 0) return call.rc;
  if (rc != CURLE_OK) return MC_ENETWORK;
  if (!call.started) return sink->status(sink->ctx, static_cast<int>(call.status));
  return MC_OK;
}

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5))];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 9) {
    std::fprintf(stderr, "usage: modelcast_bench_transport ROUNDS N --url BASE --cache DIR --pubkey KEY.pub\n");
    return 2;
  }
  int rounds = std::atoi(argv[1]), n = std::atoi(argv[2]);
  std::string url = argv[4], cache = argv[6];
  std::ifstream in(argv[8]);
  std::stringstream pem;
  pem << in.rdbuf();
  std::string pem_text = pem.str();
  const char* pems[1] = {pem_text.c_str()};
  AppHttp app;
  mc_fetcher* sides[2] = {nullptr, nullptr};
  for (int side = 0; side < 2; ++side) {
    mc_fetch_options o = MC_FETCH_OPTIONS_INIT;
    o.base_url = url.c_str();
    o.cache_dir = cache.c_str();
    o.pubkey_pems = pems;
    o.pubkey_count = 1;
    o.platform = "android-arm64";
    if (side == 1) {
      o.transport = transport;
      o.transport_payload = &app;
    }
    char err[256];
    if (mc_fetcher_new(&sides[side], &o, err, sizeof err) != MC_OK) {
      std::fprintf(stderr, "error: %s\n", err);
      return 1;
    }
  }
  std::vector<double> us[2];
  int not_modified[2] = {0, 0};
  for (int r = 0; r < rounds; ++r)
    for (int side = 0; side < 2; ++side)
      for (int i = 0; i < n; ++i) {
        mc_update_result res = MC_UPDATE_RESULT_INIT;
        auto t0 = std::chrono::steady_clock::now();
        mc_fetcher_update(&res, sides[side], "classifier");
        us[side].push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
        not_modified[side] += res.not_modified;
      }
  std::printf("{\"checks_per_side\":%zu,\"libcurl\":{\"median_us\":%.1f,\"p99_us\":%.1f,\"not_modified\":%d},"
              "\"callback\":{\"median_us\":%.1f,\"p99_us\":%.1f,\"not_modified\":%d}}\n",
              us[0].size(), percentile(us[0], 0.5), percentile(us[0], 0.99), not_modified[0], percentile(us[1], 0.5),
              percentile(us[1], 0.99), not_modified[1]);
  for (auto* f : sides) mc_fetcher_free(f);
  return 0;
}
