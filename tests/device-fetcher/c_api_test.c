/* The C API from plain C: options (current and older struct versions), errors, update,
 * open, cancellation through the progress callback, the transport callback (an HTTP
 * stand-in serving the fixture tree with ETags, 304s and ranges), download conditions,
 * listing and removing cached models.
 * Usage: c_api_test FIXTURE_DIR (written by make_fixture_tree). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "modelcast/modelcast_fetch.h"

static int failures = 0;

#define EXPECT(cond)                                                  \
  do {                                                                \
    if (!(cond)) {                                                    \
      fprintf(stderr, "%s:%d: failed: %s\n", __FILE__, __LINE__, #cond); \
      failures++;                                                     \
    }                                                                 \
  } while (0)

static char* read_text(const char* path) {
  FILE* f = fopen(path, "rb");
  if (!f) return NULL;
  char* buf = malloc(65536);
  size_t n = fread(buf, 1, 65535, f);
  buf[n] = '\0';
  fclose(f);
  return buf;
}

/* mc_fetch_options as version 1 of the header declared it: a library must accept it. */
typedef struct options_v1 {
  unsigned int version;
  const char* base_url;
  const char* cache_dir;
  const char* const* pubkey_pems;
  size_t pubkey_count;
  size_t threshold;
  const char* platform;
  const char* channel;
  const char* app_version;
  const char* const* features;
  size_t feature_count;
  const char* device_id;
  int connect_timeout_ms;
  int low_speed_time_ms;
  int keep_versions;
  int wait_for_lock;
  mc_progress_cb progress;
  void* progress_payload;
} options_v1;

/* mc_update_result version 1 followed by bytes the library must not touch. */
typedef struct result_v1_guarded {
  unsigned int version;
  int status;
  uint64_t active_version;
  const char* path;
  const char* reason;
  const char* message;
  uint64_t offered_version;
  uint64_t bytes_downloaded;
  unsigned char canary[64];
} result_v1_guarded;

/* The app's "HTTP stack": serves http://fixture/<path> from FIXTURE/tree with a
 * content-derived ETag, answers If-None-Match with 304 and Range with 206. */
typedef struct fake_http {
  const char* root;      /* FIXTURE/tree */
  int requests;
  int conditional;       /* requests that carried If-None-Match */
  int cancel_in_body;    /* nonzero: report MC_ECANCELLED from the first body chunk on */
  int body_refused;      /* a sink call returned nonzero */
  int retry_after;       /* > 0: answer 503 with this Retry-After */
} fake_http;

static int fake_transport(const mc_http_request* req, const mc_http_sink* sink, void* payload) {
  fake_http* h = (fake_http*)payload;
  h->requests++;
  const char* prefix = "http://fixture/";
  if (req->version < 1 || strncmp(req->url, prefix, strlen(prefix)) != 0) return MC_ENETWORK;
  if (h->retry_after > 0) {
    char seconds[32];
    snprintf(seconds, sizeof seconds, "%d", h->retry_after);
    int rc = sink->status(sink->ctx, 503);
    return rc == 0 ? sink->header(sink->ctx, "Retry-After", seconds) : rc;
  }
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", h->root, req->url + strlen(prefix));
  FILE* f = fopen(path, "rb");
  if (!f) return sink->status(sink->ctx, 404);
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  char etag[64];
  snprintf(etag, sizeof etag, "\"%lx\"", (unsigned long)size);
  if (req->if_none_match) {
    h->conditional++;
    if (strcmp(req->if_none_match, etag) == 0) {
      fclose(f);
      return sink->status(sink->ctx, 304);
    }
  }
  long start = (long)req->range_start;
  int rc = sink->status(sink->ctx, start > 0 ? 206 : 200);
  char value[128];
  if (rc == 0) rc = sink->header(sink->ctx, "ETag", etag);
  snprintf(value, sizeof value, "%ld", size - start);
  if (rc == 0) rc = sink->header(sink->ctx, "content-length", value);
  if (rc == 0 && start > 0) {
    snprintf(value, sizeof value, "bytes %ld-%ld/%ld", start, size - 1, size);
    rc = sink->header(sink->ctx, "Content-Range", value);
  }
  fseek(f, start, SEEK_SET);
  char buf[10000]; /* odd chunk size: chunk boundaries fall anywhere */
  size_t n;
  while (rc == 0 && (n = fread(buf, 1, sizeof buf, f)) > 0) {
    if (h->cancel_in_body) {
      fclose(f);
      return MC_ECANCELLED;
    }
    rc = sink->body(sink->ctx, buf, n);
  }
  fclose(f);
  if (rc != 0) h->body_refused++;
  return rc;
}

