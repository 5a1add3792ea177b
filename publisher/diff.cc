#include "diff.h"

#include <map>
#include <set>

#include "git_repo.h"
#include "modelcast/manifest.h"
#include "modelcast/signed_manifest.h"
#include "progress.h"

namespace modelcast {

namespace {

// manifests/<model>/<channel>/<platform>.json: the current manifests, the ones devices read.
bool is_current_manifest(const std::string& path, std::string* model, std::string* channel, std::string* platform) {
  const std::string prefix = "manifests/", suffix = ".json";
  if (path.compare(0, prefix.size(), prefix) != 0 || path.size() <= prefix.size() + suffix.size()) return false;
  if (path.compare(path.size() - suffix.size(), suffix.size(), suffix) != 0) return false;
  std::string rest = path.substr(prefix.size(), path.size() - prefix.size() - suffix.size());
  auto a = rest.find('/');
  if (a == std::string::npos) return false;
  auto b = rest.find('/', a + 1);
  if (b == std::string::npos || rest.find('/', b + 1) != std::string::npos) return false;
  *model = rest.substr(0, a);
  *channel = rest.substr(a + 1, b - a - 1);
  *platform = rest.substr(b + 1);
  return true;
}

Result<std::optional<Manifest>> manifest_at(const GitRepo& repo, const std::string& blob_id) {
  if (blob_id.empty()) return std::optional<Manifest>();
  MC_ASSIGN_OR_RETURN(std::string text, repo.read_blob(blob_id, kMaxManifestBytes));
  MC_ASSIGN_OR_RETURN(SignedManifest sm, parse_signed_manifest(text));
  return std::optional<Manifest>(std::move(sm.manifest));
}

Json tensor_json(const TensorSpec& t) { return {{"name", t.name}, {"dtype", t.dtype}, {"shape", t.shape}}; }

template <typename T, typename Key>
std::map<std::string, const T*> by_key(const std::vector<T>& items, Key key) {
  std::map<std::string, const T*> out;
  for (const auto& i : items) out[key(i)] = &i;
  return out;
}

Json names_diff(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  std::set<std::string> sa(a.begin(), a.end()), sb(b.begin(), b.end());
  Json added = Json::array(), removed = Json::array();
  for (const auto& x : b)
    if (!sa.count(x)) added.push_back(x);
  for (const auto& x : a)
    if (!sb.count(x)) removed.push_back(x);
  return {{"added", added}, {"removed", removed}};
}

// Keys of two JSON objects: added {key: value}, removed {key: value}, changed {key: [old, new]}.
Json object_diff(const Json& a, const Json& b) {
  Json added = Json::object(), removed = Json::object(), changed = Json::object();
  for (auto it = b.begin(); it != b.end(); ++it)
    if (!a.contains(it.key())) added[it.key()] = *it;
  for (auto it = a.begin(); it != a.end(); ++it) {
    if (!b.contains(it.key())) removed[it.key()] = *it;
    else if (b.at(it.key()) != *it) changed[it.key()] = {*it, b.at(it.key())};
  }
  return {{"added", added}, {"removed", removed}, {"changed", changed}};
}

bool names_diff_empty(const Json& d) { return d.at("added").empty() && d.at("removed").empty(); }

// Tensors added, removed and changed (dtype, shape, labels) on one side of the config.
Json tensors_diff(const std::vector<TensorSpec>& a, const std::vector<TensorSpec>& b) {
  auto name = [](const TensorSpec& t) { return t.name; };
  auto ma = by_key(a, name), mb = by_key(b, name);
  Json added = Json::array(), removed = Json::array(), changed = Json::array();
  for (const auto& [n, t] : mb)
    if (!ma.count(n)) added.push_back(tensor_json(*t));
  for (const auto& [n, t] : ma) {
    auto it = mb.find(n);
    if (it == mb.end()) {
      removed.push_back(tensor_json(*t));
      continue;
    }
    const TensorSpec& x = *t;
    const TensorSpec& y = *it->second;
    Json c = {{"name", n}};
    if (x.dtype != y.dtype) c["dtype"] = {x.dtype, y.dtype};
    if (x.shape != y.shape) c["shape"] = {x.shape, y.shape};
    if (x.labels != y.labels) {
      Json labels = names_diff(x.labels, y.labels);
      labels["count"] = {x.labels.size(), y.labels.size()};
      if (names_diff_empty(labels)) labels["reordered"] = true;
      // Class index by class index: what a device's output index i now means.
      Json at = Json::array();
      for (size_t i = 0; i < x.labels.size() && i < y.labels.size(); ++i)
        if (x.labels[i] != y.labels[i]) at.push_back({{"index", i}, {"old", x.labels[i]}, {"new", y.labels[i]}});
      labels["changed"] = at;
      c["labels"] = labels;
    }
    if (c.size() > 1) changed.push_back(c);
  }
  return {{"added", added}, {"removed", removed}, {"changed", changed}};
}

Json manifest_diff(const std::string& path, const std::string& model, const std::string& channel, const std::string& platform,
                   const std::optional<Manifest>& a, const std::optional<Manifest>& b) {
  Json d = {{"manifest", path}, {"model", model}, {"channel", channel}, {"platform", platform}};
  d["status"] = !a ? "added" : !b ? "removed" : "changed";
  d["version"] = {a ? Json(a->version) : Json(nullptr), b ? Json(b->version) : Json(nullptr)};
  static const Manifest kEmpty;
  const Manifest& x = a ? *a : kEmpty;
  const Manifest& y = b ? *b : kEmpty;

  auto path_of = [](const FileEntry& f) { return f.path; };
  auto fa = by_key(x.files, path_of), fb = by_key(y.files, path_of);
  Json added = Json::array(), removed = Json::array(), changed = Json::array();
  for (const auto& [p, f] : fb)
    if (!fa.count(p)) added.push_back({{"path", p}, {"size", f->size}, {"sha256", f->sha256}});
  for (const auto& [p, f] : fa) {
    auto it = fb.find(p);
    if (it == fb.end()) removed.push_back({{"path", p}, {"size", f->size}, {"sha256", f->sha256}});
    else if (it->second->sha256 != f->sha256)
      changed.push_back({{"path", p},
                         {"size", {f->size, it->second->size}},
                         {"sha256", {f->sha256, it->second->sha256}},
                         {"stored_size", {f->stored_size, it->second->stored_size}}});
  }
  d["files"] = {{"added", added}, {"removed", removed}, {"changed", changed}};

  Json config = {{"inputs", tensors_diff(x.config.inputs, y.config.inputs)},
                 {"outputs", tensors_diff(x.config.outputs, y.config.outputs)},
                 {"features", names_diff(x.config.features, y.config.features)},
                 {"metadata_changed", x.config.metadata != y.config.metadata},
                 {"metadata", object_diff(x.config.metadata, y.config.metadata)}};
  d["config"] = config;

  Json req = Json::object();
  Json rf = names_diff(x.requirements.features, y.requirements.features);
  if (!names_diff_empty(rf)) req["features"] = rf;
  if (x.requirements.min_app_version != y.requirements.min_app_version)
    req["min_app_version"] = {x.requirements.min_app_version, y.requirements.min_app_version};
  if (x.requirements.runtime != y.requirements.runtime) req["runtime"] = {x.requirements.runtime, y.requirements.runtime};
  d["requires"] = req;
  if (x.rollout_percent != y.rollout_percent)
    d["rollout"] = {x.rollout_percent ? Json(*x.rollout_percent) : Json(nullptr),
                    y.rollout_percent ? Json(*y.rollout_percent) : Json(nullptr)};
  if (b) d["expires_at"] = y.expires_at;
  d["expires"] = {a ? Json(x.expires_at) : Json(nullptr), b ? Json(y.expires_at) : Json(nullptr)};
  return d;
}

std::string join(const Json& arr) {
  std::string out;
  for (const auto& v : arr) out += (out.empty() ? "" : ", ") + (v.is_string() ? v.get<std::string>() : v.dump());
  return out;
}

std::string shape_text(const Json& shape) { return "[" + join(shape) + "]"; }

void render_tensors(const std::string& side, const Json& t, std::string& out) {
  for (const auto& a : t.at("added"))
    out += "  " + side + " added: " + a.at("name").get<std::string>() + " " + a.at("dtype").get<std::string>() + " " +
           shape_text(a.at("shape")) + "\n";
  for (const auto& r : t.at("removed")) out += "  " + side + " removed: " + r.at("name").get<std::string>() + "\n";
  for (const auto& c : t.at("changed")) {
    std::string line = "  " + side + " " + c.at("name").get<std::string>() + ":";
    if (c.contains("dtype")) line += " dtype " + c["dtype"][0].get<std::string>() + " -> " + c["dtype"][1].get<std::string>();
    if (c.contains("shape")) line += " shape " + shape_text(c["shape"][0]) + " -> " + shape_text(c["shape"][1]);
    if (c.contains("labels")) {
      const Json& l = c.at("labels");
      line += " labels " + l["count"][0].dump() + " -> " + l["count"][1].dump();
      if (!l.at("added").empty()) line += " (added: " + join(l.at("added")) + ")";
      if (!l.at("removed").empty()) line += " (removed: " + join(l.at("removed")) + ")";
      if (l.contains("reordered")) line += " (reordered)";
    }
    out += line + "\n";
  }
}

}  // namespace

Result<Json> diff_revisions(const DiffOptions& o) {
  MC_ASSIGN_OR_RETURN(GitRepo repo, GitRepo::open(o.tree));
  std::string b_rev = o.rev_b.empty() ? "HEAD" : o.rev_b;
  MC_ASSIGN_OR_RETURN(std::string b, repo.resolve_commit(b_rev));
  std::string a;
  if (!o.rev_a.empty()) {
    MC_ASSIGN_OR_RETURN(a, repo.resolve_commit(o.rev_a));
  } else {
    auto parent = repo.resolve_commit(b + "~1");
    if (parent.ok()) a = *parent;  // else: the first commit, compared with the empty tree
  }
  MC_ASSIGN_OR_RETURN(auto deltas, repo.diff(a, b, "manifests"));
  Json manifests = Json::array();
  for (const auto& d : deltas) {
    std::string model, channel, platform;
    if (!is_current_manifest(d.path, &model, &channel, &platform)) continue;
    auto ma = manifest_at(repo, d.old_blob);
    if (!ma.ok()) return ma.status().with_context(d.path + " at " + (a.empty() ? "(none)" : a.substr(0, 12)));
    auto mb = manifest_at(repo, d.new_blob);
    if (!mb.ok()) return mb.status().with_context(d.path + " at " + b.substr(0, 12));
    manifests.push_back(manifest_diff(d.path, model, channel, platform, *ma, *mb));
  }
  MC_ASSIGN_OR_RETURN(auto key_deltas, repo.diff(a, b, "keys"));
  Json keys_added = Json::array(), keys_removed = Json::array();
  for (const auto& d : key_deltas) {
    if (d.status == 'A') keys_added.push_back(d.path);
    if (d.status == 'D') keys_removed.push_back(d.path);
  }
  return Json{{"from", a.empty() ? Json(nullptr) : Json(a)},
              {"to", b},
              {"manifests", manifests},
              {"keys", {{"added", keys_added}, {"removed", keys_removed}}}};
}

std::string render_diff_text(const Json& diff) {
  std::string out;
  std::string from = diff.at("from").is_null() ? "(empty)" : diff.at("from").get<std::string>().substr(0, 12);
  out += "diff " + from + ".." + diff.at("to").get<std::string>().substr(0, 12) + "\n";
  if (diff.at("manifests").empty()) out += "no manifest changed\n";
  for (const auto& m : diff.at("manifests")) {
    auto v = [](const Json& x) { return x.is_null() ? std::string("none") : std::to_string(x.get<uint64_t>()); };
    out += m.at("model").get<std::string>() + " (" + m.at("channel").get<std::string>() + "/" +
           m.at("platform").get<std::string>() + "): version " + v(m["version"][0]) + " -> " + v(m["version"][1]) + " [" +
           m.at("status").get<std::string>() + "]\n";
    const Json& f = m.at("files");
    for (const auto& a : f.at("added")) out += "  + " + a.at("path").get<std::string>() + " " + human_size(a.at("size")) + "\n";
    for (const auto& r : f.at("removed"))
      out += "  - " + r.at("path").get<std::string>() + " " + human_size(r.at("size")) + "\n";
    for (const auto& c : f.at("changed"))
      out += "  ~ " + c.at("path").get<std::string>() + " " + human_size(c["size"][0]) + " -> " + human_size(c["size"][1]) +
             " (sha256 " + c["sha256"][0].get<std::string>().substr(0, 12) + " -> " +
             c["sha256"][1].get<std::string>().substr(0, 12) + ")\n";
    const Json& cfg = m.at("config");
    render_tensors("input", cfg.at("inputs"), out);
    render_tensors("output", cfg.at("outputs"), out);
    if (!cfg["features"]["added"].empty()) out += "  features added: " + join(cfg["features"]["added"]) + "\n";
    if (!cfg["features"]["removed"].empty()) out += "  features removed: " + join(cfg["features"]["removed"]) + "\n";
    if (cfg.at("metadata_changed").get<bool>()) out += "  metadata changed\n";
    const Json& req = m.at("requires");
    if (req.contains("features")) {
      if (!req["features"]["added"].empty()) out += "  requires features added: " + join(req["features"]["added"]) + "\n";
      if (!req["features"]["removed"].empty()) out += "  requires features removed: " + join(req["features"]["removed"]) + "\n";
    }
    for (const char* k : {"min_app_version", "runtime"})
      if (req.contains(k)) {
        auto side = [](const Json& s) { return s.get<std::string>().empty() ? std::string("any") : s.get<std::string>(); };
        out += std::string("  requires ") + k + ": " + side(req[k][0]) + " -> " + side(req[k][1]) + "\n";
      }
  }
  for (const auto& k : diff["keys"]["added"]) out += "signing key added: " + k.get<std::string>() + "\n";
  for (const auto& k : diff["keys"]["removed"]) out += "signing key removed: " + k.get<std::string>() + "\n";
  return out;
}

namespace {

constexpr size_t kMaxShownValue = 120;

// A value in a code span: no backticks, no line breaks, no table separators, bounded length.
std::string code(const std::string& raw) {
  std::string out;
  for (char c : raw) {
    if (c == '`') out += '\'';
    else if (c == '\n' || c == '\r') out += ' ';
    else if (c == '|') out += "\\|";
    else out += c;
  }
  if (out.size() > kMaxShownValue) out = out.substr(0, kMaxShownValue) + "...";
  return "`" + out + "`";
}

std::string code_json(const Json& v) { return v.is_null() ? "none" : code(v.is_string() ? v.get<std::string>() : v.dump()); }

std::string code_list(const Json& arr) {
  std::string out;
  for (const auto& v : arr) out += (out.empty() ? "" : ", ") + code_json(v);
  return out;
}

std::string arrow(const std::string& a, const std::string& b) { return a + " → " + b; }

std::string short_hash(const Json& sha) { return code(sha.get<std::string>().substr(0, 12)); }

void markdown_tensors(const std::string& side, const Json& t, std::vector<std::string>& lines) {
  for (const auto& a : t.at("added"))
    lines.push_back(side + " " + code_json(a.at("name")) + " added: " + code_json(a.at("dtype")) + " " + code(shape_text(a.at("shape"))));
  for (const auto& r : t.at("removed"))
    lines.push_back(side + " " + code_json(r.at("name")) + " removed (was " + code_json(r.at("dtype")) + " " +
                    code(shape_text(r.at("shape"))) + ")");
  for (const auto& c : t.at("changed")) {
    const std::string name = side + " " + code_json(c.at("name"));
    if (c.contains("dtype")) lines.push_back(name + " dtype: " + arrow(code_json(c["dtype"][0]), code_json(c["dtype"][1])));
    if (c.contains("shape"))
      lines.push_back(name + " shape: " + arrow(code(shape_text(c["shape"][0])), code(shape_text(c["shape"][1]))));
    if (!c.contains("labels")) continue;
    const Json& l = c.at("labels");
    if (l["count"][0] != l["count"][1]) lines.push_back(name + " label count: " + arrow(l["count"][0].dump(), l["count"][1].dump()));
    for (const auto& ch : l.at("changed"))
      lines.push_back(name + " label " + ch.at("index").dump() + ": " + arrow(code_json(ch.at("old")), code_json(ch.at("new"))));
    if (!l.at("added").empty()) lines.push_back(name + " labels added: " + code_list(l.at("added")));
    if (!l.at("removed").empty()) lines.push_back(name + " labels removed: " + code_list(l.at("removed")));
  }
}

void markdown_object(const std::string& what, const Json& d, std::vector<std::string>& lines) {
  for (auto it = d.at("added").begin(); it != d.at("added").end(); ++it)
    lines.push_back(what + " " + code(it.key()) + " added: " + code_json(*it));
  for (auto it = d.at("removed").begin(); it != d.at("removed").end(); ++it)
    lines.push_back(what + " " + code(it.key()) + " removed (was " + code_json(*it) + ")");
  for (auto it = d.at("changed").begin(); it != d.at("changed").end(); ++it)
    lines.push_back(what + " " + code(it.key()) + ": " + arrow(code_json((*it)[0]), code_json((*it)[1])));
}

std::string markdown_stream(const Json& m) {
  auto version = [](const Json& v) { return v.is_null() ? std::string("none") : std::to_string(v.get<uint64_t>()); };
  std::string out = "#### " + code_json(m.at("model")) + " " + code(m.at("channel").get<std::string>() + "/" +
                                                                   m.at("platform").get<std::string>()) +
                    ": version " + arrow(version(m["version"][0]), version(m["version"][1])) + " (" +
                    m.at("status").get<std::string>() + ")\n\n";
  const Json& f = m.at("files");
  if (!f.at("added").empty() || !f.at("removed").empty() || !f.at("changed").empty()) {
    out += "| file | change | size | sha256 |\n|---|---|---|---|\n";
    for (const auto& a : f.at("added"))
      out += "| " + code_json(a.at("path")) + " | added | " + human_size(a.at("size")) + " | " + short_hash(a.at("sha256")) + " |\n";
    for (const auto& r : f.at("removed"))
      out += "| " + code_json(r.at("path")) + " | removed | " + human_size(r.at("size")) + " | " + short_hash(r.at("sha256")) +
             " |\n";
    for (const auto& c : f.at("changed"))
      out += "| " + code_json(c.at("path")) + " | changed | " + arrow(human_size(c["size"][0]), human_size(c["size"][1])) + " | " +
             arrow(short_hash(c["sha256"][0]), short_hash(c["sha256"][1])) + " |\n";
    out += "\n";
  } else {
    out += "Files: unchanged (devices download only the manifest).\n\n";
  }
  std::vector<std::string> lines;
  const Json& cfg = m.at("config");
  markdown_tensors("input", cfg.at("inputs"), lines);
  markdown_tensors("output", cfg.at("outputs"), lines);
  if (!cfg["features"]["added"].empty()) lines.push_back("features added: " + code_list(cfg["features"]["added"]));
  if (!cfg["features"]["removed"].empty()) lines.push_back("features removed: " + code_list(cfg["features"]["removed"]));
  if (cfg.contains("metadata")) markdown_object("metadata", cfg.at("metadata"), lines);
  const Json& req = m.at("requires");
  if (req.contains("features")) {
    if (!req["features"]["added"].empty()) lines.push_back("requires features added: " + code_list(req["features"]["added"]));
    if (!req["features"]["removed"].empty())
      lines.push_back("requires features removed: " + code_list(req["features"]["removed"]));
  }
  for (const char* k : {"min_app_version", "runtime"})
    if (req.contains(k)) {
      auto side = [](const Json& v) { return v.get<std::string>().empty() ? std::string("any") : code_json(v); };
      lines.push_back(std::string("requires ") + k + ": " + arrow(side(req[k][0]), side(req[k][1])));
    }
  if (m.contains("rollout")) {
    auto pct = [](const Json& v) { return v.is_null() ? std::string("everyone") : v.dump() + "%"; };
    lines.push_back("rollout: " + arrow(pct(m["rollout"][0]), pct(m["rollout"][1])));
  }
  if (m.contains("expires") && m["expires"][0] != m["expires"][1])
    lines.push_back("expires: " + arrow(code_json(m["expires"][0]), code_json(m["expires"][1])));
  for (const auto& l : lines) out += "- " + l + "\n";
  if (!lines.empty()) out += "\n";
  return out;
}

}  // namespace

std::string render_diff_markdown(const Json& diff) {
  std::string from = diff.at("from").is_null() ? "(empty)" : diff.at("from").get<std::string>().substr(0, 12);
  std::string out = "### modelcast: manifest changes " + code(from + ".." + diff.at("to").get<std::string>().substr(0, 12)) + "\n\n";
  if (diff.at("manifests").empty()) out += "No manifest changed.\n\n";
  for (const auto& m : diff.at("manifests")) out += markdown_stream(m);
  for (const auto& k : diff["keys"]["added"]) out += "- signing key added: " + code_json(k) + "\n";
  for (const auto& k : diff["keys"]["removed"]) out += "- signing key removed: " + code_json(k) + "\n";
  return out;
}

}  // namespace modelcast
