#include "modelcast/fetcher.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <new>
#include <climits>
#include <cstdlib>
#include <ctime>
#include <mutex>
#include <set>
#include <thread>

#include "backoff.h"
#include "cache.h"
#include "cache_locks.h"
#include "disk_budget.h"
#include "health_check.h"
#include "keyset_chain.h"
#include "update_deadline.h"
#include "delta_fetch.h"
#include "download.h"
#include "download_conditions.h"
#include "fetch_plan.h"
#include "modelcast/fs.h"
#include "modelcast/names.h"
#include "modelcast/sha256.h"
#include "modelcast/signed_manifest.h"
#include "modelcast/utf8.h"
#include "modelcast/model_info.h"
#include "modelcast/model_readers.h"

namespace modelcast {

namespace {

std::string absolute(const std::string& path) {
  char buf[PATH_MAX];
  if (::realpath(path.c_str(), buf)) return buf;
  return path;
}

constexpr int64_t kStateRefreshSeconds = 60;
constexpr size_t kMaxEtagBytes = 256;

// An ETag is only echoed back in If-None-Match: keep one a server may legally send, drop
// anything else (invalid UTF-8, control bytes, a 10 KB header) rather than store it.
std::string usable_etag(const std::string& etag) {
  return etag.size() <= kMaxEtagBytes && is_printable_ascii(etag) ? etag : std::string();
}

// What an exception escaping the library's own code becomes at an API boundary: a failed
// allocation is kOutOfMemory (reason "out-of-memory"), anything else a defect, kInternal.
Status internal_error(const char* where, const std::exception* e) {
  if (dynamic_cast<const std::bad_alloc*>(e)) return error(StatusCode::kOutOfMemory, std::string(where) + ": out of memory");
  return error(StatusCode::kInternal, std::string(where) + ": unexpected error" +
                                          (e ? std::string(": ") + printable_text(e->what()) : std::string()));
}

// Runs an entry point's body; an exception becomes a kInternal Status, never a crash.
template <typename R, typename F>
R guarded(const char* where, F&& body) {
  try {
    return body();
  } catch (const std::exception& e) {
    return internal_error(where, &e);
  } catch (...) {
    return internal_error(where, nullptr);
  }
}

bool contains(const std::vector<std::string>& v, const std::string& s) { return std::find(v.begin(), v.end(), s) != v.end(); }

// Collects the manifest body in memory, refusing more than the format allows.
class ManifestSink : public HttpSink {
 public:
  Status on_response(const HttpResponse& r) override {
    response = r;
    if (r.status == 304) return OkStatus();
    if (r.status == 404) return error(StatusCode::kNotFound, url + ": HTTP 404 (no such model, channel or platform)");
    if (r.status != 200) return error(StatusCode::kNetwork, url + ": HTTP " + std::to_string(r.status));
    if (r.content_length > static_cast<int64_t>(kMaxManifestBytes))
      return error(StatusCode::kCorruption, url + ": manifest larger than " + std::to_string(kMaxManifestBytes) + " bytes");
    return OkStatus();
  }
  Status on_data(const char* data, size_t size) override {
    if (response.status == 304) return OkStatus();
    if (body.size() + size > kMaxManifestBytes)
      return error(StatusCode::kCorruption, url + ": manifest larger than " + std::to_string(kMaxManifestBytes) + " bytes");
    body.append(data, size);
    return OkStatus();
  }
  std::string url;
  HttpResponse response;
  std::string body;
};

}  // namespace

const char* update_status_name(UpdateStatus status) {
  switch (status) {
    case UpdateStatus::kUpdated: return "updated";
    case UpdateStatus::kCurrent: return "current";
    case UpdateStatus::kFallback: return "fallback";
    case UpdateStatus::kNone: return "none";
  }
  return "none";
}

struct Fetcher::Impl {
  std::shared_ptr<HttpTransport> transport;
  std::shared_ptr<Clock> clock;
  std::shared_ptr<FileSystem> fs;
  // cancel() stops every update() called before it, including one still waiting for the
  // lock: each update() takes a ticket on entry and is cancelled when its ticket is at most
  // cancelled_through.
  std::atomic<uint64_t> tickets{0};
  std::atomic<uint64_t> cancelled_through{0};
  std::atomic<bool> network_metered{false};
  std::mutex transport_mu;  // one update at a time uses the transport within this process
  std::atomic<std::thread::id> updating_thread{};  // holder of transport_mu (re-entry check)

  bool is_cancelled(uint64_t ticket) const { return ticket <= cancelled_through; }
  std::shared_ptr<RetryAfterRecorder> recorder;  // wraps `transport`: the server's Retry-After
  Backoff backoff;

  RetryParams retry_params(const FetcherOptions& o, UpdateResult* result, uint64_t ticket) {
    return RetryParams{BackoffPolicy{o.retry_base_ms, o.retry_max_ms}, o.max_retries, &backoff,
                       [this, ticket] { return is_cancelled(ticket); }, recorder.get(), &result->retries};
  }

  class UpdateRun;
};

// One update of one model, run under the model's lock: each step is one check or one
// change, in the order the design requires (nothing is written before the manifest is
// authentic, nothing is downloaded before the device is known to support it).
class Fetcher::Impl::UpdateRun {
 public:
  UpdateRun(Impl& impl, const FetcherOptions& options, const std::string& model, uint64_t ticket)
      : ticket_(ticket), impl_(impl), options_(options), fs_(*impl.fs), model_(model), paths_{options.cache_dir, model},
        store_{options.cache_dir} {}

