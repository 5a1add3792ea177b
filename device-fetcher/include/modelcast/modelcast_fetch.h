/* modelcast_fetch.h: the C API of the device fetcher, for JNI, Swift and plain C.
 *
 * HowTo:
 *   mc_fetch_options opts = MC_FETCH_OPTIONS_INIT;
 *   opts.base_url = "https://models.example.com"; opts.cache_dir = "/data/app/models";
 *   opts.pubkey_pems = &pem; opts.pubkey_count = 1; opts.platform = "android-arm64";
 *   mc_fetcher* f = NULL; char err[256];
 *   if (mc_fetcher_new(&f, &opts, err, sizeof err) < 0) { report(err); }
 *   mc_update_result r = MC_UPDATE_RESULT_INIT;
 *   int rc = mc_fetcher_update(&r, f, "classifier");   // 0: a usable model is active
 *   mc_model* m = NULL;
 *   if (mc_fetcher_open(&m, f, "classifier") == 0) { load(mc_model_path(m)); mc_model_free(m); }
 *   mc_fetcher_free(f);
 *
 * Conventions (libgit2's and zstd's):
 * - Output parameters come first: mc_fetcher_update(&result, fetcher, "classifier").
 * - Functions return MC_OK (0) or a negative MC_E* code. They never throw, never abort and
 *   never exit, whatever the input.
 * - Opaque handles. Every *_free accepts NULL.
 * - Structs that cross the boundary (mc_fetch_options, mc_update_result,
 *   mc_download_conditions, mc_http_request) start with `unsigned int version`. Fill it
 *   with the *_INIT macro or the *_init() function of the header you compile against. A
 *   library newer than your header accepts your older version: it reads only the fields
 *   your version has (later ones take their defaults) and writes only the bytes of
 *   your version's result struct. A version newer than the library is refused with
 *   MC_EINVALID.
 * - Strings the library returns are owned by the library: they stay valid until the
 *   next call on the same handle (or until the mc_model is freed). Copy what you keep.
 *   Strings you pass in are copied before the call returns.
 * - Threads: one mc_fetcher may be used by one thread at a time, except
 *   mc_fetcher_cancel and mc_fetcher_set_network_metered, which any thread may call at
 *   any time. Different handles are independent, and several may share one cache folder:
 *   updates of different models run at the same time, two updates of one model are
 *   serialised by lock files (also across processes). mc_model
 *   handles are read-only and may be read from any thread.
 * - Hostile input: everything the server sends (manifests, headers, bodies) is checked
 *   before use; a wrong byte ends an update in MC_STATUS_FALLBACK (or _NONE) with a
 *   reason, never in a crash, and the active model stays in use.
 *
 * Symbols: MC_EXTERN marks the public functions; the shared library exports nothing else
 * (built with -fvisibility=hidden).
 */
#ifndef MODELCAST_FETCH_H_
#define MODELCAST_FETCH_H_

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
#define MC_EXTERN __declspec(dllexport)
#elif defined(__GNUC__) || defined(__clang__)
#define MC_EXTERN __attribute__((visibility("default")))
#else
#define MC_EXTERN
#endif

/* The version of this header. Compare MODELCAST_VERSION_NUMBER (compile time) with
 * mc_version_number() (the library actually loaded). */
#define MODELCAST_VERSION_MAJOR 0
#define MODELCAST_VERSION_MINOR 1
#define MODELCAST_VERSION_PATCH 0
#define MODELCAST_VERSION_NUMBER \
  (MODELCAST_VERSION_MAJOR * 10000 + MODELCAST_VERSION_MINOR * 100 + MODELCAST_VERSION_PATCH)

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
#define MC_EBUSY -6        /* wait_for_lock = 0, and this model is being updated or the cache is held exclusive */
#define MC_ECANCELLED -7
#define MC_EINTERNAL -8    /* unexpected failure (out of memory, a bug); see the message */

/* mc_update_result.status */
#define MC_STATUS_UPDATED 0
#define MC_STATUS_CURRENT 1
#define MC_STATUS_FALLBACK 2
#define MC_STATUS_NONE 3

/* "0.1.0" and 100 (MAJOR*10000 + MINOR*100 + PATCH) of the loaded library. */
MC_EXTERN const char* mc_version(void);
MC_EXTERN unsigned int mc_version_number(void);

/* Called on the updating thread. Return nonzero to cancel the update. */
typedef int (*mc_progress_cb)(uint64_t bytes_done, uint64_t bytes_total, const char* file, void* payload);

