#include "backoff.h"

#include <algorithm>
#include <chrono>
#include <thread>

namespace modelcast {

namespace {

// min(max, base * 2^n) without overflow.
int64_t capped_exponential(const BackoffPolicy& p, uint64_t n) {
  if (p.base_ms <= 0) return 0;
  int64_t cap = std::max(p.base_ms, p.max_ms);
  int64_t v = p.base_ms;
  for (uint64_t i = 0; i < n && v < cap; ++i) v *= 2;
  return std::min(v, cap);
}

// Reports the response's Retry-After to the recorder, then forwards everything.
class RecordingSink : public HttpSink {
 public:
  RecordingSink(HttpSink& inner, std::atomic<int64_t>& retry_after) : inner_(inner), retry_after_(retry_after) {}
  Status on_response(const HttpResponse& r) override {
    retry_after_ = r.retry_after_s < 0 ? -1 : std::min(r.retry_after_s, kMaxRetryAfterSeconds);
    return inner_.on_response(r);
  }
  Status on_data(const char* data, size_t size) override { return inner_.on_data(data, size); }

 private:
  HttpSink& inner_;
  std::atomic<int64_t>& retry_after_;
};

}  // namespace

Backoff::Backoff() : rng_(std::random_device{}()) {}

int64_t Backoff::retry_delay_ms(const BackoffPolicy& policy, int attempt) {
  int64_t cap = capped_exponential(policy, static_cast<uint64_t>(std::max(0, attempt)));
  if (cap <= 0) return 0;
  return std::uniform_int_distribution<int64_t>(0, cap)(rng_);
}

int64_t Backoff::next_check_ms(const BackoffPolicy& policy, uint64_t failures, int64_t retry_after_s) {
  if (retry_after_s >= 0) return std::min(retry_after_s, kMaxRetryAfterSeconds) * 1000;
  int64_t cap = capped_exponential(policy, failures > 0 ? failures - 1 : 0);
  if (cap <= 0) return 0;
  return cap / 2 + std::uniform_int_distribution<int64_t>(0, cap - cap / 2)(rng_);
}

bool sleep_unless_cancelled(int64_t ms, const std::function<bool()>& cancelled) {
  auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (!cancelled || !cancelled()) {
    auto left = until - std::chrono::steady_clock::now();
    if (left <= std::chrono::steady_clock::duration::zero()) return true;
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(left, std::chrono::milliseconds(20)));
  }
  return false;
}

Status RetryAfterRecorder::get(const HttpRequest& request, HttpSink& sink) {
  last_retry_after_s_ = -1;
  RecordingSink recording(sink, last_retry_after_s_);
  return inner_->get(request, recording);
}

bool wait_before_retry(const RetryParams& p, int attempt) {
  if (attempt >= p.max_retries) return false;
  if (p.cancelled && p.cancelled()) return false;
  int64_t wait = p.backoff ? p.backoff->retry_delay_ms(p.policy, attempt) : 0;
  if (p.recorder && p.recorder->last_retry_after_s() >= 0) {
    int64_t asked = p.recorder->last_retry_after_s() * 1000;
    if (asked > std::max(p.policy.max_ms, int64_t{0})) return false;  // the app schedules that pause
    wait = std::max(wait, asked);
  }
  if (wait > 0 && !sleep_unless_cancelled(wait, p.cancelled)) return false;
  if (p.retries) ++*p.retries;
  return true;
}

Status run_with_retries(const RetryParams& params, const std::function<Status()>& attempt) {
  for (int n = 0;; ++n) {
    Status s = attempt();
    if (s.ok() || s.code() != StatusCode::kNetwork) return s;
    if (!wait_before_retry(params, n))
      return params.cancelled && params.cancelled() ? error(StatusCode::kCancelled, "update cancelled") : s;
  }
}

}  // namespace modelcast
