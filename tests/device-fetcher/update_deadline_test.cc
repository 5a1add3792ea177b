// The update's deadline (FetcherOptions::update_deadline_ms, deadline_rate_bytes): an
// update holds its locks until it ends, so the default is proportionate to the declared
// bytes at a weak mobile link's rate, not at the stall detector's 1 KiB/s floor (which gave
// a 1.8 MB model half an hour).
#include <doctest/doctest.h>

#include "update_deadline.h"

using namespace modelcast;

TEST_CASE("the default deadline is 60 s plus the declared bytes at 32 KiB/s, at most a day") {
  FetcherOptions o;
  CHECK(o.deadline_rate_bytes == 32 * 1024);
  CHECK(update_deadline_ms(o, 0) == 60000);
  // 1.8 MB: 1,800,000 / 32,768 = 54 whole seconds.
  CHECK(update_deadline_ms(o, 1800000) == 114000);
  CHECK(update_deadline_ms(o, uint64_t{1} << 50) == 24ll * 3600 * 1000);
}

TEST_CASE("the app sets the rate, or the deadline itself") {
  FetcherOptions o;
  o.deadline_rate_bytes = 1024;  // a very slow link: the old behaviour
  CHECK(update_deadline_ms(o, 1800000) == 60000 + 1757 * 1000);
  o.deadline_rate_bytes = 0;  // nonsense is read as 1 byte per second, never a division by zero
  CHECK(update_deadline_ms(o, 100) == 160000);
  o.update_deadline_ms = 1500;
  CHECK(update_deadline_ms(o, 1800000) == 1500);
}
