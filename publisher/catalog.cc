#include "catalog.h"

#include <map>

#include "modelcast/fs.h"
#include "modelcast/signed_manifest.h"
#include "progress.h"
#include "tree.h"

namespace modelcast {

namespace {

struct Totals {
  uint64_t size = 0;
  uint64_t stored_size = 0;
};

Totals totals_of(const Manifest& m) {
  Totals t;
  for (const auto& f : m.files) {
    t.size += f.size;
    t.stored_size += f.stored_size;
  }
  return t;
}

Result<Manifest> load_manifest(FileSystem& fs, const std::string& root, const std::string& rel) {
  MC_ASSIGN_OR_RETURN(std::string text, fs.read_file(root + "/" + rel, kMaxManifestBytes));
  auto parsed = parse_signed_manifest(text);
  if (!parsed.ok()) return parsed.status().with_context(rel);
  return std::move(parsed->manifest);
}

std::string td(const std::string& text, bool numeric = false) {
  return std::string(numeric ? "<td class=\"num\">" : "<td>") + html_escape(text) + "</td>";
}

// Replaces each {{name}} of the template by values[name] in one pass, so substituted text
// (which may contain braces from a model name) is never scanned again.
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

Result<Json> build_catalog(const std::string& root, const std::string& base_url, const std::string& generated_at,
                           std::vector<std::string>* warnings, FileSystem& fs) {
  MC_ASSIGN_OR_RETURN(auto streams, list_streams(root, nullptr, fs));
  Json models = Json::array();
  for (const auto& s : streams) {
    Json entry = {{"model", s.model}, {"channel", s.channel}, {"platform", s.platform}};
    Json versions = Json::array();
    for (auto it = s.versions.rbegin(); it != s.versions.rend(); ++it) {
      std::string rel = TreeLayout::versioned_manifest(s.model, s.channel, s.platform, *it);
      auto m = load_manifest(fs, root, rel);
      if (!m.ok()) {
        if (warnings) warnings->push_back(m.status().message());
        continue;
      }
      Totals t = totals_of(*m);
      versions.push_back({{"version", m->version},
                          {"published_at", m->published_at},
                          {"expires_at", m->expires_at},
                          {"files", m->files.size()},
                          {"size", t.size},
                          {"stored_size", t.stored_size},
                          {"manifest", rel}});
    }
    entry["versions"] = versions;
    if (s.has_current) {
      std::string rel = TreeLayout::current_manifest(s.model, s.channel, s.platform);
      auto m = load_manifest(fs, root, rel);
      if (!m.ok()) {
        if (warnings) warnings->push_back(m.status().message());
      } else {
        Json files = Json::array();
        for (const auto& f : m->files)
          files.push_back({{"path", f.path},
                           {"sha256", f.sha256},
                           {"size", f.size},
                           {"stored_size", f.stored_size},
                           {"encoding", f.encoding},
                           {"url", f.url}});
        Totals t = totals_of(*m);
        entry["current"] = {{"version", m->version},   {"published_at", m->published_at},
                            {"expires_at", m->expires_at}, {"size", t.size},
                            {"stored_size", t.stored_size}, {"files", files},
                            {"manifest", rel},             {"features", m->config.features}};
      }
    }
    models.push_back(std::move(entry));
  }
  return Json{{"schema", kCatalogSchema}, {"generated_at", generated_at}, {"base_url", base_url}, {"models", models}};
}

std::string render_catalog_html(const Json& catalog) {
  const Json& models = catalog.at("models");
  std::string current, history;
  size_t versions_total = 0;
  for (const auto& e : models) {
    const std::string title = e.at("model").get<std::string>() + " / " + e.at("channel").get<std::string>() + " / " +
                              e.at("platform").get<std::string>();
    if (e.contains("current")) {
      const Json& c = e.at("current");
      std::string files;
      for (const auto& f : c.at("files")) {
        if (!files.empty()) files += "<br>";
        files += "<a href=\"" + html_escape(f.at("url").get<std::string>()) + "\"><code>" +
                 html_escape(f.at("path").get<std::string>()) + "</code></a> " +
                 html_escape(human_size(f.at("size").get<uint64_t>())) + " (" + html_escape(f.at("encoding").get<std::string>()) +
                 ")";
      }
      current += "<tr>" + td(e.at("model")) + td(e.at("channel")) + td(e.at("platform")) + "<td class=\"num\"><a href=\"" +
                 html_escape(c.at("manifest").get<std::string>()) + "\">" + std::to_string(c.at("version").get<uint64_t>()) +
                 "</a></td>" + td(c.at("published_at")) + td(c.at("expires_at")) + "<td>" + files + "</td>" +
                 td(human_size(c.at("size").get<uint64_t>()), true) + td(human_size(c.at("stored_size").get<uint64_t>()), true) +
                 "</tr>\n";
    }
    const Json& versions = e.at("versions");
    versions_total += versions.size();
    history += "<details><summary>" + html_escape(title) + ": " + std::to_string(versions.size()) +
               " version(s)</summary>\n<table>\n<tr><th class=\"num\">version</th><th>published</th><th>expires</th>"
               "<th class=\"num\">files</th><th class=\"num\">size</th><th class=\"num\">download</th></tr>\n";
    for (const auto& v : versions) {
      history += "<tr><td class=\"num\"><a href=\"" + html_escape(v.at("manifest").get<std::string>()) + "\">" +
                 std::to_string(v.at("version").get<uint64_t>()) + "</a></td>" + td(v.at("published_at")) +
                 td(v.at("expires_at")) + td(std::to_string(v.at("files").get<uint64_t>()), true) +
                 td(human_size(v.at("size").get<uint64_t>()), true) + td(human_size(v.at("stored_size").get<uint64_t>()), true) +
                 "</tr>\n";
    }
    history += "</table></details>\n";
  }
  std::string current_table =
      current.empty() ? "<p class=\"empty\">Nothing published yet.</p>"
                      : "<table>\n<tr><th>model</th><th>channel</th><th>platform</th><th class=\"num\">version</th>"
                        "<th>published</th><th>expires</th><th>files</th><th class=\"num\">size</th>"
                        "<th class=\"num\">download</th></tr>\n" +
                            current + "</table>";
  if (history.empty()) history = "<p class=\"empty\">No versions yet.</p>";
  std::string summary = std::to_string(models.size()) + " model stream(s), " + std::to_string(versions_total) + " version(s)";
  return fill_template(catalog_page_template(), {{"summary", html_escape(summary)},
                                                 {"generated_at", html_escape(catalog.at("generated_at").get<std::string>())},
                                                 {"current_table", current_table},
                                                 {"history", history}});
}

const std::vector<std::string>& catalog_file_paths() {
  static const std::vector<std::string> kPaths = {"index.json", "index.html"};
  return kPaths;
}

Result<std::vector<std::string>> write_catalog(const std::string& root, const std::string& base_url,
                                               const std::string& generated_at, std::vector<std::string>* warnings,
                                               FileSystem& fs) {
  MC_ASSIGN_OR_RETURN(Json catalog, build_catalog(root, base_url, generated_at, warnings, fs));
  MC_RETURN_IF_ERROR(fs.write_file_atomic(root + "/index.json", pretty_json(catalog)));
  MC_RETURN_IF_ERROR(fs.write_file_atomic(root + "/index.html", render_catalog_html(catalog)));
  return catalog_file_paths();
}

}  // namespace modelcast
