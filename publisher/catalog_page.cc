// index.html: the catalog JSON (catalog.cc) as one static page. Everything is rendered
// here, so the page reads fully with JavaScript off; the template's script only adds
// search and filtering. Every string that comes from a manifest passes through text(),
// which shows control and bidi characters escaped and HTML-escapes the rest, also in
// attribute values; tree paths and numbers the publisher derived need no more than
// html_escape.
#include <map>
#include <set>

#include "catalog.h"
#include "display_text.h"
#include "progress.h"

namespace modelcast {

namespace {

constexpr size_t kInlineLabels = 12;

std::string text(const std::string& raw) { return html_escape(display_text(raw)); }
std::string text(const Json& v) { return text(v.is_string() ? v.get<std::string>() : v.dump()); }
std::string size_text(const Json& bytes) { return html_escape(human_size(bytes.get<uint64_t>())); }
std::string link(const Json& rel, const std::string& body) { return "<a href=\"" + html_escape(rel.get<std::string>()) + "\">" + body + "</a>"; }
std::string nw(const std::string& html) { return "<span class=nw>" + html + "</span>"; }

// Replaces each {{name}} of the template by values[name] in one pass, so substituted text
// (which may contain braces from a label) is never scanned again.
std::string fill_template(const std::string& tpl, const std::map<std::string, std::string>& values) {
  std::string out;
  size_t pos = 0;
  for (;;) {
    size_t open = tpl.find("{{", pos);
    if (open == std::string::npos) break;
    size_t close = tpl.find("}}", open + 2);
    if (close == std::string::npos) break;
    out.append(tpl, pos, open - pos);
    auto it = values.find(tpl.substr(open + 2, close - open - 2));
    if (it != values.end()) out += it->second;
    else out.append(tpl, open, close + 2 - open);
    pos = close + 2;
  }
  out.append(tpl, pos, std::string::npos);
  return out;
}

std::string shape_text(const Json& shape) {
  std::string out;
  for (const auto& d : shape) out += (out.empty() ? "" : ",") + d.dump();
  return "[" + out + "]";
}

std::string labels_html(const Json& tensor) {
  if (!tensor.contains("labels")) return "";
  const Json& labels = tensor.at("labels");
  std::string items;
  for (const auto& l : labels) items += (items.empty() ? "" : ", ") + std::string("<q>") + text(l) + "</q>";
  if (labels.size() <= kInlineLabels) return items;
  return "<details><summary>" + std::to_string(labels.size()) + " labels</summary>" + items + "</details>";
}

std::string config_html(const Json& c) {
  const Json& cfg = c.at("config");
  std::string rows;
  for (const char* side : {"inputs", "outputs"})
    for (const auto& t : cfg.at(side))
      rows += std::string("<tr><td>") + (side[0] == 'i' ? "in" : "out") + " <code>" + text(t.at("name")) + "</code><td>" +
              text(t.at("dtype")) + "<td class=nw>" + text(shape_text(t.at("shape"))) + "<td>" + labels_html(t) +
              "";
  std::string out = "<h4>Config</h4><div class=tw><table><tr><th>tensor<th>dtype<th>shape<th>labels" +
                    rows + "</table></div>";
  std::string extra;
  auto list = [&](const Json& arr) {
    std::string s;
    for (const auto& v : arr) s += (s.empty() ? "" : ", ") + std::string("<code>") + text(v) + "</code>";
    return s;
  };
  if (!cfg.at("features").empty()) extra += "<li>features the app computes: " + list(cfg.at("features")) + "";
  const Json& req = c.at("requires");
  if (req.contains("features")) extra += "<li>requires device features: " + list(req.at("features")) + "";
  if (req.contains("min_app_version")) extra += "<li>requires app version ≥ <code>" + text(req.at("min_app_version")) + "</code>";
  if (req.contains("runtime")) extra += "<li>requires runtime <code>" + text(req.at("runtime")) + "</code>";
  for (auto it = cfg.at("metadata").begin(); it != cfg.at("metadata").end(); ++it)
    extra += "<li>metadata <code>" + text(it.key()) + "</code>: <code>" + text(truncate_utf8(
                 it->is_string() ? it->get<std::string>() : it->dump(), 200)) + "</code>";
  if (!extra.empty()) out += "<ul class=cf>" + extra + "</ul>";
  return out;
}

std::string file_download_html(const Json& f) {
  if (!f.contains("download")) return "<code>" + text(f.at("path")) + "</code> (no blob this page knows)";
  const Json& d = f.at("download");
  if (d.contains("url")) return link(d.at("url"), "<code>" + text(f.at("path")) + "</code>");
  std::string parts;
  size_t n = 0;
  for (const auto& p : d.at("parts"))
    parts += " " + link(p.at("url"), "part&nbsp;" + std::to_string(++n)) + " <span class=\"m nw\">" + size_text(p.at("size")) +
             "</span>";
  return "<code>" + text(f.at("path")) + "</code><details><summary>" + std::to_string(n) + " parts</summary>" + parts +
         "</details>";
}

std::string files_html(const Json& c) {
  std::string rows;
  for (const auto& f : c.at("files")) {
    std::string deltas;
    for (const auto& d : f.at("deltas")) {
      std::string from = d.contains("from_version") ? "from v" + d.at("from_version").dump()
                                                    : "from <code>" + html_escape(d.at("from_sha256").get<std::string>().substr(0, 8)) + "</code>";
      deltas += (deltas.empty() ? "" : "<br>") + link(d.at("url"), nw(size_text(d.at("stored_size")))) + " " + from;
    }
    std::string download = f.contains("download") ? size_text(f.at("download_size")) + " <span class=m>" +
                                                        text(f.at("download").at("encoding")) + "</span>"
                                                  : "";
    rows += "<tr><td>" + file_download_html(f) + "<td class=\"n nw\">" + size_text(f.at("size")) + "<td class=\"n nw\">" +
            download + "<td>" + (deltas.empty() ? "none" : deltas) + "";
  }
  return "<h4>Files</h4><div class=tw><table><tr><th>file<th class=n>size<th class=n>download"
         "<th>deltas" +
         rows + "</table></div>";
}

// Key ids shortened to 16 hex digits, each linking its key file (the full id is its name).
std::string keys_html(const Json& ids) {
  std::string out;
  for (const auto& k : ids)
    out += (out.empty() ? "" : " ") + link(Json("keys/" + k.get<std::string>() + ".pub"),
                                           "<code>" + text(k.get<std::string>().substr(0, 16)) + "…</code>");
  return out;
}

// The key file is saved as publisher.pub ("How to fetch" says which one).
std::string fetch_command(const std::string& base_url, const Json& e) {
  const std::string channel = display_text(e.at("channel").get<std::string>());
  return "modelcast-fetch update --url " + (base_url.empty() ? std::string("https://YOUR-HOST/") : display_text(base_url)) +
         " --cache models --model " + display_text(e.at("model").get<std::string>()) + " --platform " +
         display_text(e.at("platform").get<std::string>()) +
         (channel == "stable" ? "" : " --channel " + channel) + " --pubkey publisher.pub";
}

std::string history_html(const Json& versions) {
  std::string items;
  for (const auto& v : versions) {
    std::string changes;
    for (const auto& line : v.at("changes")) changes += "<li>" + html_escape(line.get<std::string>()) + "";
    if (v.at("previous_version").is_null()) changes = "<li>first version in this tree";
    items += "<li>" + link(v.at("manifest"), "v" + v.at("version").dump()) + " <span class=\"m nw\">" +
             html_escape(v.at("published_at").get<std::string>()) + " · " + size_text(v.at("download_size")) + "</span><ul>" + changes + "</ul>";
  }
  return "<details class=hist><summary>History: " + std::to_string(versions.size()) + " version(s)</summary><ol>" + items +
         "</ol></details>";
}

std::string stream_html(const std::string& base_url, const Json& e) {
  const std::string model = e.at("model").get<std::string>(), channel = e.at("channel").get<std::string>(),
                    platform = e.at("platform").get<std::string>();
  std::string out = "<section class=s id=\"" + text(model + "." + channel + "." + platform) + "\" data-model=\"" +
                    text(model) + "\" data-platform=\"" + text(platform) + "\"><h3>" + text(model) +
                    " <span class=m>" + text(channel) + " / " + text(platform) + "</span></h3>";
  if (!e.contains("current")) return out + "<p class=m>No current version.</p>" + history_html(e.at("versions")) + "</section>";
  const Json& c = e.at("current");
  std::string rollout = "everyone";
  if (!c.at("rollout").is_null()) {
    rollout = c["rollout"]["percent"].dump() + "% of devices";
    if (c["rollout"].contains("fallback_version"))
      rollout += "; the others get v" + c["rollout"]["fallback_version"].dump() + " (fallback)";
  }
  std::string versions = link(c.at("manifest"), "v" + c.at("version").dump());
  if (c.contains("manifest_v2")) versions += " " + link(c.at("manifest_v2"), "format&nbsp;2");
  out += "<dl class=kv><dt>version<dd>" + versions + "<dt>rollout<dd>" + html_escape(rollout) +
         "<dt>published<dd class=nw>" + html_escape(c.at("published_at").get<std::string>()) +
         "<dt>expires<dd class=nw>" + html_escape(c.at("expires_at").get<std::string>()) +
         "<dt>download<dd class=nw>" + size_text(c.at("download_size")) + "<dt>signed by<dd>" +
         keys_html(c.at("signers")) + "</dl>";
  out += "<pre class=cmd><code>" + html_escape(fetch_command(base_url, e)) + "</code></pre>";
  out += config_html(c) + files_html(c);
  // One version is already described above; the history starts to matter with the second.
  if (e.at("versions").size() > 1) out += history_html(e.at("versions"));
  return out + "</section>";
}

// "How to fetch": what an app developer needs, with the first stream as the example.
std::string fetch_html(const Json& catalog) {
  const std::string base = catalog.at("base_url").get<std::string>();
  const Json* example = nullptr;
  for (const auto& e : catalog.at("models"))
    if (e.contains("current")) {
      example = &e;
      break;
    }
  std::string keys;
  for (const auto& k : catalog.value("keys", Json::array())) {
    keys += (keys.empty() ? "" : "<br>") + link(k.at("url"), "<code class=kid>" + html_escape(k.at("keyid").get<std::string>()) +
                                                                  "</code>");
  }
  std::string out = "<dl class=kv><dt>base URL<dd><code>" +
                    (base.empty() ? std::string("(not set: <code>modelcast init --base-url</code>)") : text(base)) +
                    "</code><dt>pin key<dd>" +
                    (keys.empty() ? std::string("none yet")
                                  : keys + "<br><span class=m>save it as <code>publisher.pub</code> for the command lines below</span>") +
                    "</dl><p>Devices read <code>manifests/&lt;model&gt;/&lt;channel&gt;/&lt;platform&gt;.json</code> "
                    "(format 2: under <code>v2/</code>), check its Ed25519 signature against the pinned key file, then "
                    "download what it names and verify every byte. Each model below has its own command line.</p>";
  if (!example) return out;
  const std::string model = display_text((*example).at("model").get<std::string>()),
                    platform = display_text((*example).at("platform").get<std::string>()),
                    channel = display_text((*example).at("channel").get<std::string>());
  const std::string url = base.empty() ? "https://YOUR-HOST/" : display_text(base);
  out += "<pre class=cmd><code>" + html_escape(fetch_command(base, *example)) + "</code></pre>";
  const std::string c_snippet =
      "#include <modelcast/modelcast_fetch.h>\n\n"
      "const char* keys[] = {pinned_key_pem};  /* the text of publisher.pub */\n"
      "mc_fetch_options o = MC_FETCH_OPTIONS_INIT;\n"
      "o.base_url = \"" + url + "\";\n"
      "o.cache_dir = cache_dir;\n"
      "o.pubkey_pems = keys;\n"
      "o.pubkey_count = 1;\n"
      "o.platform = \"" + platform + "\";\n"
      "o.channel = \"" + channel + "\";\n"
      "mc_fetcher* f = NULL;\n"
      "char err[256];\n"
      "if (mc_fetcher_new(&f, &o, err, sizeof err) == MC_OK) {\n"
      "  mc_update_result r = MC_UPDATE_RESULT_INIT;\n"
      "  mc_fetcher_update(&r, f, \"" + model + "\");  /* MC_OK while a model is active */\n"
      "  mc_model* m = NULL;\n"
      "  if (mc_fetcher_open(&m, f, \"" + model + "\") == MC_OK) {\n"
      "    const char* file = mc_model_file_path(m, 0);  /* load it */\n"
      "    mc_model_free(m);\n"
      "  }\n"
      "  mc_fetcher_free(f);\n"
      "}\n";
  const std::string cpp_snippet =
      "#include <modelcast/fetcher.h>\n\n"
      "modelcast::FetcherOptions o;\n"
      "o.base_url = \"" + url + "\";\n"
      "o.cache_dir = cache_dir;\n"
      "o.trusted_keys.push_back(*modelcast::PublicKey::from_pem(pinned_key_pem, \"pinned key\"));\n"
      "o.platform = \"" + platform + "\";\n"
      "o.channel = \"" + channel + "\";\n"
      "auto fetcher = modelcast::Fetcher::create(o);\n"
      "if (fetcher.ok()) {\n"
      "  modelcast::UpdateResult r = (*fetcher)->update(\"" + model + "\");\n"
      "  auto opened = (*fetcher)->open(\"" + model + "\");\n"
      "  if (opened.ok()) load(opened->files[0].full_path);\n"
      "}\n";
  const std::string java_snippet =
      "try (Fetcher f = new Fetcher(new Fetcher.Options()\n"
      "        .baseUrl(\"" + url + "\").cacheDir(filesDir + \"/models\")\n"
      "        .publicKeyPem(PINNED_KEY).platform(\"" + platform + "\").channel(\"" + channel + "\")\n"
      "        .transport(new HttpClientTransport()))) {\n"
      "  UpdateResult r = f.update(\"" + model + "\");  // never throws for network trouble\n"
      "  Model m = f.open(\"" + model + "\");          // null when no version is active\n"
      "}\n";
  for (const auto& [name, code] : std::map<std::string, std::string>{{"1 C", c_snippet}, {"2 C++", cpp_snippet}, {"3 Java", java_snippet}})
    out += "<details><summary>" + html_escape(name.substr(2)) + "</summary><pre><code>" + html_escape(code) + "</code></pre></details>";
  return out;
}

std::string filter_html(const Json& models) {
  std::set<std::string> names, platforms;
  for (const auto& e : models) {
    names.insert(e.at("model").get<std::string>());
    platforms.insert(e.at("platform").get<std::string>());
  }
  auto options = [](const std::set<std::string>& values) {
    std::string out;
    for (const auto& v : values) out += "<option value=\"" + text(v) + "\">" + text(v) + "</option>";
    return out;
  };
  return "<label>Search <input id=\"q\" type=\"search\" placeholder=\"model, label, platform…\"></label>"
         "<label>Model <select id=\"fm\"><option value=\"\">all</option>" + options(names) + "</select></label>"
         "<label>Platform <select id=\"fp\"><option value=\"\">all</option>" + options(platforms) +
         "</select></label><span id=\"count\" class=m aria-live=\"polite\"></span>";
}

}  // namespace

std::string html_escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string render_catalog_html(const Json& catalog) {
  const Json& models = catalog.at("models");
  const std::string base = catalog.at("base_url").get<std::string>();
  std::string streams;
  size_t versions_total = 0;
  for (const auto& e : models) {
    streams += stream_html(base, e) + "\n";
    versions_total += e.at("versions").size();
  }
  if (streams.empty()) streams = "<p class=m>Nothing published yet.</p>";
  std::string summary = std::to_string(models.size()) + " model stream(s), " + std::to_string(versions_total) + " version(s)";
  return fill_template(catalog_page_template(), {{"summary", html_escape(summary)},
                                                 {"generated_at", html_escape(catalog.at("generated_at").get<std::string>())},
                                                 {"fetch", fetch_html(catalog)},
                                                 {"filters", filter_html(models)},
                                                 {"streams", streams}});
}

}  // namespace modelcast
