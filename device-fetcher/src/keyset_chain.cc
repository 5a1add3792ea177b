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

// Fetches one statement; `found` false on 404.
Result<KeySetStatement> fetch_statement(HttpTransport& transport, const HttpRequest& base, const std::string& url,
                                        bool* found) {
  StatementSink sink(url);
  HttpRequest req = base;
  req.url = url;
  MC_RETURN_IF_ERROR(transport.get(req, sink));
  *found = sink.status != 404;
  if (!*found) return error(StatusCode::kNotFound, url + ": HTTP 404");
  auto statement = parse_key_set_statement(sink.body);
  if (!statement.ok()) return statement.status().with_context(url);
  return statement;
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

Result<KeySet> follow_key_set(const FetcherOptions& o, HttpTransport& transport, const HttpRequest& base, FileSystem& fs) {
  KeySet set = stored_key_set(o);
  bool found = false;
  auto latest = fetch_statement(transport, base, o.base_url + "/keys/keyset.json", &found);
  if (!found) return set;
  if (!latest.ok()) return latest.status();
  const uint64_t target = latest->set.version;
  if (target <= set.version) return set;  // an older statement cannot lower the set
  if (target - set.version > kMaxKeySetSteps)
    return error(StatusCode::kCorruption, o.base_url + "/keys/keyset.json: key set " + std::to_string(target) +
                                              " is more than " + std::to_string(kMaxKeySetSteps) + " statements ahead of " +
                                              std::to_string(set.version));
  for (uint64_t n = set.version + 1; n < target; ++n) {
    const std::string url = o.base_url + "/keys/keyset/" + std::to_string(n) + ".json";
    auto step = fetch_statement(transport, base, url, &found);
    if (!step.ok()) return step.status();
    MC_RETURN_IF_ERROR(check_key_set_successor(set, *step).with_context(url));
    set = step->set;
  }
  MC_RETURN_IF_ERROR(check_key_set_successor(set, *latest).with_context(o.base_url + "/keys/keyset.json"));
  // Persisted before any manifest is judged by it: the key set's rollback floor. Updates
  // of other models may have stored a newer set meanwhile; the floor never goes down.
  MC_ASSIGN_OR_RETURN(FileLock held, fs.lock(o.cache_dir + "/" + kStateLockFile, true));
  KeySet stored_now = stored_key_set(o);
  if (stored_now.version >= target) return stored_now;
  Json sigs = Json::array();
  for (const auto& s : latest->signatures) sigs.push_back({{"keyid", s.keyid}, {"sig", s.sig}});
  Json statement = {{"signed", latest->signed_json}, {"signatures", sigs}};
  Json state = {{"anchor", anchor_of(o)}, {"statement", statement.dump()}};
  MC_RETURN_IF_ERROR(fs.write_file_atomic(o.cache_dir + "/" + kStateFile, pretty_json(state)));
  return latest->set;
}

}  // namespace modelcast
