// Back-off between attempts, so that devices that failed together do not come back
// together: a recovering server sees a spread-out trickle instead of a wall of retries.
//
// Within one update a failed transfer is retried after a wait drawn uniformly from
// [0, min(max, base * 2^n)] before retry n (full jitter), unless the server asked for a
// longer pause (Retry-After) than the policy allows: then the update gives up at once and
// leaves the pause to the app. After an update that failed with `network`, the fetcher
// suggests when the app should check again: the server's Retry-After when it sent one,
// otherwise a wait in [cap/2, cap] with cap = min(max, base * 2^(failures-1)) (equal
// jitter: spread out, yet never "at once").
//
// Thread safety: a Backoff serves one update at a time (the fetcher serialises them);
// RetryAfterRecorder forwards to one transport under the same rule. Private to the library.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <random>

#include "modelcast/http_transport.h"
#include "modelcast/status.h"

namespace modelcast {

// A server's Retry-After is honoured up to a day; a larger value is treated as a day.
constexpr int64_t kMaxRetryAfterSeconds = 24 * 3600;

struct BackoffPolicy {
  int64_t base_ms = 200;   // 0: no wait at all
  int64_t max_ms = 5000;
};

class Backoff {
 public:
  Backoff();  // seeded from std::random_device: devices must not share a sequence
  explicit Backoff(uint64_t seed) : rng_(seed) {}

  // Wait before retry number `attempt` (0-based) within an update.
  int64_t retry_delay_ms(const BackoffPolicy& policy, int attempt);
  // Suggested wait before the app's next check after `failures` (>= 1) network failures
  // in a row; `retry_after_s` is the server's Retry-After (-1 when absent).
  int64_t next_check_ms(const BackoffPolicy& policy, uint64_t failures, int64_t retry_after_s);

 private:
  std::mt19937_64 rng_;
};

// Sleeps `ms`, waking early (and returning false) once `cancelled()` is true.
bool sleep_unless_cancelled(int64_t ms, const std::function<bool()>& cancelled);

// Forwards to a transport and remembers the Retry-After of the latest response.
class RetryAfterRecorder : public HttpTransport {
 public:
  explicit RetryAfterRecorder(std::shared_ptr<HttpTransport> inner) : inner_(std::move(inner)) {}
  Status get(const HttpRequest& request, HttpSink& sink) override;
  void cancel() override { inner_->cancel(); }
  void reset_cancel() override { inner_->reset_cancel(); }

  int64_t last_retry_after_s() const { return last_retry_after_s_; }
  void forget() { last_retry_after_s_ = -1; }

 private:
  std::shared_ptr<HttpTransport> inner_;
  std::atomic<int64_t> last_retry_after_s_{-1};
};

struct RetryParams {
  BackoffPolicy policy;
  int max_retries = 2;
  Backoff* backoff = nullptr;
  std::function<bool()> cancelled;  // may be empty
  const RetryAfterRecorder* recorder = nullptr;  // may be null
  uint64_t* retries = nullptr;  // counts the retries made (may be null)
};

// Decides, after failed attempt number `attempt` (0-based), whether to try again, and
// waits first. False: give up (retries used, cancelled, or the server asked for a pause
// longer than the policy's cap).
bool wait_before_retry(const RetryParams& params, int attempt);

// Runs `attempt` until it succeeds, fails with something other than kNetwork, or
// wait_before_retry() says to give up; returns the last Status.
Status run_with_retries(const RetryParams& params, const std::function<Status()>& attempt);

}  // namespace modelcast
