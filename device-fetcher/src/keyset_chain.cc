#include "keyset_chain.h"

#include <algorithm>

#include "modelcast/fs.h"
#include "modelcast/sha256.h"

namespace modelcast {

namespace {

constexpr const char* kStateFile = "keyset-state.json";
constexpr const char* kStateLockFile = "key-set.lock";  // cache_locks.h

// One small document in memory; 404 is reported to the caller, not as an error.
class StatementSink : public HttpSink {
 public:
  explicit StatementSink(std::string url) : url(std::move(url)) {}
  Status on_response(const HttpResponse& r) override {
    status = r.status;
    body.clear();  // a retry starts again
    if (r.status == 404) return OkStatus();
    if (r.status != 200) return error(StatusCode::kNetwork, url + ": HTTP " + std::to_string(r.status));
    return OkStatus();
  }
  Status on_data(const char* data, size_t size) override {
    if (status == 404) return OkStatus();
    if (body.size() + size > kMaxKeySetBytes)
      return error(StatusCode::kCorruption, url + ": key set larger than " + std::to_string(kMaxKeySetBytes) + " bytes");
    body.append(data, size);
    return OkStatus();
  }
  std::string url;
  int status = 0;
  std::string body;
};

// Identifies the pins a stored chain grew from.
std::string anchor_of(const FetcherOptions& o) {
  std::vector<std::string> ids;
  for (const auto& k : o.trusted_keys) ids.push_back(k.key_id());
  std::sort(ids.begin(), ids.end());
  std::string text = "threshold " + std::to_string(o.threshold);
  for (const auto& id : ids) text += "\n" + id;
  return sha256_hex(text);
}

KeySet pinned_set(const FetcherOptions& o) {
  KeySet set;
  set.keys = o.trusted_keys;
  set.threshold = o.threshold == 0 ? 1 : o.threshold;
  return set;
}

// Fetches one statement; `*found` false on 404 (the result is then kNotFound). Any other
// failure (a refused connection, a 5xx, a timeout) is an error with *found true.
Result<KeySetStatement> fetch_statement(const KeySetGet& get, const HttpRequest& base, const std::string& url, bool* found) {
  StatementSink sink(url);
  HttpRequest req = base;
  req.url = url;
  *found = true;
  Status s = get(req, sink);
  if (sink.status == 404) {
    *found = false;
    return error(StatusCode::kNotFound, url + ": HTTP 404");
  }
  if (!s.ok()) return s.with_context("key set");
  auto statement = parse_key_set_statement(sink.body);
  if (!statement.ok()) return statement.status().with_context(url);
  return statement;
}

// Stores `statement` as the cache's key set unless an update of another model stored a
// newer one meanwhile; returns the set now stored.
Result<KeySet> store_statement(const FetcherOptions& o, FileSystem& fs, const KeySetStatement& statement) {
  MC_ASSIGN_OR_RETURN(FileLock held, fs.lock(o.cache_dir + "/" + kStateLockFile, true));
  KeySet stored_now = stored_key_set(o);
  if (stored_now.version >= statement.set.version) return stored_now;
  Json sigs = Json::array();
  for (const auto& s : statement.signatures) sigs.push_back({{"keyid", s.keyid}, {"sig", s.sig}});
  Json text = {{"signed", statement.signed_json}, {"signatures", sigs}};
  Json state = {{"anchor", anchor_of(o)}, {"statement", text.dump()}};
  MC_RETURN_IF_ERROR(fs.write_file_atomic(o.cache_dir + "/" + kStateFile, pretty_json(state)));
  return statement.set;
}

}  // namespace

KeySet stored_key_set(const FetcherOptions& o) {
  auto bytes = read_file(o.cache_dir + "/" + kStateFile, 2 * kMaxKeySetBytes);
  if (!bytes.ok()) return pinned_set(o);
  auto doc = parse_json_strict(*bytes, 2 * kMaxKeySetBytes, kStateFile);
  if (!doc.ok() || !doc->is_object() || !doc->contains("anchor") || !doc->contains("statement") ||
      !doc->at("anchor").is_string() || !doc->at("statement").is_string() || doc->at("anchor") != anchor_of(o))
    return pinned_set(o);
  auto statement = parse_key_set_statement(doc->at("statement").get<std::string>());
  if (!statement.ok()) return pinned_set(o);
  return statement->set;
}

Result<KeySet> follow_key_set(const FetcherOptions& o, const KeySetGet& get, const HttpRequest& base, FileSystem& fs,
                              std::optional<uint64_t> named) {
  KeySet set = stored_key_set(o);
  if (named && *named <= set.version) return set;  // the manifest's statement is known
  const std::string latest_url = o.base_url + "/keys/keyset.json";
  bool found = false;
  auto latest = fetch_statement(get, base, latest_url, &found);
  if (found && !latest.ok()) return latest.status();
  const uint64_t target = std::max(named.value_or(0), found ? latest->set.version : 0);
  if (target <= set.version) return set;  // an older statement cannot lower the set
  const uint64_t stop = std::min(target, set.version + kMaxKeySetSteps);
  const uint64_t first = set.version + 1;
  std::optional<KeySetStatement> last;
  for (uint64_t n = first; n <= stop; ++n) {
    const bool from_latest = found && n == latest->set.version;
    const std::string url = from_latest ? latest_url : o.base_url + "/keys/keyset/" + std::to_string(n) + ".json";
    bool step_found = false;
    Result<KeySetStatement> step = from_latest ? latest : fetch_statement(get, base, url, &step_found);
    if (!step.ok()) return named ? step.status().with_context("the manifest names key-set statement " + std::to_string(*named))
                                 : step.status();
    MC_RETURN_IF_ERROR(check_key_set_successor(set, *step).with_context(url));
    set = step->set;
    last = std::move(step).value();
  }
  // Persisted before any manifest is judged by it: the key set's rollback floor. Updates
  // of other models may have stored a newer set meanwhile; the floor never goes down.
  MC_ASSIGN_OR_RETURN(KeySet stored, store_statement(o, fs, *last));
  if (stored.version < target)
    return error(StatusCode::kNetwork, "key set: followed statements " + std::to_string(first) + " to " +
                                           std::to_string(stored.version) + " of " + std::to_string(target) + " (at most " +
                                           std::to_string(kMaxKeySetSteps) + " per update); the next update continues");
  return stored;
}

}  // namespace modelcast
