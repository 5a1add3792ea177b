// The device's side of key rotation (modelcast/key_set.h): which keys it trusts now.
//
// It starts from the keys the app pins (set 0) and follows the tree's key-set statements:
// when keys/keyset.json is newer than what the cache holds, it fetches keys/keyset/<n>.json
// for every statement in between and checks each against the set before it. The newest
// accepted statement is stored in the cache (keyset-state.json), so a replayed older
// statement cannot bring back a revoked key. If the app's pinned keys change (a new app
// release), the stored chain is set aside and the walk starts again from the new pins.
// Callers hold an update's locks. Updates of different models run at the same time, so the
// stored set is re-read and written under its own lock (cache_locks.h). Private to the
// library.
#pragma once

#include "modelcast/fetcher.h"
#include "modelcast/key_set.h"

namespace modelcast {

// At most this many statements are walked in one update (bounds a hostile server).
constexpr uint64_t kMaxKeySetSteps = 256;

// The set stored in the cache for these pins, or the pinned set itself.
KeySet stored_key_set(const FetcherOptions& options);

// Follows the tree's statements from the stored set; persists and returns the newest set.
// A tree without statements (HTTP 404) leaves the stored set as it is.
Result<KeySet> follow_key_set(const FetcherOptions& options, HttpTransport& transport, const HttpRequest& request_template,
                              FileSystem& fs);

}  // namespace modelcast
