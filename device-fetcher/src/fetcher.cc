#include "modelcast/fetcher.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <ctime>
#include <mutex>
#include <set>

#include "cache.h"
#include "download.h"
#include "modelcast/fs.h"
#include "modelcast/names.h"
#include "modelcast/sha256.h"
#include "modelcast/signed_manifest.h"
#ifdef MODELCAST_HAVE_MODEL_INFO
#include "modelcast/model_info.h"
#endif

namespace modelcast {

namespace {

class SystemClock : public Clock {
 public:
  int64_t now_unix() const override { return static_cast<int64_t>(::time(nullptr)); }
};

std::string absolute(const std::string& path) {
  char buf[PATH_MAX];
  if (::realpath(path.c_str(), buf)) return buf;
  return path;
}

constexpr int64_t kStateRefreshSeconds = 60;

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

std::shared_ptr<Clock> system_clock() {
  static std::shared_ptr<Clock> clock = std::make_shared<SystemClock>();
  return clock;
}

const char* update_status_name(UpdateStatus status) {
  switch (status) {
    case UpdateStatus::kUpdated: return "updated";
    case UpdateStatus::kCurrent: return "current";
    case UpdateStatus::kFallback: return "fallback";
    case UpdateStatus::kNone: return "none";
  }
  return "none";
}

int rollout_bucket(const std::string& device_id, const std::string& model) {
  Sha256 h;
  h.update("modelcast-rollout\n" + model + "\n" + device_id);
  Digest d = h.finish();
  uint64_t x = 0;
  for (int i = 0; i < 8; ++i) x = (x << 8) | d[static_cast<size_t>(i)];
  return static_cast<int>(x % 100);
}

struct Fetcher::Impl {
  std::shared_ptr<HttpTransport> transport;
  std::shared_ptr<Clock> clock;
  std::shared_ptr<FileSystem> fs;
  std::atomic<bool> cancelled{false};
  std::mutex transport_mu;  // one update at a time uses the transport within this process

