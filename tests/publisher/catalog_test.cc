// The catalog page and index.json: escaping, links that resolve, download sizes, the
// history's words, and the page's size budget.
#include <doctest/doctest.h>

#include <regex>
#include <set>

#include "catalog.h"
#include "modelcast/fs.h"
#include "publisher_test_util.h"

using namespace modelcast;
using namespace modelcast::test;

namespace {

RunResult publish(const Fixture& f, const std::string& model, const std::string& platform, std::vector<std::string> extra) {
  std::vector<std::string> args = {"publish", f.tree, "--model", model, "--platform", platform, "--config", f.config,
                                   "--key",   f.key,  "--quiet"};
  args.insert(args.end(), extra.begin(), extra.end());
  return run_cli(args);
}

// Every href of the page, in order.
std::vector<std::string> hrefs(const std::string& html) {
  std::vector<std::string> out;
  static const std::regex kHref("href=\"([^\"]*)\"");
  for (auto it = std::sregex_iterator(html.begin(), html.end(), kHref); it != std::sregex_iterator(); ++it)
    out.push_back((*it)[1]);
  return out;
}

}  // namespace

TEST_CASE("catalog html escapes markup characters") {
  CHECK(html_escape("<a href=\"x\">&'</a>") == "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;");
}

TEST_CASE("every string from a manifest is escaped in the page, in text and in attribute values") {
  const std::string evil = "\"><img src=x onerror=alert(1)>'\x1b[2J\xe2\x80\xae";
  Json tensor = {{"name", evil}, {"dtype", evil}, {"shape", {1, 2}}, {"labels", {evil, "ok"}}};
  Json current = {{"version", 2},
                  {"published_at", "2026-11-26T06:00:00Z"},
                  {"expires_at", "2026-12-26T06:00:00Z"},
                  {"rollout", nullptr},
                  {"size", 2000},
                  {"download_size", 1000},
                  {"manifest", "manifests/m/beta/ios.json"},
                  {"signers", {"ab"}},
                  {"config", {{"inputs", Json::array()}, {"outputs", {tensor}}, {"features", {evil}}, {"metadata", {{evil, evil}}}}},
                  {"requires", {{"features", {evil}}, {"runtime", evil}, {"min_app_version", evil}}},
                  {"files",
                   {{{"path", evil},
                     {"sha256", "00"},
                     {"size", 2000},
                     {"download", {{"encoding", evil}, {"stored_size", 1000}, {"url", "blobs/x"}}},
                     {"download_size", 1000},
                     {"deltas", Json::array()}}}}};
  Json catalog = {{"schema", kCatalogSchema},
                  {"generated_at", "2026-11-26T06:00:00Z"},
                  {"base_url", evil},
                  {"keys", Json::array()},
                  {"models",
                   {{{"model", evil},
                     {"channel", evil},
                     {"platform", evil},
                     {"current", current},
                     {"versions",
                      {{{"version", 2},
                        {"published_at", evil},
                        {"download_size", 1000},
                        {"manifest", "manifests/m/beta/ios/2.json"},
                        {"previous_version", 1},
                        {"changes", {evil}}}}}}}}};
  const std::string html = render_catalog_html(catalog);
  CHECK(html.find("<img") == std::string::npos);
  CHECK(html.find("\"><img") == std::string::npos);  // no attribute value closed early
  CHECK(html.find("onerror=alert(1)&gt;") != std::string::npos);
  CHECK(html.find("&quot;&gt;&lt;img src=x onerror=alert(1)&gt;&#39;") != std::string::npos);
  CHECK(html.find('\x1b') == std::string::npos);
  CHECK(html.find("\xe2\x80\xae") == std::string::npos);
  CHECK(html.find("\\x1b[2J\\u{202E}") != std::string::npos);
  CHECK(html.find("{{") == std::string::npos);
  CHECK(html.rfind("<!DOCTYPE html>", 0) == 0);
}

