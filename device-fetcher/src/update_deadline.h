// How long one update may spend downloading (FetcherOptions::update_deadline_ms and
// deadline_rate_bytes). The update holds the cache's lock (shared) and its model's lock
// all that time, so a server trickling bytes must not keep them for half an hour: the
// default deadline is proportionate to what the manifest declares, at a rate a weak
// mobile link still reaches. Private to the library.
#pragma once

#include <cstdint>

#include "modelcast/fetcher.h"

namespace modelcast {

// The app's update_deadline_ms when set; otherwise 60 s plus `stored_bytes` at
// deadline_rate_bytes per second (at least 1), at most a day.
int64_t update_deadline_ms(const FetcherOptions& options, uint64_t stored_bytes);

}  // namespace modelcast