/* A health check that fails every version, remembering what it was shown. */
static char checked_dir[4096];
static uint64_t checked_version = 0;
static int reject_version(const char* dir, uint64_t version, char* why, size_t why_len, void* payload) {
  (*(int*)payload)++;
  snprintf(checked_dir, sizeof checked_dir, "%s", dir);
  checked_version = version;
  snprintf(why, why_len, "scores are all zero");
  return 1;
}

static int progress_calls = 0;
static int count_progress(uint64_t done, uint64_t total, const char* file, void* payload) {
  (void)payload;
  if (done <= total && file != NULL) progress_calls++;
  return 0;
}
static int cancel_at_once(uint64_t done, uint64_t total, const char* file, void* payload) {
  (void)done;
  (void)total;
  (void)file;
  (*(int*)payload)++;
  return 1;
}

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: c_api_test FIXTURE_DIR\n");
    return 2;
  }
  char path[4096], url[4096], cache[4096], cache2[4096], cache3[4096], root[4096];
  snprintf(path, sizeof path, "%s/key.pub", argv[1]);
  snprintf(url, sizeof url, "file://%s/tree", argv[1]);
  snprintf(cache, sizeof cache, "%s/cache", argv[1]);
  snprintf(cache2, sizeof cache2, "%s/cache-cancel", argv[1]);
  snprintf(cache3, sizeof cache3, "%s/cache-callback", argv[1]);
  snprintf(root, sizeof root, "%s/tree", argv[1]);
  char* pem = read_text(path);
  if (!pem) {
    fprintf(stderr, "cannot read %s\n", path);
    return 1;
  }
  const char* pems[1] = {pem};

  mc_fetch_options opts;
  EXPECT(mc_fetch_options_init(&opts, 999) == MC_EINVALID);
  EXPECT(mc_fetch_options_init(&opts, MC_FETCH_OPTIONS_VERSION) == MC_OK);
  EXPECT(opts.version == MC_FETCH_OPTIONS_VERSION);
  EXPECT(opts.wait_for_lock == 1);
  EXPECT(opts.allow_metered == 1);
  EXPECT(opts.transport == NULL);
  EXPECT(MODELCAST_VERSION_NUMBER == mc_version_number());

  /* An older header's options struct: init fills only its bytes. */
  options_v1 old;
  memset(&old, 0xAB, sizeof old);
  EXPECT(mc_fetch_options_init((mc_fetch_options*)&old, 1) == MC_OK);
  EXPECT(old.version == 1 && old.threshold == 1 && old.wait_for_lock == 1 && old.progress_payload == NULL);

  /* Missing options: an error message, no handle. */
  char err[256] = "";
  mc_fetcher* f = NULL;
  EXPECT(mc_fetcher_new(&f, &opts, err, sizeof err) == MC_EINVALID);
  EXPECT(f == NULL);
  EXPECT(strlen(err) > 0);

  opts.base_url = url;
  opts.cache_dir = cache;
  opts.pubkey_pems = pems;
  opts.pubkey_count = 1;
  opts.platform = "android-arm64";
  opts.app_version = "1.0";
  opts.progress = count_progress;

  /* A bad key is refused with a message. */
  const char* bad[1] = {"not a key"};
  opts.pubkey_pems = bad;
  EXPECT(mc_fetcher_new(&f, &opts, err, sizeof err) == MC_EINVALID);
  EXPECT(f == NULL);
  opts.pubkey_pems = pems;

  /* The OS version (options version 4) is checked like the app version. */
  opts.os_version = "17.x";
  EXPECT(mc_fetcher_new(&f, &opts, err, sizeof err) == MC_EINVALID);
  EXPECT(f == NULL && strstr(err, "OS version") != NULL);
  opts.os_version = "17.4";

  EXPECT(mc_fetcher_new(&f, &opts, err, sizeof err) == MC_OK);
  if (!f) {
    fprintf(stderr, "mc_fetcher_new: %s\n", err);
    return 1;
  }

  mc_model* m = NULL;
  EXPECT(mc_fetcher_open(&m, f, "classifier") == MC_ENOMODEL);
  EXPECT(m == NULL);
  EXPECT(strlen(mc_fetcher_last_error(f)) > 0);

  mc_update_result r = MC_UPDATE_RESULT_INIT;
  r.version = 99; /* newer than the library */
  EXPECT(mc_fetcher_update(&r, f, "classifier") == MC_EINVALID);
  EXPECT(mc_update_result_init(&r, 99) == MC_EINVALID);
  EXPECT(mc_update_result_init(&r, MC_UPDATE_RESULT_VERSION) == MC_OK);
  EXPECT(mc_fetcher_update(&r, f, "classifier") == MC_OK);
  EXPECT(r.status == MC_STATUS_UPDATED);
  EXPECT(r.active_version == 1);
  EXPECT(r.files_downloaded == 2 && r.not_modified == 0 && r.bytes_needed > 0);
  EXPECT(strstr(r.path, "/models/classifier/versions/1") != NULL);
  EXPECT(strcmp(r.reason, "") == 0);
  EXPECT(r.bytes_downloaded > 0);
  EXPECT(progress_calls > 0);

  /* A version-1 result: the library writes its bytes and not one more. */
  result_v1_guarded r1;
  memset(&r1, 0x5A, sizeof r1);
  EXPECT(mc_update_result_init((mc_update_result*)&r1, 1) == MC_OK);
  EXPECT(r1.canary[0] == 0x5A);
  EXPECT(mc_fetcher_update((mc_update_result*)&r1, f, "classifier") == MC_OK);
  EXPECT(r1.version == 1);
  EXPECT(r1.status == MC_STATUS_CURRENT);
  EXPECT(r1.active_version == 1);
  EXPECT(r1.bytes_downloaded == 0);
  for (size_t i = 0; i < sizeof r1.canary; i++) EXPECT(r1.canary[i] == 0x5A);

  EXPECT(mc_fetcher_update(&r, f, "../etc") == MC_ENOMODEL);
  EXPECT(r.status == MC_STATUS_NONE);
  EXPECT(strcmp(r.reason, "invalid-argument") == 0);
  EXPECT(mc_fetcher_update(&r, f, NULL) == MC_EINVALID);
  EXPECT(mc_fetcher_update(NULL, f, "classifier") == MC_EINVALID);
  EXPECT(mc_fetcher_update(&r, NULL, "classifier") == MC_EINVALID);

  EXPECT(mc_fetcher_open(&m, f, "classifier") == MC_OK);
  if (m) {
    EXPECT(mc_model_version(m) == 1);
    EXPECT(mc_model_file_count(m) == 2);
    EXPECT(mc_model_file_name(m, 2) == NULL);
    for (size_t i = 0; i < mc_model_file_count(m); i++) {
      struct stat st;
      EXPECT(stat(mc_model_file_path(m, i), &st) == 0);
      if (strcmp(mc_model_file_name(m, i), "labels.txt") == 0) {
        char* labels = read_text(mc_model_file_path(m, i));
        EXPECT(labels && strcmp(labels, "cat\ndog\n") == 0);
        free(labels);
      }
    }
    EXPECT(strstr(mc_model_config_json(m), "\"labels\":[\"cat\",\"dog\"]") != NULL);
    EXPECT(strstr(mc_model_path(m), "/versions/1") != NULL);
    /* Two files at the top: the root is the version folder itself. */
    EXPECT(strcmp(mc_model_root(m), mc_model_path(m)) == 0);
  }
  mc_model_free(m);
  mc_fetcher_free(f);

  /* Cancellation from the progress callback: nothing installed, reason "cancelled". */
  int cancels = 0;
  opts.cache_dir = cache2;
  opts.progress = cancel_at_once;
  opts.progress_payload = &cancels;
  f = NULL;
  EXPECT(mc_fetcher_new(&f, &opts, err, sizeof err) == MC_OK);
  if (f) {
    EXPECT(mc_fetcher_update(&r, f, "classifier") == MC_ENOMODEL);
    EXPECT(r.status == MC_STATUS_NONE);
    EXPECT(strcmp(r.reason, "cancelled") == 0);
    EXPECT(cancels == 1);
    mc_fetcher_cancel(f); /* harmless when idle */
  }
  mc_fetcher_free(f);

  /* A version-1 options struct from an older app is accepted (defaults for the rest). */
  memset(&old, 0, sizeof old);
  EXPECT(mc_fetch_options_init((mc_fetch_options*)&old, 1) == MC_OK);
  old.base_url = url;
  old.cache_dir = cache2;
  old.pubkey_pems = pems;
  old.pubkey_count = 1;
  old.platform = "android-arm64";
  old.app_version = "1.0";
  f = NULL;
  EXPECT(mc_fetcher_new(&f, (const mc_fetch_options*)&old, err, sizeof err) == MC_OK);
  if (f) {
    EXPECT(mc_fetcher_update(&r, f, "classifier") == MC_OK);
    EXPECT(r.status == MC_STATUS_UPDATED);
  }
  mc_fetcher_free(f);

  /* The app's transport: every GET goes through the callback, with the conditions. */
  fake_http http;
  memset(&http, 0, sizeof http);
  http.root = root;
  mc_fetch_options cb_opts = MC_FETCH_OPTIONS_INIT;
  cb_opts.base_url = "http://fixture";
  cb_opts.cache_dir = cache3;
  cb_opts.pubkey_pems = pems;
  cb_opts.pubkey_count = 1;
  cb_opts.platform = "android-arm64";
  cb_opts.app_version = "1.0";
  cb_opts.transport = fake_transport;
  cb_opts.transport_payload = &http;
  cb_opts.allow_metered = 0;
  cb_opts.network_metered = 1;
  f = NULL;
  EXPECT(mc_fetcher_new(&f, &cb_opts, err, sizeof err) == MC_OK);
  if (f) {
    /* Metered and not allowed: the manifest is read, nothing else; reason deferred. */
    EXPECT(mc_fetcher_update(&r, f, "classifier") == MC_ENOMODEL);
    EXPECT(r.status == MC_STATUS_NONE);
    EXPECT(strcmp(r.reason, "deferred") == 0);
    EXPECT(strstr(r.message, "metered") != NULL);
    EXPECT(r.bytes_downloaded == 0 && r.bytes_needed > 0);
    /* v2/manifests/... (404: a format 1 tree), the format 1 manifest, and keys/keyset.json
       (404: no key rotation). */
    EXPECT(http.requests == 3);

    mc_fetcher_set_network_metered(f, 0);
    EXPECT(mc_fetcher_update(&r, f, "classifier") == MC_OK);
    EXPECT(r.status == MC_STATUS_UPDATED);
    EXPECT(r.files_downloaded == 2);
    EXPECT(http.requests == 8);

    /* The second check is conditional and answered 304. */
    EXPECT(mc_fetcher_update(&r, f, "classifier") == MC_OK);
    EXPECT(r.status == MC_STATUS_CURRENT);
    EXPECT(r.not_modified == 1);
    EXPECT(http.conditional == 1);

    /* Unavailable for an hour: one request (no retry within the update), the model
       stays, and the app is told when to check again. */
    http.retry_after = 3600;
    int before = http.requests;
    EXPECT(mc_fetcher_update(&r, f, "classifier") == MC_OK);
    EXPECT(r.status == MC_STATUS_FALLBACK);
    EXPECT(strcmp(r.reason, "network") == 0);
    EXPECT(r.retry_after_s == 3600.0);
    EXPECT(r.retries == 0);
    EXPECT(http.requests == before + 1);
    http.retry_after = 0;
  }
  mc_fetcher_free(f);

  /* Over the app's byte limit: deferred, nothing downloaded; a cancelling transport. */
  char cache4[4096];
  snprintf(cache4, sizeof cache4, "%s/cache-limit", argv[1]);
  cb_opts.cache_dir = cache4;
  cb_opts.network_metered = 0;
  cb_opts.max_update_bytes = 1000;
  f = NULL;
  EXPECT(mc_fetcher_new(&f, &cb_opts, err, sizeof err) == MC_OK);
  if (f) {
    EXPECT(mc_fetcher_update(&r, f, "classifier") == MC_ENOMODEL);
    EXPECT(strcmp(r.reason, "deferred") == 0);
    EXPECT(strstr(r.message, "limit of 1000 bytes") != NULL);
    EXPECT(r.bytes_downloaded == 0);
  }
  mc_fetcher_free(f);
  cb_opts.max_update_bytes = 0;
  http.cancel_in_body = 1;
  f = NULL;
  EXPECT(mc_fetcher_new(&f, &cb_opts, err, sizeof err) == MC_OK);
  if (f) {
    EXPECT(mc_fetcher_update(&r, f, "classifier") == MC_ENOMODEL);
    EXPECT(strcmp(r.reason, "cancelled") == 0);
  }
  mc_fetcher_free(f);

  /* A failing health check: nothing goes live, reason health-check, and the same
   * manifest is not downloaded again. */
  char cache5[4096];
  int checks = 0;
  snprintf(cache5, sizeof cache5, "%s/cache-health", argv[1]);
  http.cancel_in_body = 0;
  cb_opts.cache_dir = cache5;
  cb_opts.health_check = reject_version;
  cb_opts.health_check_payload = &checks;
  cb_opts.install_token = "c-api-install-1";
  f = NULL;
  EXPECT(mc_fetcher_new(&f, &cb_opts, err, sizeof err) == MC_OK);
  if (f) {
    EXPECT(mc_fetcher_update(&r, f, "classifier") == MC_ENOMODEL);
    EXPECT(strcmp(r.reason, "health-check") == 0);
    EXPECT(strstr(r.message, "scores are all zero") != NULL);
    EXPECT(checks == 1 && checked_version == 1);
    EXPECT(strstr(checked_dir, "/models/classifier/versions/1") != NULL);
    EXPECT(mc_fetcher_update(&r, f, "classifier") == MC_ENOMODEL);
    EXPECT(strcmp(r.reason, "health-check") == 0);
    EXPECT(r.bytes_downloaded == 0);
    EXPECT(checks == 1);
  }
  mc_fetcher_free(f);
  cb_opts.health_check = NULL;

  /* List and remove. */
  mc_cache_list* list = NULL;
  EXPECT(mc_cache_list_models(&list, cache, err, sizeof err) == MC_OK);
  EXPECT(mc_cache_list_count(list) == 1);
  EXPECT(mc_cache_list_name(list, 0) && strcmp(mc_cache_list_name(list, 0), "classifier") == 0);
  EXPECT(mc_cache_list_active_version(list, 0) == 1);
  EXPECT(mc_cache_list_bytes(list, 0) > 256 * 1024);
  EXPECT(mc_cache_list_name(list, 1) == NULL);
  mc_cache_list_free(list);
  EXPECT(mc_cache_remove_model(cache, "classifier", 1, err, sizeof err) == MC_OK);
  EXPECT(mc_cache_remove_model(cache, "classifier", 1, err, sizeof err) == MC_ENOMODEL);
  EXPECT(strstr(err, "not in the cache") != NULL);
  EXPECT(mc_cache_remove_model(cache, "../x", 1, err, sizeof err) == MC_EINVALID);
  list = NULL;
  EXPECT(mc_cache_list_models(&list, cache, err, sizeof err) == MC_OK);
  EXPECT(mc_cache_list_count(list) == 0);
  mc_cache_list_free(list);

  mc_fetcher_free(NULL);
  mc_model_free(NULL);
  mc_cache_list_free(NULL);
  EXPECT(strcmp(mc_version(), "") != 0);

  free(pem);
  if (failures) fprintf(stderr, "%d check(s) failed\n", failures);
  return failures ? 1 : 0;
}
