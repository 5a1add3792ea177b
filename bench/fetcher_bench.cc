// In-process benchmarks of the C++ fetcher API, for scripts/bench.
//
//   modelcast_bench_fetcher check N --url BASE --cache DIR --model M --platform P --pubkey KEY.pub
//     One Fetcher, reused: N update() calls against an unchanged manifest (each should be
//     a conditional GET answered 304). Times every call.
//   modelcast_bench_fetcher open N --cache DIR --model M [--url ... --pubkey ...]
//     N Fetcher::open() calls of the cached model (offline). Times every call.
//
// Prints one JSON object on stdout: count, total_s, per_s, median_us, p90_us, p99_us,
// max_us, and for `check` how many calls saw a 304 / were "current".
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "modelcast/fetcher.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Args {
  std::string mode;
  size_t count = 0;
  std::string url, cache, model, platform, channel = "stable", pubkey;
};

int usage() {
  std::fprintf(stderr,
               "usage: modelcast_bench_fetcher check|open N --cache DIR --model M "
               "[--url BASE --platform P --pubkey KEY.pub --channel C]\n");
  return 2;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

void print_stats(const Args& a, const std::vector<double>& us, double total_s, size_t not_modified,
                 size_t current) {
  std::printf(
      "{\"mode\":\"%s\",\"count\":%zu,\"total_s\":%.6f,\"per_s\":%.1f,\"median_us\":%.2f,"
      "\"p90_us\":%.2f,\"p99_us\":%.2f,\"max_us\":%.2f,\"not_modified\":%zu,\"current\":%zu}\n",
      a.mode.c_str(), us.size(), total_s, total_s > 0 ? static_cast<double>(us.size()) / total_s : 0.0,
      percentile(us, 0.5), percentile(us, 0.9), percentile(us, 0.99),
      us.empty() ? 0.0 : *std::max_element(us.begin(), us.end()), not_modified, current);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) return usage();
  Args a;
  a.mode = argv[1];
  a.count = std::strtoull(argv[2], nullptr, 10);
  for (int i = 3; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--url") a.url = v;
    else if (k == "--cache") a.cache = v;
    else if (k == "--model") a.model = v;
    else if (k == "--platform") a.platform = v;
    else if (k == "--channel") a.channel = v;
    else if (k == "--pubkey") a.pubkey = v;
    else return usage();
  }
  if ((a.mode != "check" && a.mode != "open") || a.count == 0 || a.cache.empty() || a.model.empty())
    return usage();

  modelcast::FetcherOptions opt;
  opt.base_url = a.url.empty() ? "file:///nonexistent" : a.url;
  opt.cache_dir = a.cache;
  opt.platform = a.platform.empty() ? "linux-x86_64" : a.platform;
  opt.channel = a.channel;
  if (!a.pubkey.empty()) {
    auto key = modelcast::PublicKey::from_pem_file(a.pubkey);
    if (!key.ok()) {
      std::fprintf(stderr, "error: %s\n", key.status().message().c_str());
      return 1;
    }
    opt.trusted_keys.push_back(*key);
  } else if (a.mode == "check") {
    return usage();
  } else {
    // open() needs no key, but create() insists on one: any key will do offline.
    auto key = modelcast::PrivateKey::generate();
    if (!key.ok()) return 1;
    opt.trusted_keys.push_back(key->public_key());
  }
  auto created = modelcast::Fetcher::create(opt);
  if (!created.ok()) {
    std::fprintf(stderr, "error: %s\n", created.status().message().c_str());
    return 1;
  }
  auto& fetcher = *created.value();

  std::vector<double> us;
  us.reserve(a.count);
  size_t not_modified = 0, current = 0;
  const auto start = Clock::now();
  if (a.mode == "check") {
    for (size_t i = 0; i < a.count; ++i) {
      const auto t0 = Clock::now();
      auto r = fetcher.update(a.model);
      us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
      if (r.not_modified) ++not_modified;
      if (r.status == modelcast::UpdateStatus::kCurrent) ++current;
      if (i == 0 && r.status != modelcast::UpdateStatus::kCurrent)
        std::fprintf(stderr, "warning: first check: %s %s %s\n",
                     modelcast::update_status_name(r.status), r.reason.c_str(), r.message.c_str());
    }
  } else {
    for (size_t i = 0; i < a.count; ++i) {
      const auto t0 = Clock::now();
      auto r = fetcher.open(a.model);
      us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
      if (!r.ok()) {
        std::fprintf(stderr, "error: open: %s\n", r.status().message().c_str());
        return 1;
      }
      ++current;
    }
  }
  const double total = std::chrono::duration<double>(Clock::now() - start).count();
  print_stats(a, us, total, not_modified, current);
  return 0;
}
