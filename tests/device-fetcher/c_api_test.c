/* The C API from plain C: options, errors, update, open, cancellation through the
 * progress callback. Usage: c_api_test FIXTURE_DIR (written by make_fixture_tree). */
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
  char path[4096], url[4096], cache[4096], cache2[4096];
  snprintf(path, sizeof path, "%s/key.pub", argv[1]);
  snprintf(url, sizeof url, "file://%s/tree", argv[1]);
  snprintf(cache, sizeof cache, "%s/cache", argv[1]);
  snprintf(cache2, sizeof cache2, "%s/cache-cancel", argv[1]);
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

  EXPECT(mc_fetcher_new(&f, &opts, err, sizeof err) == MC_OK);
  if (!f) {
    fprintf(stderr, "mc_fetcher_new: %s\n", err);
    return 1;
  }

  mc_model* m = NULL;
  EXPECT(mc_fetcher_open(f, "classifier", &m) == MC_ENOMODEL);
  EXPECT(m == NULL);
  EXPECT(strlen(mc_fetcher_last_error(f)) > 0);

  mc_update_result r;
  EXPECT(mc_fetcher_update(f, "classifier", &r) == MC_OK);
  EXPECT(r.status == MC_STATUS_UPDATED);
  EXPECT(r.version == 1);
  EXPECT(strstr(r.path, "/models/classifier/versions/1") != NULL);
  EXPECT(strcmp(r.reason, "") == 0);
  EXPECT(r.bytes_downloaded > 0);
  EXPECT(progress_calls > 0);

  EXPECT(mc_fetcher_update(f, "classifier", &r) == MC_OK);
  EXPECT(r.status == MC_STATUS_CURRENT);
  EXPECT(r.bytes_downloaded == 0);

  EXPECT(mc_fetcher_update(f, "../etc", &r) == MC_ENOMODEL);
  EXPECT(r.status == MC_STATUS_NONE);
  EXPECT(strcmp(r.reason, "invalid-argument") == 0);
  EXPECT(mc_fetcher_update(f, NULL, &r) == MC_EINVALID);

  EXPECT(mc_fetcher_open(f, "classifier", &m) == MC_OK);
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
    EXPECT(mc_fetcher_update(f, "classifier", &r) == MC_ENOMODEL);
    EXPECT(r.status == MC_STATUS_NONE);
    EXPECT(strcmp(r.reason, "cancelled") == 0);
    EXPECT(cancels == 1);
    mc_fetcher_cancel(f); /* harmless when idle */
  }
  mc_fetcher_free(f);
  mc_fetcher_free(NULL);
  mc_model_free(NULL);
  EXPECT(strcmp(mc_version(), "") != 0);

  free(pem);
  if (failures) fprintf(stderr, "%d check(s) failed\n", failures);
  return failures ? 1 : 0;
}