/* ---- The transport callback: the app's own HTTP stack (OkHttp, URLSession, Cronet) ----
 *
 * When mc_fetch_options.transport is set, the library performs no network I/O itself:
 * every GET (the manifest, each model file) is one call of the callback, on the
 * updating thread. The callback performs the request and streams the answer back:
 *
 *   sink->status(sink->ctx, 200)                            once, first
 *   sink->header(sink->ctx, "ETag", "\"abc\"")              any number; the library reads
 *                                                           ETag, Content-Length, Content-Range
 *   sink->body(sink->ctx, bytes, n)                         any number of chunks
 *
 * and returns MC_OK when the exchange completed, whatever the HTTP status (a 404 or a
 * 304 is an answer, not a failure); MC_ENETWORK when the connection failed or the body
 * was cut short; MC_ECANCELLED when the app cancelled. Each sink function returns 0 to
 * go on; a nonzero value (the library refuses the answer, e.g. more bytes than the
 * manifest declares, or mc_fetcher_cancel was called) means: stop the transfer and
 * return that value. The callback must send exactly the headers the request asks for:
 * If-None-Match when if_none_match is not NULL, "Range: bytes=<range_start>-" when
 * range_start > 0, and User-Agent; it must follow redirects itself and must not
 * decompress (no transparent Content-Encoding: bodies are hashed as received). file://
 * URLs never reach the callback: the library reads them itself.
 *
 * The request and the sink are valid only during the call. Strings passed to the sink
 * are copied. Everything passed to the sink is treated as hostile (checked, bounded). */
#define MC_HTTP_REQUEST_VERSION 1
typedef struct mc_http_request {
  unsigned int version;      /* MC_HTTP_REQUEST_VERSION of the library */
  const char* url;           /* http:// or https:// */
  const char* if_none_match; /* NULL, or the ETag to send as If-None-Match */
  uint64_t range_start;      /* > 0: send "Range: bytes=<range_start>-" */
  const char* user_agent;
  int connect_timeout_ms;
  int low_speed_time_ms;     /* abandon a transfer stalled this long */
  int total_timeout_ms;      /* 0: no whole-request deadline */
} mc_http_request;

typedef struct mc_http_sink {
  void* ctx;
  int (*status)(void* ctx, int http_status);
  int (*header)(void* ctx, const char* name, const char* value);
  int (*body)(void* ctx, const void* data, size_t size);
} mc_http_sink;

typedef int (*mc_transport_cb)(const mc_http_request* request, const mc_http_sink* sink, void* payload);

/* Called with a new version's folder before it goes live (on the updating thread; bound
 * your own time). Return 0 when the model works; nonzero fails the version: the old one
 * stays active, the update reports reason "health-check", and this manifest is not
 * downloaded again. `why` (why_len bytes, may be written, NUL-terminated) says why. */
typedef int (*mc_health_check_cb)(const char* version_dir, uint64_t version, char* why, size_t why_len, void* payload);

/* ---- Options ---- */
#define MC_FETCH_OPTIONS_VERSION 5
typedef struct mc_fetch_options {
  unsigned int version; /* MC_FETCH_OPTIONS_VERSION */
  /* version 1 */
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
  /* version 2 */
  mc_transport_cb transport;      /* NULL: libcurl (when built with it) */
  void* transport_payload;
  int allow_metered;              /* nonzero (default): model downloads may use a metered network */
  int network_metered;            /* nonzero: the network is metered now (see mc_fetcher_set_network_metered) */
  uint64_t max_update_bytes;      /* 0: no limit; otherwise an update needing more is deferred */
  /* version 3 */
  mc_health_check_cb health_check; /* NULL: none */
  void* health_check_payload;
  uint64_t max_cache_bytes;       /* 0: no limit; older versions go first, never the active one */
  const char* install_token;      /* NULL: none; a random per-install token (never a hardware id) */
  /* version 4 */
  const char* os_version;         /* the device's OS version on `platform`, e.g. "17.4"; NULL: unknown,
                                     so a version with a minimum OS is refused (reason "unsupported") */
  /* version 5 */
  uint64_t deadline_rate_bytes;   /* 0: 32768. One update's downloads may take 60 s + the declared
                                     bytes at this rate (bytes/s); the update holds its locks meanwhile */
} mc_fetch_options;

#define MC_FETCH_OPTIONS_INIT                                                                     \
  { MC_FETCH_OPTIONS_VERSION, NULL, NULL, NULL, 0, 1, NULL, NULL, NULL, NULL, 0, NULL, 0, 0, 0, 1, \
    NULL, NULL, NULL, NULL, 1, 0, 0, NULL, NULL, 0, NULL, NULL, 0 }

/* Fills `options` with the defaults of MC_FETCH_OPTIONS_INIT for `version` (1 to 5);
 * MC_EINVALID on an unknown version. */
MC_EXTERN int mc_fetch_options_init(mc_fetch_options* options, unsigned int version);

/* ---- Results ---- */
#define MC_UPDATE_RESULT_VERSION 3
typedef struct mc_update_result {
  unsigned int version;      /* MC_UPDATE_RESULT_VERSION: how many bytes the library may write */
  /* version 1 */
  int status;                /* MC_STATUS_* */
  uint64_t active_version;   /* active afterwards; 0 when none */
  const char* path;          /* its folder; "" when none */
  const char* reason;        /* "" or e.g. "hash-mismatch", "network", "rollout", "deferred" */
  const char* message;       /* one line */
  uint64_t offered_version;  /* the server's version; 0 when not read */
  uint64_t bytes_downloaded;
  /* version 2 */
  int not_modified;          /* the server answered 304 */
  uint64_t files_downloaded;
  uint64_t files_reused;     /* already in the cache */
  uint64_t bytes_needed;     /* stored bytes the offered version needed (set when deferred too) */
  /* version 3 */
  uint64_t retries;          /* requests repeated within this update after network failures */
  double retry_after_s;      /* after reason "network": seconds to wait before the next check
                                (the server's Retry-After, else growing and jittered); else 0 */
} mc_update_result;

