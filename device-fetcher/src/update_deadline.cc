#include "update_deadline.h"

#include <algorithm>

namespace modelcast {

int64_t update_deadline_ms(const FetcherOptions& o, uint64_t stored_bytes) {
  if (o.update_deadline_ms > 0) return o.update_deadline_ms;
  const uint64_t rate = static_cast<uint64_t>(std::max<int64_t>(1, o.deadline_rate_bytes));
  const uint64_t cap_ms = 24ull * 3600 * 1000;
  const uint64_t ms = 60000 + std::min(stored_bytes / rate, cap_ms / 1000) * 1000;
  return static_cast<int64_t>(std::min(ms, cap_ms));
}

}  // namespace modelcast