  UpdateResult run();
  // What the clean-up after the run must do (cache_locks.h).
  TidyNeeds tidy_needs() const { return TidyNeeds{installed_ || health_failed_, installed_}; }

 private:
  // What the steps learned, beyond the result.
  bool installed_ = false;
  bool health_failed_ = false;  // its version folder was removed again
  std::string etag_;  // to remember when the offered version ends up active
  uint64_t etag_version_ = 0;
  std::string soft_reason_;  // "rollout", "deferred": not an error, but not the newest either
  std::string soft_message_;

  Status prepare_model_dir();
  void read_active();
  Status check_for_update();
  HttpRequest base_request() const;
  Status fetch_manifest(const HttpRequest& base);
  Status explain_missing_manifest(const HttpRequest& base, const Status& not_found);
  Status get_manifest(const HttpRequest& base, const std::string& url);
  bool active_manifest_near_expiry() const;
  Status parse_manifest();
  Result<FetchPlan> check_manifest(const KeySet& keys) const;
  Status check_not_failed_before(const Manifest& m) const;
  Status make_room(const Manifest& m);
  Status check_version(const Manifest& m);
  Status check_device_support(const Manifest& m) const;
  bool check_rollout(const Manifest& m);
  Status check_offered_version(const Manifest& m) const;
  Result<bool> fetch_rollout_fallback(const HttpRequest& base, const KeySet& keys);
  Status download_and_install(const HttpRequest& base);
  Status get_document(const HttpRequest& req);
  bool check_download_conditions(const Manifest& m);
  Status download_missing(const Manifest& m, const HttpRequest& base);
  Status check_plan_supported() const;
  FileEntryV2 with_deltas(const FileEntry& f) const;
  Status check_config_fits(const Manifest& m) const;
  Status install(const SignedManifest& sm);
  void report(const Status& s);
  void suggest_next_check();
  void record_check();