#define MC_UPDATE_RESULT_INIT { MC_UPDATE_RESULT_VERSION, 0, 0, NULL, NULL, NULL, 0, 0, 0, 0, 0, 0, 0, 0.0 }
MC_EXTERN int mc_update_result_init(mc_update_result* result, unsigned int version);

typedef struct mc_fetcher mc_fetcher;
typedef struct mc_model mc_model;

/* Creates a handle: checks the options, creates the cache folders. On failure *out is
 * NULL and errbuf (when not NULL) holds the one-line message. Copies every option
 * string; the options struct may be freed afterwards. */
MC_EXTERN int mc_fetcher_new(mc_fetcher** out, const mc_fetch_options* options, char* errbuf, size_t errbuf_len);
/* Not while a call on the handle runs. NULL is fine. */
MC_EXTERN void mc_fetcher_free(mc_fetcher* fetcher);

/* Checks the server and installs a newer version when there is one. MC_OK when a usable
 * model is active afterwards (updated, current or fallback: see result->status),
 * MC_ENOMODEL when none, MC_EINVALID for NULL arguments or a result version newer than
 * the library. Result strings live until the next call on the handle. A download held
 * back by the download conditions (metered network, max_update_bytes) downloads nothing
 * and reports reason "deferred" with status CURRENT (or NONE when no model is active). */
MC_EXTERN int mc_fetcher_update(mc_update_result* result, mc_fetcher* fetcher, const char* model);

/* Thread-safe, any time: stops a running update, which then reports reason "cancelled".
 * A transport callback sees its next sink call return MC_ECANCELLED. */
MC_EXTERN void mc_fetcher_cancel(mc_fetcher* fetcher);

/* Thread-safe, any time: whether the network is metered now (read at the next update). */
MC_EXTERN void mc_fetcher_set_network_metered(mc_fetcher* fetcher, int metered);

/* Offline, no lock: the active version. MC_ENOMODEL when there is none. */
MC_EXTERN int mc_fetcher_open(mc_model** out, mc_fetcher* fetcher, const char* model);

/* Message of the last failing call on this handle ("" when none; never NULL). */
MC_EXTERN const char* mc_fetcher_last_error(const mc_fetcher* fetcher);

MC_EXTERN uint64_t mc_model_version(const mc_model* model);
MC_EXTERN const char* mc_model_path(const mc_model* model);          /* version folder */
/* What the app loads: the single top-level folder when every file lies in one (a Core ML
 * .mlpackage for MLModel.compileModel(at:), a SavedModel for tf.saved_model.load), else
 * the version folder. */
MC_EXTERN const char* mc_model_root(const mc_model* model);
MC_EXTERN const char* mc_model_config_json(const mc_model* model);   /* signed.config as JSON text */
MC_EXTERN size_t mc_model_file_count(const mc_model* model);
MC_EXTERN const char* mc_model_file_name(const mc_model* model, size_t index); /* relative; NULL if out of range */
MC_EXTERN const char* mc_model_file_path(const mc_model* model, size_t index); /* absolute; NULL if out of range */
MC_EXTERN void mc_model_free(mc_model* model);

/* ---- The cache: list and remove models (offline; no keys needed) ---- */
typedef struct mc_cache_list mc_cache_list;

/* Every model with a folder in the cache. *out is NULL on failure (a missing cache folder
 * is an empty list, not an error). */
MC_EXTERN int mc_cache_list_models(mc_cache_list** out, const char* cache_dir, char* errbuf, size_t errbuf_len);
MC_EXTERN size_t mc_cache_list_count(const mc_cache_list* list);
MC_EXTERN const char* mc_cache_list_name(const mc_cache_list* list, size_t index);   /* NULL if out of range */
MC_EXTERN uint64_t mc_cache_list_active_version(const mc_cache_list* list, size_t index); /* 0: none */
MC_EXTERN uint64_t mc_cache_list_bytes(const mc_cache_list* list, size_t index); /* bytes of its kept versions */
MC_EXTERN void mc_cache_list_free(mc_cache_list* list);

/* Removes a model's folder (all its versions and state) under the cache lock, then the
 * blobs no other model uses. MC_ENOMODEL when the model is not in the cache; MC_EBUSY when
 * wait_for_lock is 0 and an update runs. Files an app already opened stay readable. */
MC_EXTERN int mc_cache_remove_model(const char* cache_dir, const char* model, int wait_for_lock, char* errbuf,
                                    size_t errbuf_len);

#ifdef __cplusplus
}
#endif

#endif /* MODELCAST_FETCH_H_ */
