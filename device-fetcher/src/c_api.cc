// The C API: a thin shell over modelcast::Fetcher that never lets an exception out.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "callback_transport.h"
#include "modelcast/cache_admin.h"
#include "modelcast/fetcher.h"
#include "modelcast/modelcast_fetch.h"
#include "transports.h"

struct mc_fetcher {
  std::unique_ptr<modelcast::Fetcher> fetcher;
  std::string last_error;
  modelcast::UpdateResult last_result;
};

struct mc_model {
  modelcast::OpenedModel opened;
  std::string config_text;
};

struct mc_cache_list {
  std::vector<modelcast::CachedModel> models;
};

namespace {

int code_for(modelcast::StatusCode code) {
  using modelcast::StatusCode;
  switch (code) {
    case StatusCode::kOk: return MC_OK;
    case StatusCode::kInvalidArgument: return MC_EINVALID;
    case StatusCode::kNotFound: return MC_ENOMODEL;
    case StatusCode::kIOError: return MC_EIO;
    case StatusCode::kNetwork: return MC_ENETWORK;
    case StatusCode::kBusy: return MC_EBUSY;
    case StatusCode::kCancelled: return MC_ECANCELLED;
    case StatusCode::kCorruption:
    case StatusCode::kSignature:
    case StatusCode::kExpired:
    case StatusCode::kRollback:
    case StatusCode::kHashMismatch:
    case StatusCode::kConfigMismatch:
    case StatusCode::kUnsupportedFeature:
    case StatusCode::kIncompatible:
    case StatusCode::kUnsupported:
    case StatusCode::kHealthCheck: return MC_EVERIFY;
    case StatusCode::kExists: return MC_EIO;
    case StatusCode::kInternal:
    case StatusCode::kOutOfMemory: return MC_EINTERNAL;
  }
  return MC_EINTERNAL;
}

void copy_error(char* buf, size_t len, const std::string& message) {
  if (!buf || len == 0) return;
  size_t n = std::min(len - 1, message.size());
  std::memcpy(buf, message.data(), n);
  buf[n] = '\0';
}

// Bytes of each struct version a caller may have compiled against (0: unknown version).
size_t options_size(unsigned int version) {
  switch (version) {
    case 1: return offsetof(mc_fetch_options, transport);
    case 2: return offsetof(mc_fetch_options, health_check);
    case 3: return offsetof(mc_fetch_options, os_version);
    case 4: return offsetof(mc_fetch_options, deadline_rate_bytes);
    case 5: return sizeof(mc_fetch_options);
  }
  return 0;
}
size_t result_size(unsigned int version) {
  switch (version) {
    case 1: return offsetof(mc_update_result, not_modified);
    case 2: return offsetof(mc_update_result, retries);
    case 3: return sizeof(mc_update_result);
  }
  return 0;
}

// Runs `body`, turning any exception into MC_EINTERNAL with its text in *message.
template <typename F>
int guarded(std::string* message, F&& body) {
  try {
    return body();
  } catch (const std::bad_alloc&) {
    if (message) *message = "out of memory";
  } catch (const std::exception& e) {
    if (message) *message = std::string("internal error: ") + e.what();
  } catch (...) {
    if (message) *message = "internal error";
  }
  return MC_EINTERNAL;
}

}  // namespace