  // What one update learned, beyond the result.
  struct Outcome {
    bool installed = false;
    std::string etag;        // to remember when the offered version ends up active
    uint64_t etag_version = 0;
    std::string soft_reason;  // "rollout": not an error, but not the newest either
    std::string soft_message;
  };
  Status run_update(const FetcherOptions& options_, const std::string& model, const ModelPaths& paths,
                    const BlobStore& store, ModelState& state, uint64_t active, UpdateResult* result, Outcome* outcome);
};

Fetcher::Fetcher(FetcherOptions options) : options_(std::move(options)), impl_(std::make_unique<Impl>()) {}
Fetcher::~Fetcher() = default;

Result<std::unique_ptr<Fetcher>> Fetcher::create(FetcherOptions o) {
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
  for (const auto& f : o.features) MC_RETURN_IF_ERROR(check_name(f, "feature"));
  if (o.keep_versions < 1) o.keep_versions = 1;
  if (o.max_retries < 0) o.max_retries = 0;
  if (!o.file_system) o.file_system = posix_file_system();
  MC_RETURN_IF_ERROR(o.file_system->make_dirs(o.cache_dir + "/tmp"));
  MC_RETURN_IF_ERROR(o.file_system->make_dirs(o.cache_dir + "/blobs/sha256"));
  o.cache_dir = absolute(o.cache_dir);
  std::unique_ptr<Fetcher> f(new Fetcher(std::move(o)));
  f->impl_->fs = f->options_.file_system;
  f->impl_->transport = f->options_.transport ? f->options_.transport : std::shared_ptr<HttpTransport>(make_default_transport());
  f->impl_->clock = f->options_.clock ? f->options_.clock : system_clock();
  return f;
}

void Fetcher::cancel() {
  impl_->cancelled = true;
  impl_->transport->cancel();
}

Status Fetcher::recover() {
  MC_ASSIGN_OR_RETURN(FileLock lock, FileLock::acquire(options_.cache_dir + "/lock", false));
  BlobStore store{options_.cache_dir};
  MC_RETURN_IF_ERROR(recover_tmp(*impl_->fs, store));
  std::string models = options_.cache_dir + "/models";
  if (!path_exists(models)) return OkStatus();
  // Every model folder under the cache.
  if (DIR* d = ::opendir(models.c_str())) {
    std::vector<std::string> names;
    while (struct dirent* e = ::readdir(d))
      if (e->d_name[0] != '.') names.push_back(e->d_name);
    ::closedir(d);
    for (const auto& n : names) MC_RETURN_IF_ERROR(recover_model(*impl_->fs, ModelPaths{options_.cache_dir, n}));
  }
  return OkStatus();
}

Result<OpenedModel> Fetcher::open(const std::string& model, const OpenOptions& options) const {
  return open_cached_model(options_.cache_dir, model, options);
}

UpdateResult Fetcher::update(const std::string& model) {
  UpdateResult result;
  ModelPaths paths{options_.cache_dir, model};
  auto finish_without_lock = [&](const Status& s) {
    result.reason = status_code_name(s.code());
    result.message = s.message();
    auto active = open_model(paths, {});
    if (active.ok()) {
      result.status = UpdateStatus::kFallback;
      result.version = active->version;
      result.path = active->path;
    } else {
      result.status = UpdateStatus::kNone;
    }
    return result;
  };
  Status name_ok = check_name(model, "model");
  if (!name_ok.ok()) {
    result.status = UpdateStatus::kNone;
    result.reason = status_code_name(name_ok.code());
    result.message = name_ok.message();
    return result;
  }
  std::lock_guard<std::mutex> in_process(impl_->transport_mu);
  impl_->cancelled = false;
  impl_->transport->reset_cancel();

  auto lock = FileLock::acquire(paths.lock_path(), options_.wait_for_lock);
  if (!lock.ok()) return finish_without_lock(lock.status());

  FileSystem& fs = *impl_->fs;
  BlobStore store{options_.cache_dir};
  const bool first_use = !path_exists(paths.versions_dir());
  Status s = fs.make_dirs(paths.versions_dir());
  // New folders must survive a power cut once a version inside them becomes current.
  if (s.ok() && first_use) s = fs.sync_dir(paths.model_dir());
  if (s.ok() && first_use) s = fs.sync_dir(parent_dir(paths.model_dir()));
  if (s.ok() && first_use) s = fs.sync_dir(options_.cache_dir);
  if (s.ok()) s = recover_model(fs, paths);
  if (s.ok()) s = recover_tmp(fs, store);
  if (!s.ok()) return finish_without_lock(s);

  ModelState state = read_state(paths);
  const ModelState on_disk = state;
  uint64_t active = 0;
  std::string active_path;
  if (auto opened = open_model(paths, {}); opened.ok()) {
    active = opened->version;
    active_path = opened->path;
  }
  state.active_version = active;
  state.highest_seen = std::max(state.highest_seen, active);

  Impl::Outcome outcome;
  s = impl_->run_update(options_, model, paths, store, state, active, &result, &outcome);

  if (s.ok() && outcome.etag_version > 0) {
    state.etag = outcome.etag;
    state.etag_version = outcome.etag_version;
  }
  // Only an install or a failure part-way through can have changed what is active.
  result.version = active;
  result.path = active_path;
  if (outcome.installed || !s.ok()) {
    auto now_active = open_model(paths, {});
    result.version = now_active.ok() ? now_active->version : 0;
    result.path = now_active.ok() ? now_active->path : std::string();
  }
  const bool have_model = result.version > 0;
  if (!s.ok()) {
    result.status = have_model ? UpdateStatus::kFallback : UpdateStatus::kNone;
    result.reason = status_code_name(s.code());
    result.message = s.message();
  } else if (outcome.installed) {
    result.status = UpdateStatus::kUpdated;
  } else {
    result.status = have_model ? UpdateStatus::kCurrent : UpdateStatus::kNone;
    result.reason = outcome.soft_reason;
    result.message = outcome.soft_message;
  }
  state.active_version = result.version;
  state.last_check = impl_->clock->now_unix();
  state.last_status = update_status_name(result.status);
  state.last_reason = result.reason;
  state.last_message = result.message;
  // A check that changed nothing but the time is recorded at most once a minute: each
  // record costs two fsyncs, and an app may check often (a 304 should cost nothing).
  const bool same = state.highest_seen == on_disk.highest_seen && state.etag == on_disk.etag &&
                    state.etag_version == on_disk.etag_version && state.last_status == on_disk.last_status &&
                    state.last_reason == on_disk.last_reason && state.last_message == on_disk.last_message;
  const bool recent = state.last_check >= on_disk.last_check && state.last_check - on_disk.last_check < kStateRefreshSeconds;
  // Failing to record the check (a full disk) changes nothing about the active model.
  if (!same || !recent) (void)write_state(fs, paths, state);
  return result;
}

Status Fetcher::Impl::run_update(const FetcherOptions& options_, const std::string& model, const ModelPaths& paths,
                                 const BlobStore& store, ModelState& state, uint64_t active, UpdateResult* result,
                                 Outcome* outcome) {
  FileSystem& fs = *this->fs;
  HttpRequest base;
  base.user_agent = std::string("modelcast-fetch/") + MODELCAST_VERSION + " (" + model + "; v" + std::to_string(active) +
                    "; " + options_.platform + ")";
  base.connect_timeout_ms = options_.connect_timeout_ms;
  base.low_speed_time_ms = options_.low_speed_time_ms;

  // 1. The manifest: a conditional GET, size-limited.
  ManifestSink sink;
  sink.url = options_.base_url + "/manifests/" + model + "/" + options_.channel + "/" + options_.platform + ".json";
  HttpRequest req = base;
  req.url = sink.url;
  req.total_timeout_ms = options_.manifest_timeout_ms;
  if (active > 0 && state.etag_version == active && !state.etag.empty()) req.if_none_match = state.etag;
  MC_RETURN_IF_ERROR(transport->get(req, sink));
  if (sink.response.status == 304) {
    result->not_modified = true;
    result->offered_version = active;
    outcome->etag = state.etag;
    outcome->etag_version = active;
    return OkStatus();
  }

  // 2. Authentic, meant for us, fresh, newer.
  auto parsed = parse_signed_manifest(sink.body);
  if (!parsed.ok()) return parsed.status().with_context(sink.url);
  SignedManifest& sm = parsed.value();
  const Manifest& m = sm.manifest;
  MC_RETURN_IF_ERROR(verify_signatures(sm, options_.trusted_keys, options_.threshold).with_context(sink.url));
  if (m.model != model || m.channel != options_.channel || m.platform != options_.platform)
    return error(StatusCode::kSignature, sink.url + ": signed for " + m.model + "/" + m.channel + "/" + m.platform +
                                             ", not for the requested " + model + "/" + options_.channel + "/" +
                                             options_.platform);
  result->offered_version = m.version;
  MC_RETURN_IF_ERROR(check_fresh(m, clock->now_unix()));
  if (m.version < state.highest_seen || m.version < active)
    return error(StatusCode::kRollback, sink.url + ": offers v" + std::to_string(m.version) + ", but v" +
                                            std::to_string(std::max(state.highest_seen, active)) + " was already seen");
  if (m.version == active) {
    outcome->etag = sink.response.etag;
    outcome->etag_version = active;
    return OkStatus();
  }
  if (m.version > state.highest_seen) {
    // Persist the rollback floor before anything else can fail.
    state.highest_seen = m.version;
    MC_RETURN_IF_ERROR(write_state(fs, paths, state));
  }

  // 3. Does this device support it?
  if (!m.requirements.min_app_version.empty()) {
    if (options_.app_version.empty())
      return error(StatusCode::kIncompatible, "v" + std::to_string(m.version) + " requires app version " +
                                                  m.requirements.min_app_version + "; this app did not declare its version");
    if (compare_app_versions(options_.app_version, m.requirements.min_app_version) < 0)
      return error(StatusCode::kIncompatible, "v" + std::to_string(m.version) + " requires app version " +
                                                  m.requirements.min_app_version + ", this app is " + options_.app_version);
  }
  if (!m.requirements.runtime.empty() && !options_.runtimes.empty() && !contains(options_.runtimes, m.requirements.runtime))
    return error(StatusCode::kIncompatible, "v" + std::to_string(m.version) + " requires runtime " + m.requirements.runtime);
  for (const auto* list : {&m.requirements.features, &m.config.features})
    for (const auto& feature : *list)
      if (!contains(options_.features, feature))
        return error(StatusCode::kUnsupportedFeature,
                     "v" + std::to_string(m.version) + " needs feature \"" + feature + "\", which this app does not support");
  if (m.rollout_percent && *m.rollout_percent < 100) {
    int bucket = options_.device_id.empty() ? 100 : rollout_bucket(options_.device_id, model);
    if (bucket >= *m.rollout_percent) {
      outcome->soft_reason = "rollout";
      outcome->soft_message = "v" + std::to_string(m.version) + " is rolled out to " + std::to_string(*m.rollout_percent) +
                              "% of devices; this one is not among them";
      return OkStatus();
    }
  }

  // 4. Download what the cache lacks.
  std::vector<const FileEntry*> needed;
  std::set<std::string> seen_hashes;
  Progress progress;
  progress.model = model;
  for (const auto& f : m.files) {
    if (have_blob(store, f)) {
      result->files_reused++;
    } else if (seen_hashes.insert(f.sha256).second) {
      needed.push_back(&f);
      progress.bytes_total += f.stored_size;
    }
  }
  progress.file_count = needed.size();
  DownloadParams dp;
  dp.transport = transport.get();
  dp.fs = &fs;
  dp.store = store;
  dp.base_url = options_.base_url;
  dp.request_template = base;
  dp.max_retries = options_.max_retries;
  dp.on_bytes = [&](uint64_t n) -> Status {
    progress.bytes_done += n;
    if (cancelled) return error(StatusCode::kCancelled, "update cancelled");
    if (options_.progress && !options_.progress(progress)) return error(StatusCode::kCancelled, "update cancelled by the app");
    return OkStatus();
  };
  for (size_t i = 0; i < needed.size(); ++i) {
    progress.file_index = i;
    progress.file = needed[i]->path;
    DownloadStats stats;
    Status s = download_blob(dp, *needed[i], &stats);
    result->bytes_downloaded += stats.wire_bytes;
    if (!s.ok()) return s;
    result->files_downloaded++;
  }

  // 5. The config must fit the model it describes before the version can become current.
#ifdef MODELCAST_HAVE_MODEL_INFO
  {
    Status first_mismatch;
    bool any_tflite = false, fits = false;
    for (const auto& f : m.files) {
      std::string blob = store.blob_path(f.sha256);
      if (!looks_like_tflite(blob)) continue;
      any_tflite = true;
      auto info = read_tflite_file(blob);
      Status st = info.ok() ? check_config_fits(m.config, info.value(), f.path) : info.status().with_context(f.path);
      if (st.ok()) {
        fits = true;
        break;
      }
      if (first_mismatch.ok()) first_mismatch = st;
    }
    if (any_tflite && !fits) {
      if (first_mismatch.code() != StatusCode::kConfigMismatch)
        first_mismatch = Status(StatusCode::kConfigMismatch, first_mismatch.message());
      return first_mismatch.with_context("v" + std::to_string(m.version));
    }
  }
#endif

  // 6. Build the folder, swap `current`, tidy up.
  MC_ASSIGN_OR_RETURN(std::string dir, build_version(fs, store, paths, sm, sink.body));
  MC_RETURN_IF_ERROR(activate_version(fs, paths, m.version));
  outcome->installed = true;
  outcome->etag = sink.response.etag;
  outcome->etag_version = m.version;
  // The swap is durable; failures from here on only leave extra files behind.
  (void)prune_versions(fs, paths, options_.keep_versions);
  (void)gc_blobs(fs, store);
  (void)clear_tmp(fs, store);
  (void)dir;
  return OkStatus();
}

Result<OpenedModel> open_cached_model(const std::string& cache_dir, const std::string& model, const OpenOptions& options) {
  MC_RETURN_IF_ERROR(check_name(model, "model"));
  return open_model(ModelPaths{absolute(cache_dir), model}, options);
}

Result<ModelState> read_model_state(const std::string& cache_dir, const std::string& model) {
  MC_RETURN_IF_ERROR(check_name(model, "model"));
  ModelPaths paths{absolute(cache_dir), model};
  ModelState s = read_state(paths);
  auto opened = open_model(paths, {});
  s.active_version = opened.ok() ? opened->version : 0;
  return s;
}

}  // namespace modelcast
