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

#include <functional>
#include <optional>

#include "modelcast/fetcher.h"
#include "modelcast/key_set.h"

namespace modelcast {

// At most this many statements are walked in one update (bounds the work a server can
// ask for); the walk is stored where it stopped, so the next update goes on from there.
constexpr uint64_t kMaxKeySetSteps = 256;

// The set stored in the cache for these pins, or the pinned set itself.
KeySet stored_key_set(const FetcherOptions& options);

// How the walk asks for one statement: the update's retries and wire-byte count.
using KeySetGet = std::function<Status(const HttpRequest& request, HttpSink& sink)>;

// Follows the tree's statements from the stored set; persists and returns the newest set.
// `named` is the statement the manifest says it was signed under (format 2
// `keyset_version`), when it names one:
// - named and not newer than the stored set: no request at all;
// - otherwise keys/keyset.json is read. HTTP 404 means the tree has none (then a named
//   statement is fetched from keys/keyset/<n>.json all the same); any other failure is an
//   error (kNetwork), never a silent skip. The walk goes to the newer of the two.
// A walk longer than kMaxKeySetSteps stores its progress and fails with kNetwork (the next
// update continues); a manifest is never judged by a set older than the one it names.
Result<KeySet> follow_key_set(const FetcherOptions& options, const KeySetGet& get, const HttpRequest& request_template,
                              FileSystem& fs, std::optional<uint64_t> named);

}  // namespace modelcast
