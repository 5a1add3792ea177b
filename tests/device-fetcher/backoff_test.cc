// The retry policy (device-fetcher/src/backoff.h): waits drawn with full jitter under an
// exponential cap, next-check suggestions that grow and never come "at once", the
// server's Retry-After honoured, and a wait that a cancel cuts short.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <set>
#include <thread>

#include "backoff.h"

using namespace modelcast;

TEST_CASE("retry waits stay within base times two to the n, capped, and are spread out") {
  Backoff b(7);
  BackoffPolicy p{200, 5000};
  for (int attempt = 0; attempt < 10; ++attempt) {
    const int64_t cap = std::min<int64_t>(5000, 200LL << attempt);
    std::set<int64_t> seen;
    int64_t top = 0;
    for (int i = 0; i < 500; ++i) {
      int64_t w = b.retry_delay_ms(p, attempt);
      CHECK(w >= 0);
      CHECK(w <= cap);
      seen.insert(w);
      top = std::max(top, w);
    }
    CHECK(seen.size() > 50);   // jitter: not a handful of values
    CHECK(top > cap * 3 / 4);  // and the range is used up to the cap
  }
  CHECK(b.retry_delay_ms(BackoffPolicy{0, 5000}, 3) == 0);
  CHECK(b.retry_delay_ms(p, 1000) <= 5000);  // no overflow for many failures
}

TEST_CASE("the suggested next check grows with failures in a row, stays in the upper half, and honours Retry-After") {
  Backoff b(11);
  BackoffPolicy p{60000, 3600000};
  for (uint64_t failures = 1; failures < 12; ++failures) {
    const int64_t cap = std::min<int64_t>(3600000, 60000LL << (failures - 1));
    for (int i = 0; i < 100; ++i) {
      int64_t w = b.next_check_ms(p, failures, -1);
      CHECK(w >= cap / 2);
      CHECK(w <= cap);
    }
  }
  CHECK(b.next_check_ms(p, 3, 120) == 120000);
  CHECK(b.next_check_ms(p, 3, 0) == 0);
  CHECK(b.next_check_ms(p, 1, 10 * kMaxRetryAfterSeconds) == kMaxRetryAfterSeconds * 1000);
}

TEST_CASE("a retry is given up when the retries are used or the server asks for a longer pause than the cap") {
  Backoff b(3);
  std::atomic<bool> cancelled{false};
  uint64_t retries = 0;
  RetryParams params{BackoffPolicy{0, 1000}, 2, &b, [&] { return cancelled.load(); }, nullptr, &retries};
  CHECK(wait_before_retry(params, 0));
  CHECK(wait_before_retry(params, 1));
  CHECK_FALSE(wait_before_retry(params, 2));
  CHECK(retries == 2);

  int calls = 0;
  Status s = run_with_retries(params, [&] {
    ++calls;
    return error(StatusCode::kNetwork, "HTTP 503");
  });
  CHECK(s.code() == StatusCode::kNetwork);
  CHECK(calls == 3);
  calls = 0;
  s = run_with_retries(params, [&] {
    ++calls;
    return error(StatusCode::kHashMismatch, "bad bytes");
  });
  CHECK(calls == 1);  // only network failures are retried
}

TEST_CASE("a cancel ends a retry wait at once and the retry loop reports cancelled") {
  Backoff b(5);
  std::atomic<bool> cancelled{false};
  RetryParams params{BackoffPolicy{60000, 60000}, 5, &b, [&] { return cancelled.load(); }, nullptr, nullptr};
  std::thread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    cancelled = true;
  });
  int calls = 0;
  // Attempt 0 waits up to 60 s (almost surely more than 50 ms); the cancel ends it.
  Status s = run_with_retries(params, [&] {
    ++calls;
    return error(StatusCode::kNetwork, "HTTP 503");
  });
  canceller.join();
  CHECK(s.code() == StatusCode::kCancelled);
  CHECK(calls <= 2);
}
