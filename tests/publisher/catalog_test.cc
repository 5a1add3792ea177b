// The catalog page: escaping and template filling.
#include <doctest/doctest.h>

#include "catalog.h"

using namespace modelcast;

TEST_CASE("catalog html escapes markup characters") {
  CHECK(html_escape("<a href=\"x\">&'</a>") == "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;");
}

TEST_CASE("the catalog page renders every stream from index.json data, with no placeholder left") {
  Json catalog = {
      {"schema", kCatalogSchema},
      {"generated_at", "2026-11-26T06:00:00Z"},
      {"base_url", ""},
      {"models",
       {{{"model", "sentiment"},
         {"channel", "beta"},
         {"platform", "ios"},
         {"versions",
          {{{"version", 2}, {"published_at", "t2"}, {"expires_at", "e2"}, {"files", 1}, {"size", 2000}, {"stored_size", 1000},
            {"manifest", "manifests/sentiment/beta/ios/2.json"}}}},
         {"current",
          {{"version", 2},
           {"published_at", "2026-11-26T06:00:00Z"},
           {"expires_at", "2026-12-26T06:00:00Z"},
           {"size", 2000},
           {"stored_size", 1000},
           {"manifest", "manifests/sentiment/beta/ios.json"},
           {"files",
            {{{"path", "model.tflite"}, {"size", 2000}, {"stored_size", 1000}, {"encoding", "zstd"}, {"url", "blobs/x.zst"}}}}}}}}}};
  std::string html = render_catalog_html(catalog);
  CHECK(html.find("<td>sentiment</td><td>beta</td><td>ios</td>") != std::string::npos);
  CHECK(html.find("href=\"manifests/sentiment/beta/ios.json\">2</a>") != std::string::npos);
  CHECK(html.find("1 model stream(s), 1 version(s)") != std::string::npos);
  CHECK(html.find("{{") == std::string::npos);
  CHECK(html.find("<!DOCTYPE html>") == 0);
}
