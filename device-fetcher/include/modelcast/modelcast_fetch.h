/* modelcast_fetch.h: the C API of the device fetcher, for JNI, Swift and plain C.
 *
 * HowTo:
 *   mc_fetch_options opts = MC_FETCH_OPTIONS_INIT;
 *   opts.base_url = "https://models.example.com"; opts.cache_dir = "/data/app/models";
 *   opts.pubkey_pems = &pem; opts.pubkey_count = 1; opts.platform = "android-arm64";
 *   mc_fetcher* f = NULL; char err[256];
 *   if (mc_fetcher_new(&f, &opts, err, sizeof err) < 0) { report(err); }
 *   mc_update_result r;
 *   int rc = mc_fetcher_update(f, "classifier", &r);   // 0: a usable model is active
 *   mc_model* m = NULL;
 *   if (mc_fetcher_open(f, "classifier", &m) == 0) { load(mc_model_path(m)); mc_model_free(m); }
 *   mc_fetcher_free(f);
 *
 * Conventions (libgit2's): opaque handles; output parameter first after the handle;
 * functions return 0 or a negative MC_E* code and never throw or abort; the handle keeps
 * a one-line message of its last error (mc_fetcher_last_error). Options structs start
 * with a `version` field so later fields can be added without breaking old callers.
 * Strings returned by a handle stay valid until the next call on that handle (or until
 * the mc_model is freed). A handle may be used by one thread at a time, except
 * mc_fetcher_cancel, which any thread may call. Every *_free accepts NULL.
 */
#ifndef MODELCAST_FETCH_H_
#define MODELCAST_FETCH_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Error codes (negative). */
#define MC_OK 0
#define MC_EINVALID -1     /* bad argument or option */
#define MC_ENOMODEL -2     /* no usable model version is active */
#define MC_EIO -3          /* the cache's file system refused */
#define MC_ENETWORK -4
#define MC_EVERIFY -5      /* signature, hash, expiry, rollback, compatibility */
#define MC_EBUSY -6        /* another updater holds the cache lock (wait_for_lock = 0) */
#define MC_ECANCELLED -7
#define MC_EINTERNAL -8    /* unexpected failure (out of memory, a bug); see the message */

/* mc_update_result.status */
#define MC_STATUS_UPDATED 0
#define MC_STATUS_CURRENT 1
#define MC_STATUS_FALLBACK 2
#define MC_STATUS_NONE 3

/* Called on the updating thread. Return nonzero to cancel the update. */
typedef int (*mc_progress_cb)(uint64_t bytes_done, uint64_t bytes_total, const char* file, void* payload);

#define MC_FETCH_OPTIONS_VERSION 1
typedef struct mc_fetch_options {
  unsigned int version; /* MC_FETCH_OPTIONS_VERSION */
  const char* base_url;
  const char* cache_dir;
  const char* const* pubkey_pems; /* PEM text of trusted Ed25519 public keys */
  size_t pubkey_count;
  size_t threshold;               /* 0 or 1: one trusted signature */
  const char* platform;
  const char* channel;            /* NULL: "stable" */
  const char* app_version;        /* NULL: unknown */
  const char* const* features;
  size_t feature_count;
  const char* device_id;          /* NULL: joins only 100% rollouts */
  int connect_timeout_ms;         /* 0: 10000 */
  int low_speed_time_ms;          /* 0: 30000 */
  int keep_versions;              /* 0: 2 */
  int wait_for_lock;              /* nonzero: wait for another updater */
  mc_progress_cb progress;
  void* progress_payload;
} mc_fetch_options;

#define MC_FETCH_OPTIONS_INIT \
  { MC_FETCH_OPTIONS_VERSION, NULL, NULL, NULL, 0, 1, NULL, NULL, NULL, NULL, 0, NULL, 0, 0, 0, 1, NULL, NULL }

/* Fills `options` with the defaults of MC_FETCH_OPTIONS_INIT; MC_EINVALID on an unknown version. */
int mc_fetch_options_init(mc_fetch_options* options, unsigned int version);

typedef struct mc_fetcher mc_fetcher;
typedef struct mc_model mc_model;

typedef struct mc_update_result {
  int status;               /* MC_STATUS_* */
  uint64_t version;         /* active afterwards; 0 when none */
  const char* path;         /* its folder; "" when none */
  const char* reason;       /* "" or e.g. "hash-mismatch", "network", "rollout" */
  const char* message;      /* one line */
  uint64_t offered_version; /* the server's version; 0 when not read */
  uint64_t bytes_downloaded;
} mc_update_result;

/* On failure *out is NULL and errbuf (when not NULL) holds the message. */
int mc_fetcher_new(mc_fetcher** out, const mc_fetch_options* options, char* errbuf, size_t errbuf_len);
void mc_fetcher_free(mc_fetcher* fetcher);

/* MC_OK when a usable model is active afterwards (updated, current or fallback: see
 * result->status), MC_ENOMODEL when none; result strings live until the next call. */
int mc_fetcher_update(mc_fetcher* fetcher, const char* model, mc_update_result* result);

/* Thread-safe: stops a running update, which then reports reason "cancelled". */
void mc_fetcher_cancel(mc_fetcher* fetcher);

/* Offline: the active version. MC_ENOMODEL when there is none. */
int mc_fetcher_open(mc_fetcher* fetcher, const char* model, mc_model** out);

/* Message of the last failing call on this handle ("" when none). */
const char* mc_fetcher_last_error(const mc_fetcher* fetcher);

uint64_t mc_model_version(const mc_model* model);
const char* mc_model_path(const mc_model* model);          /* version folder */
const char* mc_model_config_json(const mc_model* model);   /* signed.config as JSON text */
size_t mc_model_file_count(const mc_model* model);
const char* mc_model_file_name(const mc_model* model, size_t index); /* relative; NULL if out of range */
const char* mc_model_file_path(const mc_model* model, size_t index); /* absolute; NULL if out of range */
void mc_model_free(mc_model* model);

/* "0.1.0" */
const char* mc_version(void);

#ifdef __cplusplus
}
#endif

#endif /* MODELCAST_FETCH_H_ */