TEST_CASE("the catalog of a real tree: config, download sizes, parts, deltas, rollout, signers, history, and every link is a file") {
  TempDir dir;
  Fixture f = make_fixture(dir);
  set_file_limit(f.tree, 100000);
  write_random(dir / "big.bin", 250000, 3);
  write_random(dir / "small.bin", 60000, 4);
  REQUIRE(publish(f, "split", "android", {dir / "big.bin", dir / "small.bin"}).exit_code == 0);
  std::string bytes = read_text(dir / "small.bin");
  for (size_t i = bytes.size() - 1000; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i * 7);
  write_text(dir / "small.bin", bytes);
  write_text(f.config, config_json({"<img src=x onerror=alert(1)>", "wolf"}));
  RunResult p2 = publish(f, "split", "android", {"--rollout", "20", dir / "big.bin", dir / "small.bin"});
  REQUIRE_MESSAGE(p2.exit_code == 0, p2.err);

  Json index = Json::parse(read_text(f.tree + "/index.json"));
  CHECK(index["schema"] == "modelcast/index/2");
  CHECK(index["keys"] == Json::array({{{"keyid", f.key_id}, {"url", "keys/" + f.key_id + ".pub"}}}));
  REQUIRE(index["models"].size() == 1);
  const Json& c = index["models"][0]["current"];
  CHECK(c["version"] == 2);
  CHECK(c["rollout"] == Json{{"percent", 20}, {"fallback_version", 1}});
  CHECK(c["signers"] == Json::array({f.key_id}));
  CHECK(c["config"]["outputs"][0]["labels"][0] == "<img src=x onerror=alert(1)>");
  REQUIRE(c["files"].size() == 2);
  const Json& big = c["files"][0];
  CHECK(!big.contains("url"));  // stored only as parts: no blob URL that would 404
  CHECK(big["download"]["parts"].size() == 3);
  const Json& small = c["files"][1];
  CHECK(small["download_size"] == small["download"]["stored_size"]);
  REQUIRE(!small["deltas"].empty());
  CHECK(small["deltas"][0]["from_version"] == 1);
  const Json& history = index["models"][0]["versions"];
  REQUIRE(history.size() == 2);
  CHECK(history[0]["changes"].dump().find("output scores label 0: negative -> <img src=x onerror=alert(1)>") != std::string::npos);
  CHECK(history[0]["changes"].dump().find("rollout: everyone -> 20%") != std::string::npos);
  CHECK(history[1]["changes"].empty());

  const std::string html = read_text(f.tree + "/index.html");
  CHECK(html.find("&lt;img src=x onerror=alert(1)&gt;") != std::string::npos);
  CHECK(html.find("<img") == std::string::npos);
  CHECK(html.find("20% of devices; the others get v1 (fallback)") != std::string::npos);
  CHECK(html.find("modelcast-fetch update --url https://models.example.com/ --cache models --model split --platform android "
                  "--pubkey publisher.pub") != std::string::npos);
  CHECK(html.find("mc_fetcher_update(&amp;r, f, &quot;split&quot;)") != std::string::npos);
  CHECK(html.find("href=\"keys/\"") == std::string::npos);
  std::set<std::string> linked;
  for (const auto& h : hrefs(html)) {
    CAPTURE(h);
    CHECK(h.find("://") == std::string::npos);  // no outside asset or link
    CHECK(h.find("..") == std::string::npos);
    CHECK(path_exists(f.tree + "/" + h));
    linked.insert(h);
  }
  for (const auto& p : big["download"]["parts"]) CHECK(linked.count(p["url"].get<std::string>()) == 1);
  CHECK(linked.count(small["deltas"][0]["url"].get<std::string>()) == 1);
  CHECK(linked.count("keys/" + f.key_id + ".pub") == 1);
  CHECK(linked.count("index.json") == 1);
  CHECK(linked.count("manifests/split/stable/android/1.json") == 1);
}

TEST_CASE("the catalog page with 50 streams stays under 100 KB, with no outside asset") {
  TempDir dir;
  Fixture f = make_fixture(dir);
  write_text(f.config, config_json({"negative", "neutral", "positive"}));
  write_random(dir / "model.bin", 4000, 9);
  for (int i = 0; i < 25; ++i)
    for (const char* platform : {"android", "ios"}) {
      RunResult r = publish(f, "sentiment-model-" + std::to_string(i), platform, {dir / "model.bin"});
      REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    }
  // A second version of one stream, so the page carries a history with changes too.
  write_text(f.config, config_json({"negative", "neutral", "very-positive"}));
  REQUIRE(publish(f, "sentiment-model-0", "android", {dir / "model.bin"}).exit_code == 0);
  const std::string html = read_text(f.tree + "/index.html");
  Json index = Json::parse(read_text(f.tree + "/index.json"));
  CHECK(index["models"].size() == 50);
  MESSAGE("index.html with 50 streams: " << html.size() << " bytes");
  CHECK(html.size() < 100 * 1000);
  CHECK(html.find("src=") == std::string::npos);  // the page is the only asset: inline style and script
  CHECK(html.find("<link") == std::string::npos);
}