  const uint64_t ticket_;
  Impl& impl_;
  const FetcherOptions& options_;
  FileSystem& fs_;
  const std::string& model_;
  const ModelPaths paths_;
  const CacheBlobStore store_;
  UpdateResult result_;
  ModelState state_;
  ModelState on_disk_;
  uint64_t active_ = 0;
  std::string active_path_;
  Manifest active_manifest_;  // what the active version was signed as (its expiry)
  ManifestSink sink_;
  int format_ = 2;  // of the document in sink_
  std::optional<SignedManifestV2> parsed_v2_;  // sink_'s document, parsed (one of the two)
  std::optional<SignedManifest> parsed_v1_;
  FetchPlan plan_;
};

Fetcher::Fetcher(FetcherOptions options) : options_(std::move(options)), impl_(std::make_unique<Impl>()) {}
Fetcher::~Fetcher() = default;

Result<std::unique_ptr<Fetcher>> Fetcher::create(FetcherOptions options) {
  return guarded<Result<std::unique_ptr<Fetcher>>>("create", [&] { return create_unguarded(std::move(options)); });
}

Result<std::unique_ptr<Fetcher>> Fetcher::create_unguarded(FetcherOptions o) {
  if (o.base_url.empty()) return error(StatusCode::kInvalidArgument, "base URL: must not be empty");
  if (o.base_url.compare(0, 7, "http://") != 0 && o.base_url.compare(0, 8, "https://") != 0 &&
      o.base_url.compare(0, 8, "file:///") != 0)
    return error(StatusCode::kInvalidArgument, "base URL \"" + o.base_url + "\": must start with https://, http:// or file:///");
  while (o.base_url.size() > 8 && o.base_url.back() == '/') o.base_url.pop_back();
  if (o.cache_dir.empty()) return error(StatusCode::kInvalidArgument, "cache folder: must not be empty");
  if (o.trusted_keys.empty()) return error(StatusCode::kInvalidArgument, "no trusted public key");
  if (o.threshold == 0) o.threshold = 1;
  if (o.threshold > o.trusted_keys.size())
    return error(StatusCode::kInvalidArgument, "threshold " + std::to_string(o.threshold) + " exceeds the " +
                                                   std::to_string(o.trusted_keys.size()) + " trusted keys");
  MC_RETURN_IF_ERROR(check_name(o.platform, "platform"));
  if (o.channel.empty()) o.channel = "stable";
  MC_RETURN_IF_ERROR(check_name(o.channel, "channel"));
  if (!o.app_version.empty()) MC_RETURN_IF_ERROR(check_app_version(o.app_version, "app version"));
  if (!o.os_version.empty()) MC_RETURN_IF_ERROR(check_app_version(o.os_version, "OS version"));
  for (const auto& f : o.features) MC_RETURN_IF_ERROR(check_name(f, "feature"));
  // This fetcher reads format 2: a format 1 document requiring it is one it can take.
  if (!contains(o.features, kFormat2Feature)) o.features.push_back(kFormat2Feature);
  MC_RETURN_IF_ERROR(check_install_token(o.install_token));
  if (o.keep_versions < 1) o.keep_versions = 1;
  if (o.max_retries < 0) o.max_retries = 0;
  if (!o.file_system) o.file_system = posix_file_system();
  MC_RETURN_IF_ERROR(o.file_system->make_dirs(o.cache_dir + "/tmp"));
  MC_RETURN_IF_ERROR(o.file_system->make_dirs(o.cache_dir + "/blobs/sha256"));
  o.cache_dir = absolute(o.cache_dir);
  std::unique_ptr<Fetcher> f(new Fetcher(std::move(o)));
  f->impl_->fs = f->options_.file_system;
  f->impl_->recorder = std::make_shared<RetryAfterRecorder>(
      f->options_.transport ? f->options_.transport : std::shared_ptr<HttpTransport>(make_default_transport()));
  f->impl_->transport = f->impl_->recorder;
  f->impl_->clock = f->options_.clock ? f->options_.clock : std::shared_ptr<Clock>(f->options_.file_system);
  f->impl_->network_metered = f->options_.network_metered;
  return f;
}

void Fetcher::cancel() {
  impl_->cancelled_through = impl_->tickets.load();
  impl_->transport->cancel();
}

void Fetcher::set_network_metered(bool metered) { impl_->network_metered = metered; }

Status Fetcher::recover() {
  return guarded<Status>("recover", [&] { return recover_unguarded(); });
}

Status Fetcher::recover_unguarded() {
  FileSystem& fs = *impl_->fs;
  MC_ASSIGN_OR_RETURN(FileLock lock, fs.lock(options_.cache_dir + "/lock", false));
  CacheBlobStore store{options_.cache_dir};
  MC_RETURN_IF_ERROR(check_fixed_folders(fs, ModelPaths{options_.cache_dir, ""}));  // tmp, blobs, models
  MC_RETURN_IF_ERROR(recover_tmp(fs, store));
  // Every model folder under the cache.
  auto names = fs.list_dir(options_.cache_dir + "/models");
  if (!names.ok()) return names.status().code() == StatusCode::kNotFound ? OkStatus() : names.status();
  for (const auto& n : *names) {
    if (n[0] == '.') continue;
    MC_RETURN_IF_ERROR(check_fixed_folders(fs, ModelPaths{options_.cache_dir, n}));
    MC_RETURN_IF_ERROR(recover_model(fs, ModelPaths{options_.cache_dir, n}));
  }
  return OkStatus();
}

Result<OpenedModel> Fetcher::open(const std::string& model, const OpenOptions& options) const {
  return guarded<Result<OpenedModel>>("open", [&]() -> Result<OpenedModel> {
    MC_RETURN_IF_ERROR(check_name(model, "model"));
    return open_model(*impl_->fs, ModelPaths{options_.cache_dir, model}, options);
  });
}

namespace {

// The result of an update that could not start: the active version, if any, stays.
UpdateResult not_started(FileSystem& fs, const ModelPaths& paths, const Status& s) {
  UpdateResult result;
  result.reason = status_code_name(s.code());
  result.message = printable_text(s.message());
  auto active = guarded<Result<OpenedModel>>("update", [&] { return open_model(fs, paths, {}); });
  if (active.ok()) {
    result.status = UpdateStatus::kFallback;
    result.version = active->version;
    result.path = active->path;
  }
  return result;
}

}  // namespace

UpdateResult Fetcher::update(const std::string& model) {
  Status name_ok = check_name(model, "model");
  if (!name_ok.ok()) {
    UpdateResult result;
    result.reason = status_code_name(name_ok.code());
    result.message = printable_text(name_ok.message());
    return result;
  }
  ModelPaths paths{options_.cache_dir, model};
  const uint64_t ticket = ++impl_->tickets;
  // Called from this fetcher's own progress callback: waiting for the lock would wait for
  // ourselves.
  if (impl_->updating_thread.load() == std::this_thread::get_id())
    return not_started(*impl_->fs, paths, error(StatusCode::kBusy, "update() called from inside this fetcher's progress callback; "
                                                       "it runs only after the current update returns"));
  // Never throws: whatever escapes is a fallback to the model the device has.
  try {
    std::lock_guard<std::mutex> in_process(impl_->transport_mu);
    impl_->updating_thread = std::this_thread::get_id();
    struct ClearOwner {
      Impl& impl;
      ~ClearOwner() { impl.updating_thread = std::thread::id(); }
    } clear_owner{*impl_};
    impl_->transport->reset_cancel();
    if (impl_->is_cancelled(ticket)) return not_started(*impl_->fs, paths, error(StatusCode::kCancelled, "update cancelled"));
    // A disk budget needs the cache to itself: the room one update makes must not be
    // filled by another model's download meanwhile.
    auto locks = lock_for_update(*impl_->fs, paths, options_.wait_for_lock, options_.max_cache_bytes > 0);
    if (!locks.ok()) return not_started(*impl_->fs, paths, locks.status());
    Impl::UpdateRun run(*impl_, options_, model, ticket);
    UpdateResult result = run.run();
    tidy_shared_space(*impl_->fs, paths, std::move(locks).value(), run.tidy_needs(), options_.max_cache_bytes);
    return result;
  } catch (const std::exception& e) {
    return not_started(*impl_->fs, paths, internal_error("update", &e));
  } catch (...) {
    return not_started(*impl_->fs, paths, internal_error("update", nullptr));
  }
}

UpdateResult Fetcher::Impl::UpdateRun::run() {
  Status s = prepare_model_dir();
  if (!s.ok()) return not_started(fs_, paths_, s);
  read_active();
  s = check_for_update();
  report(s);
  suggest_next_check();
  record_check();
  return result_;
}

// The model's folders exist (durably) and nothing half-done is left from a crash.
Status Fetcher::Impl::UpdateRun::prepare_model_dir() {
  MC_RETURN_IF_ERROR(check_fixed_folders(fs_, paths_));
  const bool first_use = !fs_.exists(paths_.versions_dir());
  MC_RETURN_IF_ERROR(fs_.make_dirs(paths_.versions_dir()));
  // New folders must survive a power cut once a version inside them becomes current.
  if (first_use) {
    MC_RETURN_IF_ERROR(fs_.sync_dir(paths_.model_dir()));
    MC_RETURN_IF_ERROR(fs_.sync_dir(parent_dir(paths_.model_dir())));
    MC_RETURN_IF_ERROR(fs_.sync_dir(options_.cache_dir));
  }
  MC_RETURN_IF_ERROR(recover_model(fs_, paths_));
  // Other models' updates may be downloading into tmp/: only what none of them makes goes
  // now; the rest waits for the exclusive clean-up.
  return remove_foreign_tmp_entries(fs_, store_);
}

void Fetcher::Impl::UpdateRun::read_active() {
  state_ = read_state(fs_, paths_);
  on_disk_ = state_;
  if (auto opened = open_model(fs_, paths_, {}); opened.ok()) {
    active_ = opened->version;
    active_path_ = opened->path;
    active_manifest_ = opened->manifest;
  }
  state_.active_version = active_;
  state_.highest_seen = std::max(state_.highest_seen, active_);
}

// Every step that may end the update early, in order. OK with nothing installed means
// the active version stays (unchanged manifest, or a rollout that excludes this device).
Status Fetcher::Impl::UpdateRun::check_for_update() {
  const HttpRequest base = base_request();
  MC_RETURN_IF_ERROR(fetch_manifest(base));
  if (sink_.response.status == 304) {
    result_.not_modified = true;
    result_.offered_version = active_;
    // "Unchanged" from a server or a stale mirror does not extend the signed expiry.
    MC_RETURN_IF_ERROR(check_fresh(active_manifest_, impl_.clock->now_unix()).with_context(sink_.url + " (HTTP 304)"));
    etag_ = state_.etag;
    etag_version_ = active_;
    return OkStatus();
  }
  MC_RETURN_IF_ERROR(parse_manifest());
  // The keys that count: the pinned ones as the tree's key-set statements changed them, at
  // least up to the statement the manifest names.
  const RetryParams retry = impl_.retry_params(options_, &result_, ticket_);
  const KeySetGet get = [&](const HttpRequest& req, HttpSink& sink) {
    return run_with_retries(retry, [&] { return impl_.transport->get(req, sink); });
  };
  const std::optional<uint64_t> named = parsed_v2_ ? parsed_v2_->manifest.keyset_version : std::nullopt;
  MC_ASSIGN_OR_RETURN(KeySet keys, follow_key_set(options_, get, base, fs_, named));
  MC_ASSIGN_OR_RETURN(plan_, check_manifest(keys));
  const SignedManifest& sm = plan_.view;
  const Manifest& m = sm.manifest;
  MC_RETURN_IF_ERROR(check_version(m));
  if (m.version == active_) {
    etag_ = usable_etag(sink_.response.etag);
    etag_version_ = active_;
    return OkStatus();
  }
  MC_RETURN_IF_ERROR(check_offered_version(m));
  if (!check_rollout(m)) {
    MC_ASSIGN_OR_RETURN(bool fallback, fetch_rollout_fallback(base, keys));
    if (!fallback) return OkStatus();  // `m` now names the current version, not the plan
  }
  return download_and_install(base);
}

// What this device needs before downloading a version: not failed before, supported.
Status Fetcher::Impl::UpdateRun::check_offered_version(const Manifest& m) const {
  MC_RETURN_IF_ERROR(check_not_failed_before(m));
  MC_RETURN_IF_ERROR(check_device_support(m));
  return check_plan_supported();
}

// The plan's version: downloaded (when the app's conditions allow), checked, installed.
Status Fetcher::Impl::UpdateRun::download_and_install(const HttpRequest& base) {
  const Manifest& m = plan_.view.manifest;
  if (!check_download_conditions(m)) return OkStatus();
  MC_RETURN_IF_ERROR(make_room(m));
  MC_RETURN_IF_ERROR(download_missing(m, base));
  MC_RETURN_IF_ERROR(check_config_fits(m));
  return install(plan_.view);
}

// Outside a staged rollout, a device below the last release every device had gets that
// release (FORMAT.md, format 2 `rollout.fallback`). The current document names it by
// version and by the SHA-256 of its stored format 2 document, so that document is vouched
// for even past its own expiry; its signatures and stream are still checked. True when
// plan_ now holds it; false when this device keeps what it has.
Result<bool> Fetcher::Impl::UpdateRun::fetch_rollout_fallback(const HttpRequest& base, const KeySet& keys) {
  if (!plan_.rollout_fallback || active_ >= plan_.rollout_fallback->version) return false;
  const RolloutFallback fallback = *plan_.rollout_fallback;
  const std::string offered = soft_message_;
  const std::string url = options_.base_url + "/v2/manifests/" + model_ + "/" + options_.channel + "/" +
                          options_.platform + "/" + std::to_string(fallback.version) + ".json";
  sink_.url = url;
  HttpRequest req = base;
  req.url = url;
  req.total_timeout_ms = options_.manifest_timeout_ms;
  MC_RETURN_IF_ERROR(get_document(req));
  if (sha256_hex(sink_.body) != fallback.sha256)
    return error(StatusCode::kSignature, url + ": is not the rollout fallback the current manifest names (SHA-256 differs)");
  auto parsed = parse_signed_manifest_v2(sink_.body);
  if (!parsed.ok()) return parsed.status().with_context(url);
  MC_RETURN_IF_ERROR(verify_with_key_set(parsed.value(), keys).with_context(url));
  const ManifestV2& m = parsed->manifest;
  if (m.model != model_ || m.channel != options_.channel || m.platform != options_.platform ||
      m.version != fallback.version)
    return error(StatusCode::kSignature, url + ": signed for " + m.model + "/" + m.channel + "/" + m.platform + " v" +
                                             std::to_string(m.version) + ", not the named rollout fallback");
  plan_ = plan_from_v2(*parsed);
  MC_RETURN_IF_ERROR(check_offered_version(plan_.view.manifest));
  // The fallback document's ETag is not the current document's: keep none.
  sink_.response.etag.clear();
  soft_message_ = offered + "; installing the fallback release v" + std::to_string(fallback.version);
  return true;
}

HttpRequest Fetcher::Impl::UpdateRun::base_request() const {
  HttpRequest base;
  base.user_agent = std::string("modelcast-fetch/") + MODELCAST_VERSION + " (" + model_ + "; v" + std::to_string(active_) +
                    "; " + options_.platform + (options_.install_token.empty() ? "" : "; install " + options_.install_token) +
                    ")";
  base.connect_timeout_ms = options_.connect_timeout_ms;
  base.low_speed_time_ms = options_.low_speed_time_ms;
  base.low_speed_bytes = std::max(1, options_.low_speed_bytes);
  return base;
}

// The format 2 document, or on HTTP 404 the format 1 one (a tree written by an older
// publisher): one document per update, never a mix.
Status Fetcher::Impl::UpdateRun::fetch_manifest(const HttpRequest& base) {
  const std::string stream = model_ + "/" + options_.channel + "/" + options_.platform + ".json";
  format_ = 2;
  Status s = get_manifest(base, options_.base_url + "/v2/manifests/" + stream);
  if (s.ok() || sink_.response.status != 404) return s;
  format_ = 1;
  s = get_manifest(base, options_.base_url + "/manifests/" + stream);
  if (s.ok() || sink_.response.status != 404) return s;
  return explain_missing_manifest(base, s);
}

// Both documents are 404: a base URL that is not a tree's root (`--url http://host/models`
// with the tree at `/`) looks exactly like a stream the tree lacks. Every tree has its
// settings file at the root (FORMAT.md, "The published tree"): one more small request, made
// only here, tells the two apart.
Status Fetcher::Impl::UpdateRun::explain_missing_manifest(const HttpRequest& base, const Status& not_found) {
  struct StatusOnly : HttpSink {
    int status = 0;
    Status on_response(const HttpResponse& r) override {
      status = r.status;
      return OkStatus();
    }
    Status on_data(const char*, size_t) override { return OkStatus(); }
  } probe;
  HttpRequest req = base;
  req.url = options_.base_url + "/modelcast.json";
  req.total_timeout_ms = options_.manifest_timeout_ms;
  if (!impl_.transport->get(req, probe).ok() || probe.status != 404) return not_found;
  return error(StatusCode::kNotFound, options_.base_url + ": no modelcast tree at this URL (" + req.url +
                                          " is a 404 too); the URL must be the tree's root");
}

// True when the active version's manifest has expired or is in the last tenth of its
// validity. A 304 then could hide a new manifest (nginx's ETag is the file's mtime second
// and size, so a same-size rewrite within one second keeps it) and would not extend the
// signature anyway: the manifest, a few KB, is asked for in full.
bool Fetcher::Impl::UpdateRun::active_manifest_near_expiry() const {
  auto published = parse_timestamp(active_manifest_.published_at, "published_at");
  auto expires = parse_timestamp(active_manifest_.expires_at, "expires_at");
  if (!published.ok() || !expires.ok()) return true;
  const int64_t last_tenth = std::max<int64_t>(0, (*expires - *published) / 10);
  return impl_.clock->now_unix() >= *expires - last_tenth;
}

// A conditional GET (an unchanged manifest costs a 304), size-limited.
Status Fetcher::Impl::UpdateRun::get_manifest(const HttpRequest& base, const std::string& url) {
  sink_.url = url;
  HttpRequest req = base;
  req.url = sink_.url;
  req.total_timeout_ms = options_.manifest_timeout_ms;
  if (active_ > 0 && state_.etag_version == active_ && !state_.etag.empty() && !active_manifest_near_expiry())
    req.if_none_match = state_.etag;
  Status s = get_document(req);
  if (s.ok() && sink_.response.status == 304 && req.if_none_match.empty())
    return error(StatusCode::kNetwork, url + ": HTTP 304 to a request that was not conditional");
  result_.manifest_format = format_;
  return s;
}

// One small document into sink_, with the update's retries, counted on the wire.
Status Fetcher::Impl::UpdateRun::get_document(const HttpRequest& req) {
  Status s = run_with_retries(impl_.retry_params(options_, &result_, ticket_), [&] {
    sink_.response = HttpResponse();
    sink_.body.clear();
    return impl_.transport->get(req, sink_);
  });
  result_.wire_bytes += sink_.body.size();
  return s;
}

// Parses the document received (either format); nothing is trusted before check_manifest.
Status Fetcher::Impl::UpdateRun::parse_manifest() {
  if (format_ == 2) {
    auto parsed = parse_signed_manifest_v2(sink_.body);
    if (!parsed.ok()) return parsed.status().with_context(sink_.url);
    parsed_v2_ = std::move(parsed).value();
  } else {
    auto parsed = parse_signed_manifest(sink_.body);
    if (!parsed.ok()) return parsed.status().with_context(sink_.url);
    parsed_v1_ = std::move(parsed).value();
  }
  return OkStatus();
}

// Authentic and meant for this stream (either format: the same keys, threshold and checks).
Result<FetchPlan> Fetcher::Impl::UpdateRun::check_manifest(const KeySet& keys) const {
  FetchPlan plan;
  if (parsed_v2_) {
    MC_RETURN_IF_ERROR(verify_with_key_set(*parsed_v2_, keys).with_context(sink_.url));
    plan = plan_from_v2(*parsed_v2_);
  } else {
    MC_RETURN_IF_ERROR(verify_with_key_set(*parsed_v1_, keys).with_context(sink_.url));
    plan = plan_from_v1(*parsed_v1_);
  }
  const Manifest& m = plan.view.manifest;
  if (m.model != model_ || m.channel != options_.channel || m.platform != options_.platform)
    return error(StatusCode::kSignature, sink_.url + ": signed for " + m.model + "/" + m.channel + "/" + m.platform +
                                             ", not for the requested " + model_ + "/" + options_.channel + "/" +
                                             options_.platform);
  return plan;
}

// Every file has a stored form this fetcher decodes; otherwise nothing is downloaded.
// The file with the deltas its format 2 entry lists (a format 1 document lists none).
FileEntryV2 Fetcher::Impl::UpdateRun::with_deltas(const FileEntry& f) const {
  FileEntryV2 e;
  e.path = f.path;
  e.sha256 = f.sha256;
  e.size = f.size;
  auto listed = plan_.deltas.find(f.sha256);
  if (listed != plan_.deltas.end()) e.deltas = listed->second;
  return e;
}

Status Fetcher::Impl::UpdateRun::check_plan_supported() const {
  if (plan_.unsupported.empty()) return OkStatus();
  return error(StatusCode::kUnsupportedFeature, plan_.unsupported);
}

// Fresh and not older than anything seen; a newer version raises the rollback floor
// before anything else can fail.
Status Fetcher::Impl::UpdateRun::check_version(const Manifest& m) {
  result_.offered_version = m.version;
  MC_RETURN_IF_ERROR(check_fresh(m, impl_.clock->now_unix()));
  if (m.version < state_.highest_seen || m.version < active_)
    return error(StatusCode::kRollback, sink_.url + ": offers v" + std::to_string(m.version) + ", but v" +
                                            std::to_string(std::max(state_.highest_seen, active_)) + " was already seen");
  if (m.version > state_.highest_seen) {
    state_.highest_seen = m.version;
    MC_RETURN_IF_ERROR(write_state(fs_, paths_, state_));
  }
  return OkStatus();
}

Status Fetcher::Impl::UpdateRun::check_device_support(const Manifest& m) const {
  const std::string v = "v" + std::to_string(m.version);
  if (!m.requirements.min_app_version.empty()) {
    if (options_.app_version.empty())
      return error(StatusCode::kIncompatible, v + " requires app version " + m.requirements.min_app_version +
                                                  "; this app did not declare its version");
    if (compare_app_versions(options_.app_version, m.requirements.min_app_version) < 0)
      return error(StatusCode::kIncompatible,
                   v + " requires app version " + m.requirements.min_app_version + ", this app is " + options_.app_version);
  }
  if (!m.requirements.runtime.empty() && !options_.runtimes.empty() && !contains(options_.runtimes, m.requirements.runtime))
    return error(StatusCode::kIncompatible, v + " requires runtime " + m.requirements.runtime);
  const std::string& min_os = m.requirements.min_os_version;
  if (!min_os.empty()) {
    if (options_.os_version.empty())
      return error(StatusCode::kUnsupported,
                   v + " requires " + m.platform + " " + min_os + " or later; this app did not declare the OS version");
    if (compare_app_versions(options_.os_version, min_os) < 0)
      return error(StatusCode::kUnsupported,
                   v + " requires " + m.platform + " " + min_os + " or later, this device runs " + options_.os_version);
  }
  // A format 1 document that requires format 2 describes what only its format 2 sibling
  // can (a minimum OS, files stored as parts); without that document it is not installed.
  if (format_ == 1 && contains(m.requirements.features, kFormat2Feature))
    return error(StatusCode::kUnsupportedFeature, v + ": the format 1 document requires " + std::string(kFormat2Feature) +
                                                      " and the format 2 document was not found");
  for (const auto* list : {&m.requirements.features, &m.config.features})
    for (const auto& feature : *list)
      if (!contains(options_.features, feature))
        return error(StatusCode::kUnsupportedFeature,
                     v + " needs feature \"" + feature + "\", which this app does not support");
  return OkStatus();
}

// False when a staged rollout leaves this device out (not an error: it stays current).
bool Fetcher::Impl::UpdateRun::check_rollout(const Manifest& m) {
  if (rollout_admits(options_.device_id, model_, m.rollout_percent.value_or(100))) return true;
  soft_reason_ = "rollout";
  soft_message_ = "v" + std::to_string(m.version) + " is rolled out to " + std::to_string(*m.rollout_percent) +
                  "% of devices; this one is not among them";
  return false;
}

// The app's conditions (metered network, byte limit) for what the cache lacks; when they
// do not hold, nothing is downloaded and the update ends as "deferred".
bool Fetcher::Impl::UpdateRun::check_download_conditions(const Manifest& m) {
  std::set<std::string> missing;
  // The bytes of the path each file will take: its delta when the cache holds a base.
  for (const auto& f : m.files) {
    if (have_blob(fs_, store_, f) || !missing.insert(f.sha256).second) continue;
    const FileEntryV2 entry = with_deltas(f);
    const DeltaV2* delta = choose_delta(fs_, store_, entry, f.stored_size);
    result_.bytes_needed += delta != nullptr ? delta->stored_size : f.stored_size;
  }
  std::string why = deferral_message(options_.conditions, impl_.network_metered, result_.bytes_needed);
  if (why.empty()) return true;
  soft_reason_ = "deferred";
  soft_message_ = "v" + std::to_string(m.version) + " " + why;
  return false;
}

// A manifest whose version failed the app's health check is not downloaded again; a
// different one (new version, or re-signed) is.
Status Fetcher::Impl::UpdateRun::check_not_failed_before(const Manifest& m) const {
  if (state_.bad_manifest_sha256.empty() || state_.bad_manifest_sha256 != sha256_hex(sink_.body)) return OkStatus();
  return error(StatusCode::kHealthCheck,
               "v" + std::to_string(m.version) + " failed the app's health check before; waiting for a different version");
}

// Within max_cache_bytes: evicts what may go, or refuses before downloading.
Status Fetcher::Impl::UpdateRun::make_room(const Manifest& m) {
  if (options_.max_cache_bytes == 0) return OkStatus();
  std::vector<const FileEntry*> missing;
  std::set<std::string> reused, seen;
  for (const auto& f : m.files) {
    reused.insert(f.sha256);
    if (!have_blob(fs_, store_, f) && seen.insert(f.sha256).second) missing.push_back(&f);
  }
  return ::modelcast::make_room(fs_, store_, bytes_needed(missing, sink_.body.size()), options_.max_cache_bytes, reused,
                                "v" + std::to_string(m.version));
}

// Every blob the cache lacks, once per distinct hash.
Status Fetcher::Impl::UpdateRun::download_missing(const Manifest& m, const HttpRequest& base) {
  std::vector<const FileEntry*> needed;
  std::set<std::string> seen_hashes;
  Progress progress;
  progress.model = model_;
  for (const auto& f : m.files) {
    if (have_blob(fs_, store_, f)) {
      result_.files_reused++;
      result_.files.push_back(FileTransfer{f.path, "cached", 0, ""});
    } else if (seen_hashes.insert(f.sha256).second) {
      needed.push_back(&f);
      progress.bytes_total += f.stored_size;
    }
  }
  progress.file_count = needed.size();
  DownloadParams dp;
  dp.transport = impl_.transport.get();
  dp.fs = &fs_;
  dp.store = store_;
  dp.base_url = options_.base_url;
  dp.request_template = base;
  dp.max_retries = options_.max_retries;
  const int64_t deadline_ms = update_deadline_ms(options_, progress.bytes_total);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(deadline_ms);
  const RetryParams retry = impl_.retry_params(options_, &result_, ticket_);
  dp.wait_before_retry = [&retry](int attempt) { return wait_before_retry(retry, attempt); };
  dp.on_bytes = [&](uint64_t n) -> Status {
    progress.bytes_done += n;
    if (std::chrono::steady_clock::now() > deadline)
      return error(StatusCode::kNetwork, "update deadline of " + std::to_string(deadline_ms / 1000) + " s passed with " +
                                             std::to_string(progress.bytes_done) + " of " +
                                             std::to_string(progress.bytes_total) + " bytes received");
    if (impl_.is_cancelled(ticket_)) return error(StatusCode::kCancelled, "update cancelled");
    if (options_.progress && !options_.progress(progress)) return error(StatusCode::kCancelled, "update cancelled by the app");
    return OkStatus();
  };
  for (size_t i = 0; i < needed.size(); ++i) {
    progress.file_index = i;
    progress.file = needed[i]->path;
    FileTransfer transfer;
    auto parts = plan_.parts.find(needed[i]->sha256);
    const std::string how = (parts == plan_.parts.end() ? "blob-" : "parts-") + needed[i]->encoding;
    bool stored_meanwhile = false;  // by another model's update, while this one waited
    Status s = obtain_file(dp, with_deltas(*needed[i]), needed[i]->stored_size, how,
                           [&](DownloadStats* stats) {
                             Status got = parts == plan_.parts.end()
                                              ? download_blob(dp, *needed[i], stats)
                                              : download_parts(dp, *needed[i], parts->second, stats);
                             stored_meanwhile = stats->stored_meanwhile;
                             return got;
                           },
                           &transfer);
    result_.bytes_downloaded += transfer.wire_bytes;
    result_.wire_bytes += transfer.wire_bytes;
    result_.files.push_back(std::move(transfer));
    if (!s.ok() && impl_.is_cancelled(ticket_)) return error(StatusCode::kCancelled, "update cancelled");  // perhaps while waiting to retry
    MC_RETURN_IF_ERROR(s);
    if (stored_meanwhile)
      result_.files_reused++;
    else
      result_.files_downloaded++;
  }
  return OkStatus();
}

// The config must fit the model it describes before the version can become current.
Status Fetcher::Impl::UpdateRun::check_config_fits(const Manifest& m) const {
  // Every file a device-safe reader claims (by content, or by the name the manifest gives
  // it) is checked; the config must fit at least one of them.
  Status first_mismatch;
  bool any_model = false;
  for (const auto& f : m.files) {
    std::string blob = store_.blob_path(f.sha256);
    Result<std::string> head = read_model_head(blob);
    if (!head.ok()) continue;  // the installer reports an unreadable blob
    const ModelReader* reader = claiming_reader(device_model_readers(), SniffInput{*head, f.path, blob, false});
    if (reader == nullptr) continue;
    any_model = true;
    auto info = reader->read_info(blob);
    Status st = info.ok() ? ::modelcast::check_config_fits(m.config, info.value(), f.path) : info.status().with_context(f.path);
    if (st.ok()) return OkStatus();
    if (first_mismatch.ok()) first_mismatch = st;
  }
  if (!any_model) return OkStatus();
  if (first_mismatch.code() != StatusCode::kConfigMismatch)
    first_mismatch = Status(StatusCode::kConfigMismatch, first_mismatch.message());
  return first_mismatch.with_context("v" + std::to_string(m.version));
}

// Builds the folder, swaps `current`, tidies up.
Status Fetcher::Impl::UpdateRun::install(const SignedManifest& sm) {
  MC_ASSIGN_OR_RETURN(std::string dir, build_version(fs_, store_, paths_, sm, sink_.body));
  if (Status health = check_version_health(options_, dir, sm.manifest.version); !health.ok()) {
    state_.bad_manifest_sha256 = sha256_hex(sink_.body);  // remembered by the signed bytes
    (void)fs_.remove_all(dir);
    (void)fs_.remove_all(paths_.version_manifest(sm.manifest.version));
    health_failed_ = true;  // its blobs are collected after the run
    return health;
  }
  MC_RETURN_IF_ERROR(activate_version(fs_, paths_, sm.manifest.version));
  installed_ = true;
  etag_ = usable_etag(sink_.response.etag);
  etag_version_ = sm.manifest.version;
  // The swap is durable; failures from here on only leave extra files behind. Blobs the
  // pruned folders linked are collected after the run, under the exclusive lock.
  (void)prune_versions(fs_, paths_, options_.keep_versions);
  return OkStatus();
}

// Turns the outcome of the steps into the result the app sees.
void Fetcher::Impl::UpdateRun::report(const Status& s) {
  if (s.ok() && etag_version_ > 0) {
    state_.etag = etag_;
    state_.etag_version = etag_version_;
  }
  // Only an install or a failure part-way through can have changed what is active.
  result_.version = active_;
  result_.path = active_path_;
  if (installed_ || !s.ok()) {
    auto now_active = open_model(fs_, paths_, {});
    result_.version = now_active.ok() ? now_active->version : 0;
    result_.path = now_active.ok() ? now_active->path : std::string();
  }
  const bool have_model = result_.version > 0;
  if (!s.ok()) {
    result_.status = have_model ? UpdateStatus::kFallback : UpdateStatus::kNone;
    result_.reason = status_code_name(s.code());
    result_.message = printable_text(s.message());
  } else if (installed_) {
    result_.status = UpdateStatus::kUpdated;
  } else {
    result_.status = have_model ? UpdateStatus::kCurrent : UpdateStatus::kNone;
    result_.reason = soft_reason_;
    result_.message = soft_message_;
  }
}

// After a network failure: when the app should check again (backoff.h), growing with the
// failures in a row that state.json counts.
void Fetcher::Impl::UpdateRun::suggest_next_check() {
  if (result_.reason != status_code_name(StatusCode::kNetwork)) {
    state_.network_failures = 0;
    return;
  }
  state_.network_failures++;
  const BackoffPolicy next{options_.next_check_base_ms, options_.next_check_max_ms};
  const int64_t ms = impl_.backoff.next_check_ms(next, state_.network_failures, impl_.recorder->last_retry_after_s());
  result_.retry_after_s = static_cast<double>(ms) / 1000.0;
}

// state.json. A check that changed nothing but the time is recorded at most once a
// minute: each record costs two fsyncs, and an app may check often (a 304 should cost
// nothing).
void Fetcher::Impl::UpdateRun::record_check() {
  state_.active_version = result_.version;
  state_.last_check = impl_.clock->now_unix();
  state_.last_status = update_status_name(result_.status);
  state_.last_reason = result_.reason;
  state_.last_message = result_.message;
  const bool same = state_.highest_seen == on_disk_.highest_seen && state_.etag == on_disk_.etag &&
                    state_.etag_version == on_disk_.etag_version && state_.last_status == on_disk_.last_status &&
                    state_.last_reason == on_disk_.last_reason && state_.last_message == on_disk_.last_message &&
                    state_.bad_manifest_sha256 == on_disk_.bad_manifest_sha256 &&
                    state_.network_failures == on_disk_.network_failures;
  const bool recent =
      state_.last_check >= on_disk_.last_check && state_.last_check - on_disk_.last_check < kStateRefreshSeconds;
  // Failing to record the check (a full disk) changes nothing about the active model.
  if (!same || !recent) (void)write_state(fs_, paths_, state_);
}

Result<OpenedModel> open_cached_model(const std::string& cache_dir, const std::string& model, const OpenOptions& options) {
  return guarded<Result<OpenedModel>>("open", [&]() -> Result<OpenedModel> {
    MC_RETURN_IF_ERROR(check_name(model, "model"));
    return open_model(*posix_file_system(), ModelPaths{absolute(cache_dir), model}, options);
  });
}

Result<ModelState> read_model_state(const std::string& cache_dir, const std::string& model) {
  return guarded<Result<ModelState>>("status", [&]() -> Result<ModelState> {
    MC_RETURN_IF_ERROR(check_name(model, "model"));
    ModelPaths paths{absolute(cache_dir), model};
    FileSystem& fs = *posix_file_system();
    // A cache or model that is not there is said so, not shown as an empty state.
    if (!fs.exists(paths.cache_dir)) return error(StatusCode::kNotFound, "no modelcast cache at " + cache_dir + " (no such folder)");
    if (!fs.exists(paths.model_dir())) return error(StatusCode::kNotFound, cache_dir + " holds no model " + model);
    ModelState s = read_state(fs, paths);
    auto opened = open_model(*posix_file_system(), paths, {});
    s.active_version = opened.ok() ? opened->version : 0;
    return s;
  });
}

}  // namespace modelcast
