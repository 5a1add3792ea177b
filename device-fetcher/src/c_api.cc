// The C API: a thin shell over modelcast::Fetcher that never lets an exception out.
#include <cstring>
#include <exception>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "modelcast/fetcher.h"
#include "modelcast/modelcast_fetch.h"

struct mc_fetcher {
  std::unique_ptr<modelcast::Fetcher> fetcher;
  std::string last_error;
  modelcast::UpdateResult last_result;
};

struct mc_model {
  modelcast::OpenedModel opened;
  std::string config_text;
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
    case StatusCode::kIncompatible: return MC_EVERIFY;
    case StatusCode::kExists: return MC_EIO;
  }
  return MC_EINTERNAL;
}

void copy_error(char* buf, size_t len, const std::string& message) {
  if (!buf || len == 0) return;
  size_t n = std::min(len - 1, message.size());
  std::memcpy(buf, message.data(), n);
  buf[n] = '\0';
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
  if (!options || version != MC_FETCH_OPTIONS_VERSION) return MC_EINVALID;
  mc_fetch_options defaults = MC_FETCH_OPTIONS_INIT;
  *options = defaults;
  return MC_OK;
}

int mc_fetcher_new(mc_fetcher** out, const mc_fetch_options* o, char* errbuf, size_t errbuf_len) {
  std::string message;
  if (out) *out = nullptr;
  int rc = guarded(&message, [&]() -> int {
    if (!out || !o) {
      message = "mc_fetcher_new: NULL argument";
      return MC_EINVALID;
    }
    if (o->version != MC_FETCH_OPTIONS_VERSION) {
      message = "mc_fetch_options.version " + std::to_string(o->version) + " is not supported (expected " +
                std::to_string(MC_FETCH_OPTIONS_VERSION) + ")";
      return MC_EINVALID;
    }
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

int mc_fetcher_update(mc_fetcher* f, const char* model, mc_update_result* result) {
  if (!f) return MC_EINVALID;
  return guarded(&f->last_error, [&]() -> int {
    if (!model || !result) {
      f->last_error = "mc_fetcher_update: NULL argument";
      return MC_EINVALID;
    }
    f->last_result = f->fetcher->update(model);
    const auto& r = f->last_result;
    std::memset(result, 0, sizeof *result);
    switch (r.status) {
      case modelcast::UpdateStatus::kUpdated: result->status = MC_STATUS_UPDATED; break;
      case modelcast::UpdateStatus::kCurrent: result->status = MC_STATUS_CURRENT; break;
      case modelcast::UpdateStatus::kFallback: result->status = MC_STATUS_FALLBACK; break;
      case modelcast::UpdateStatus::kNone: result->status = MC_STATUS_NONE; break;
    }
    result->version = r.version;
    result->path = r.path.c_str();
    result->reason = r.reason.c_str();
    result->message = r.message.c_str();
    result->offered_version = r.offered_version;
    result->bytes_downloaded = r.bytes_downloaded;
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

int mc_fetcher_open(mc_fetcher* f, const char* model, mc_model** out) {
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
const char* mc_model_config_json(const mc_model* m) { return m ? m->config_text.c_str() : nullptr; }
size_t mc_model_file_count(const mc_model* m) { return m ? m->opened.files.size() : 0; }
const char* mc_model_file_name(const mc_model* m, size_t i) {
  return m && i < m->opened.files.size() ? m->opened.files[i].path.c_str() : nullptr;
}
const char* mc_model_file_path(const mc_model* m, size_t i) {
  return m && i < m->opened.files.size() ? m->opened.files[i].full_path.c_str() : nullptr;
}
void mc_model_free(mc_model* m) { delete m; }

const char* mc_version(void) { return MODELCAST_VERSION; }

}  // extern "C"