extern "C" {

int mc_fetch_options_init(mc_fetch_options* options, unsigned int version) {
  size_t n = options_size(version);
  if (!options || n == 0) return MC_EINVALID;
  const mc_fetch_options defaults = MC_FETCH_OPTIONS_INIT;
  std::memcpy(options, &defaults, n);
  options->version = version;
  return MC_OK;
}

int mc_update_result_init(mc_update_result* result, unsigned int version) {
  size_t n = result_size(version);
  if (!result || n == 0) return MC_EINVALID;
  const mc_update_result empty = MC_UPDATE_RESULT_INIT;
  std::memcpy(result, &empty, n);
  result->version = version;
  return MC_OK;
}

int mc_fetcher_new(mc_fetcher** out, const mc_fetch_options* caller_options, char* errbuf, size_t errbuf_len) {
  std::string message;
  if (out) *out = nullptr;
  int rc = guarded(&message, [&]() -> int {
    if (!out || !caller_options) {
      message = "mc_fetcher_new: NULL argument";
      return MC_EINVALID;
    }
    // An older caller's struct is shorter: read only its bytes, defaults for the rest.
    size_t n = options_size(caller_options->version);
    if (n == 0) {
      message = "mc_fetch_options.version " + std::to_string(caller_options->version) +
                " is not supported (this library knows 1 to " + std::to_string(MC_FETCH_OPTIONS_VERSION) + ")";
      return MC_EINVALID;
    }
    mc_fetch_options copy = MC_FETCH_OPTIONS_INIT;
    std::memcpy(&copy, caller_options, n);
    const mc_fetch_options* o = &copy;
    modelcast::FetcherOptions fo;
    fo.base_url = o->base_url ? o->base_url : "";
    fo.cache_dir = o->cache_dir ? o->cache_dir : "";
    for (size_t i = 0; i < o->pubkey_count; ++i) {
      if (!o->pubkey_pems || !o->pubkey_pems[i]) {
        message = "pubkey_pems[" + std::to_string(i) + "] is NULL";
        return MC_EINVALID;
      }
      auto key = modelcast::PublicKey::from_pem(o->pubkey_pems[i], "pubkey_pems[" + std::to_string(i) + "]");
      if (!key.ok()) {
        message = key.status().message();
        return MC_EINVALID;
      }
      fo.trusted_keys.push_back(std::move(key).value());
    }
    fo.threshold = o->threshold;
    fo.platform = o->platform ? o->platform : "";
    if (o->channel) fo.channel = o->channel;
    if (o->app_version) fo.app_version = o->app_version;
    for (size_t i = 0; i < o->feature_count; ++i)
      if (o->features && o->features[i]) fo.features.push_back(o->features[i]);
    if (o->device_id) fo.device_id = o->device_id;
    if (o->connect_timeout_ms > 0) fo.connect_timeout_ms = o->connect_timeout_ms;
    if (o->low_speed_time_ms > 0) fo.low_speed_time_ms = o->low_speed_time_ms;
    if (o->keep_versions > 0) fo.keep_versions = static_cast<size_t>(o->keep_versions);
    fo.wait_for_lock = o->wait_for_lock != 0;
    if (o->progress) {
      mc_progress_cb cb = o->progress;
      void* payload = o->progress_payload;
      fo.progress = [cb, payload](const modelcast::Progress& p) {
        return cb(p.bytes_done, p.bytes_total, p.file.c_str(), payload) == 0;
      };
    }
    if (o->transport) fo.transport = modelcast::make_dispatching_transport(modelcast::make_callback_transport(o->transport, o->transport_payload));
    fo.conditions.allow_metered = o->allow_metered != 0;
    fo.network_metered = o->network_metered != 0;
    fo.conditions.max_update_bytes = o->max_update_bytes;
    if (o->health_check) {
      mc_health_check_cb cb = o->health_check;
      void* payload = o->health_check_payload;
      fo.health_check = [cb, payload](const std::string& dir, uint64_t version, std::string* why) {
        char buf[512] = {0};
        if (cb(dir.c_str(), version, buf, sizeof buf, payload) == 0) return true;
        buf[sizeof buf - 1] = '\0';
        *why = buf;
        return false;
      };
    }
    fo.max_cache_bytes = o->max_cache_bytes;
    if (o->install_token) fo.install_token = o->install_token;
    if (o->os_version) fo.os_version = o->os_version;
    if (o->deadline_rate_bytes > 0)
      fo.deadline_rate_bytes = static_cast<int64_t>(std::min<uint64_t>(o->deadline_rate_bytes, INT64_MAX));
    auto fetcher = modelcast::Fetcher::create(std::move(fo));
    if (!fetcher.ok()) {
      message = fetcher.status().message();
      return code_for(fetcher.status().code());
    }
    auto handle = std::make_unique<mc_fetcher>();
    handle->fetcher = std::move(fetcher).value();
    *out = handle.release();
    return MC_OK;
  });
  if (rc != MC_OK) copy_error(errbuf, errbuf_len, message);
  else copy_error(errbuf, errbuf_len, "");
  return rc;
}

void mc_fetcher_free(mc_fetcher* fetcher) {
  try {
    delete fetcher;
  } catch (...) {
  }
}

int mc_fetcher_update(mc_update_result* result, mc_fetcher* f, const char* model) {
  if (!f) return MC_EINVALID;
  return guarded(&f->last_error, [&]() -> int {
    if (!model || !result) {
      f->last_error = "mc_fetcher_update: NULL argument";
      return MC_EINVALID;
    }
    const size_t n = result_size(result->version);
    if (n == 0) {
      f->last_error = "mc_update_result.version " + std::to_string(result->version) +
                      " is not supported (this library knows 1 to " + std::to_string(MC_UPDATE_RESULT_VERSION) + ")";
      return MC_EINVALID;
    }
    f->last_result = f->fetcher->update(model);
    const auto& r = f->last_result;
    mc_update_result full = MC_UPDATE_RESULT_INIT;
    switch (r.status) {
      case modelcast::UpdateStatus::kUpdated: full.status = MC_STATUS_UPDATED; break;
      case modelcast::UpdateStatus::kCurrent: full.status = MC_STATUS_CURRENT; break;
      case modelcast::UpdateStatus::kFallback: full.status = MC_STATUS_FALLBACK; break;
      case modelcast::UpdateStatus::kNone: full.status = MC_STATUS_NONE; break;
    }
    full.version = result->version;
    full.active_version = r.version;
    full.path = r.path.c_str();
    full.reason = r.reason.c_str();
    full.message = r.message.c_str();
    full.offered_version = r.offered_version;
    full.bytes_downloaded = r.bytes_downloaded;
    full.not_modified = r.not_modified ? 1 : 0;
    full.files_downloaded = r.files_downloaded;
    full.files_reused = r.files_reused;
    full.bytes_needed = r.bytes_needed;
    full.retries = r.retries;
    full.retry_after_s = r.retry_after_s;
    std::memcpy(result, &full, n);  // never more than the caller's version has
    f->last_error = r.message;
    if (r.status == modelcast::UpdateStatus::kNone) {
      if (f->last_error.empty()) f->last_error = "no usable version of " + std::string(model);
      return MC_ENOMODEL;
    }
    return MC_OK;
  });
}

void mc_fetcher_cancel(mc_fetcher* f) {
  if (!f) return;
  try {
    f->fetcher->cancel();
  } catch (...) {
  }
}

void mc_fetcher_set_network_metered(mc_fetcher* f, int metered) {
  if (f) f->fetcher->set_network_metered(metered != 0);
}

int mc_fetcher_open(mc_model** out, mc_fetcher* f, const char* model) {
  if (!f) return MC_EINVALID;
  if (out) *out = nullptr;
  return guarded(&f->last_error, [&]() -> int {
    if (!model || !out) {
      f->last_error = "mc_fetcher_open: NULL argument";
      return MC_EINVALID;
    }
    auto opened = f->fetcher->open(model);
    if (!opened.ok()) {
      f->last_error = opened.status().message();
      return opened.status().code() == modelcast::StatusCode::kInvalidArgument ? MC_EINVALID : MC_ENOMODEL;
    }
    auto m = std::make_unique<mc_model>();
    m->opened = std::move(opened).value();
    m->config_text = m->opened.config_json.dump();
    *out = m.release();
    f->last_error.clear();
    return MC_OK;
  });
}

const char* mc_fetcher_last_error(const mc_fetcher* f) { return f ? f->last_error.c_str() : ""; }

uint64_t mc_model_version(const mc_model* m) { return m ? m->opened.version : 0; }
const char* mc_model_path(const mc_model* m) { return m ? m->opened.path.c_str() : nullptr; }
const char* mc_model_root(const mc_model* m) { return m ? m->opened.root.c_str() : nullptr; }
const char* mc_model_config_json(const mc_model* m) { return m ? m->config_text.c_str() : nullptr; }
size_t mc_model_file_count(const mc_model* m) { return m ? m->opened.files.size() : 0; }
const char* mc_model_file_name(const mc_model* m, size_t i) {
  return m && i < m->opened.files.size() ? m->opened.files[i].path.c_str() : nullptr;
}
const char* mc_model_file_path(const mc_model* m, size_t i) {
  return m && i < m->opened.files.size() ? m->opened.files[i].full_path.c_str() : nullptr;
}
void mc_model_free(mc_model* m) { delete m; }

int mc_cache_list_models(mc_cache_list** out, const char* cache_dir, char* errbuf, size_t errbuf_len) {
  std::string message;
  if (out) *out = nullptr;
  int rc = guarded(&message, [&]() -> int {
    if (!out || !cache_dir) {
      message = "mc_cache_list_models: NULL argument";
      return MC_EINVALID;
    }
    auto listed = modelcast::list_cached_models(cache_dir);
    if (!listed.ok()) {
      message = listed.status().message();
      return code_for(listed.status().code());
    }
    auto list = std::make_unique<mc_cache_list>();
    list->models = std::move(listed).value();
    *out = list.release();
    return MC_OK;
  });
  copy_error(errbuf, errbuf_len, rc == MC_OK ? std::string() : message);
  return rc;
}
size_t mc_cache_list_count(const mc_cache_list* l) { return l ? l->models.size() : 0; }
const char* mc_cache_list_name(const mc_cache_list* l, size_t i) {
  return l && i < l->models.size() ? l->models[i].model.c_str() : nullptr;
}
uint64_t mc_cache_list_active_version(const mc_cache_list* l, size_t i) {
  return l && i < l->models.size() ? l->models[i].active_version : 0;
}
uint64_t mc_cache_list_bytes(const mc_cache_list* l, size_t i) { return l && i < l->models.size() ? l->models[i].bytes : 0; }
void mc_cache_list_free(mc_cache_list* l) { delete l; }

int mc_cache_remove_model(const char* cache_dir, const char* model, int wait_for_lock, char* errbuf, size_t errbuf_len) {
  std::string message;
  int rc = guarded(&message, [&]() -> int {
    if (!cache_dir || !model) {
      message = "mc_cache_remove_model: NULL argument";
      return MC_EINVALID;
    }
    modelcast::Status s = modelcast::remove_cached_model(cache_dir, model, wait_for_lock != 0);
    if (!s.ok()) message = s.message();
    return code_for(s.code());
  });
  copy_error(errbuf, errbuf_len, rc == MC_OK ? std::string() : message);
  return rc;
}

const char* mc_version(void) { return MODELCAST_VERSION; }
unsigned int mc_version_number(void) { return MODELCAST_VERSION_NUMBER; }

}  // extern "C"
