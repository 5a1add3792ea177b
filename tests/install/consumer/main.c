/* An app using the installed C API: installs the fixture's model from a file:// tree
 * and opens it. Usage: consumer_c FIXTURE_DIR CACHE_DIR. Prints "v<version> <files>". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <modelcast/modelcast_fetch.h>

int main(int argc, char** argv) {
  if (argc != 3) return 2;
  if (mc_version_number() != MODELCAST_VERSION_NUMBER) {
    fprintf(stderr, "header %d, library %u\n", MODELCAST_VERSION_NUMBER, mc_version_number());
    return 1;
  }
  char path[4096], url[4096];
  snprintf(path, sizeof path, "%s/key.pub", argv[1]);
  snprintf(url, sizeof url, "file://%s/tree", argv[1]);
  FILE* f = fopen(path, "rb");
  if (!f) return 1;
  static char pem[4096];
  pem[fread(pem, 1, sizeof pem - 1, f)] = '\0';
  fclose(f);
  const char* pems[1] = {pem};
  mc_fetch_options o = MC_FETCH_OPTIONS_INIT;
  o.base_url = url;
  o.cache_dir = argv[2];
  o.pubkey_pems = pems;
  o.pubkey_count = 1;
  o.platform = "android-arm64";
  o.app_version = "1.0";
  mc_fetcher* fetcher = NULL;
  char err[256];
  if (mc_fetcher_new(&fetcher, &o, err, sizeof err) != MC_OK) {
    fprintf(stderr, "%s\n", err);
    return 1;
  }
  mc_update_result r = MC_UPDATE_RESULT_INIT;
  int rc = mc_fetcher_update(&r, fetcher, "classifier");
  mc_model* m = NULL;
  if (rc == MC_OK && mc_fetcher_open(&m, fetcher, "classifier") == MC_OK)
    printf("v%llu %zu\n", (unsigned long long)mc_model_version(m), mc_model_file_count(m));
  else
    fprintf(stderr, "update: %s\n", r.message ? r.message : mc_fetcher_last_error(fetcher));
  mc_model_free(m);
  mc_fetcher_free(fetcher);
  return rc == MC_OK ? 0 : 1;
}
