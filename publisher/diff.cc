#include "diff.h"

#include <algorithm>
#include <map>

#include "display_text.h"
#include "git_repo.h"
#include "modelcast/key_set.h"
#include "modelcast/signed_manifest.h"
#include "modelcast/signed_manifest_v2.h"
#include "progress.h"
#include "tree.h"

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

Json tensor_json(const TensorSpec& t) {
  Json j = {{"name", t.name}, {"dtype", t.dtype}, {"shape", t.shape}};
  if (!t.labels.empty()) j["labels"] = t.labels;
  return j;
}

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
      Json appended = Json::array(), dropped = Json::array();
      for (size_t i = x.labels.size(); i < y.labels.size(); ++i) appended.push_back({{"index", i}, {"label", y.labels[i]}});
      for (size_t i = y.labels.size(); i < x.labels.size(); ++i) dropped.push_back({{"index", i}, {"label", x.labels[i]}});
      labels["appended"] = appended;
      labels["dropped"] = dropped;
      c["labels"] = labels;
    }
    if (c.size() > 1) changed.push_back(c);
  }
  return {{"added", added}, {"removed", removed}, {"changed", changed}};
}

const BlobV2* first_blob(const FileEntryV2& f) { return f.blobs.empty() ? nullptr : &f.blobs.front(); }

// What a device downloads for file `f` of the new version: the blob it uses (the first
// of a known encoding; parts counted) and each delta, named by the version it starts
// from when that is the previous version's content of the same path.
Json download_json(const FileEntryV2& f, const FileEntryV2* previous, const std::optional<StreamVersion>& a) {
  Json j = {{"path", f.path}, {"size", f.size}};
  if (const BlobV2* blob = first_blob(f))
    j["blob"] = {{"encoding", blob->encoding}, {"stored_size", blob->stored_size}, {"parts", blob->parts.size()}};
  else j["blob"] = nullptr;
  Json deltas = Json::array();
  for (const auto& d : f.deltas) {
    Json dj = {{"encoding", d.encoding}, {"stored_size", d.stored_size}, {"from_sha256", d.from_sha256}};
    if (previous && a && previous->sha256 == d.from_sha256) dj["from_version"] = a->manifest.version;
    deltas.push_back(dj);
  }
  j["deltas"] = deltas;
  return j;
}

Json fallback_json(const ManifestV2& m) {
  if (!m.rollout || !m.rollout->fallback) return nullptr;
  return {{"version", m.rollout->fallback->version}, {"sha256", m.rollout->fallback->sha256}};
}

Json rollout_percent_json(const ManifestV2& m) {
  if (!m.rollout || m.rollout->percent >= 100) return nullptr;  // everyone
  return m.rollout->percent;
}

}  // namespace

Result<StreamVersion> stream_version_from_text(const std::string& v1_text, const std::string& v2_text) {
  StreamVersion out;
  std::set<std::string> signers;
  MC_ASSIGN_OR_RETURN(SignedManifest v1, parse_signed_manifest(v1_text));
  for (const auto& s : v1.signatures) signers.insert(s.keyid);
  if (v2_text.empty()) {
    out.manifest = manifest_v2_from_v1(v1.manifest);
  } else {
    MC_ASSIGN_OR_RETURN(SignedManifestV2 v2, parse_signed_manifest_v2(v2_text));
    for (const auto& s : v2.signatures) signers.insert(s.keyid);
    out.manifest = std::move(v2.manifest);
  }
  out.signers.assign(signers.begin(), signers.end());
  return out;
}

Json manifest_diff(const std::string& path, const std::string& model, const std::string& channel, const std::string& platform,
                   const std::optional<StreamVersion>& a, const std::optional<StreamVersion>& b,
                   const std::set<std::string>* trusted_before) {
  Json d = {{"manifest", path}, {"model", model}, {"channel", channel}, {"platform", platform}};
  d["status"] = !a ? "added" : !b ? "removed" : "changed";
  d["version"] = {a ? Json(a->manifest.version) : Json(nullptr), b ? Json(b->manifest.version) : Json(nullptr)};
  static const ManifestV2 kEmpty;
  const ManifestV2& x = a ? a->manifest : kEmpty;
  const ManifestV2& y = b ? b->manifest : kEmpty;

  auto path_of = [](const FileEntryV2& f) { return f.path; };
  auto stored = [](const FileEntryV2& f) { return first_blob(f) ? first_blob(f)->stored_size : 0; };
  auto fa = by_key(x.files, path_of), fb = by_key(y.files, path_of);
  Json added = Json::array(), removed = Json::array(), changed = Json::array(), downloads = Json::array();
  for (const auto& [p, f] : fb) {
    auto it = fa.find(p);
    if (it == fa.end()) {
      added.push_back({{"path", p}, {"size", f->size}, {"sha256", f->sha256}});
      downloads.push_back(download_json(*f, nullptr, a));
    } else if (it->second->sha256 != f->sha256) {
      downloads.push_back(download_json(*f, it->second, a));
    }
  }
  for (const auto& [p, f] : fa) {
    auto it = fb.find(p);
    if (it == fb.end()) removed.push_back({{"path", p}, {"size", f->size}, {"sha256", f->sha256}});
    else if (it->second->sha256 != f->sha256)
      changed.push_back({{"path", p},
                         {"size", {f->size, it->second->size}},
                         {"sha256", {f->sha256, it->second->sha256}},
                         {"stored_size", {stored(*f), stored(*it->second)}}});
  }
  d["files"] = {{"added", added}, {"removed", removed}, {"changed", changed}};
  d["downloads"] = downloads;

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
  if (x.requirements.min_os_version != y.requirements.min_os_version)
    req["min_os_version"] = {x.requirements.min_os_version, y.requirements.min_os_version};
  d["requires"] = req;

  Json pa = a ? rollout_percent_json(x) : Json(nullptr), pb = b ? rollout_percent_json(y) : Json(nullptr);
  if (pa != pb || (b && !pb.is_null())) d["rollout"] = {pa, pb};
  Json fba = fallback_json(x), fbb = fallback_json(y);
  if (fba != fbb || !fbb.is_null()) d["rollout_fallback"] = {fba, fbb};
  if (d.contains("rollout_fallback") && !d.contains("rollout")) d["rollout"] = {pa, pb};
  if (b) d["expires_at"] = y.expires_at;
  d["expires"] = {a ? Json(x.expires_at) : Json(nullptr), b ? Json(y.expires_at) : Json(nullptr)};

  // Same files, config, requirements and rollout under a new number: a refresh or a
  // re-signing; devices download only the manifest.
  if (a && b && x.version != y.version) {
    bool same_files = x.files.size() == y.files.size() && added.empty() && removed.empty() && changed.empty();
    const Json jx = manifest_v2_to_json(x), jy = manifest_v2_to_json(y);
    d["resigned_only"] = same_files && jx.at("config") == jy.at("config") && jx.at("requires") == jy.at("requires") &&
                         pa == pb && fba == fbb;
  }
  if (b) {
    d["signers"] = b->signers;
    if (trusted_before) {
      Json fresh = Json::array();
      for (const auto& k : b->signers)
        if (!trusted_before->count(k)) fresh.push_back(k);
      d["new_signers"] = fresh;
    }
  }
  return d;
}

namespace {

constexpr size_t kMaxShownValue = 120;
constexpr size_t kMaxLabelLines = 20;

// How one style shows values and arrows.
struct Words {
  DiffStyle style;

  // A string from a manifest: escaped, bounded; in markdown a code span that cannot close
  // early or split a table cell.
  std::string value(const std::string& raw) const {
    std::string shown = truncate_utf8(display_text(raw), kMaxShownValue);
    if (style == DiffStyle::kText) return shown;
    std::string out;
    for (char c : shown) {
      if (c == '`') out += '\'';
      else if (c == '|') out += "\\|";
      else out += c;
    }
    return "`" + out + "`";
  }
  std::string value(const Json& v) const {
    return v.is_null() ? "none" : value(v.is_string() ? v.get<std::string>() : v.dump());
  }
  std::string list(const Json& arr, size_t max_items = SIZE_MAX) const {
    std::string out;
    size_t n = 0;
    for (const auto& v : arr) {
      if (n == max_items) {
        out += ", and " + std::to_string(arr.size() - n) + " more";
        break;
      }
      out += (out.empty() ? "" : ", ") + value(v);
      ++n;
    }
    return out;
  }
  std::string arrow(const std::string& a, const std::string& b) const {
    return a + (style == DiffStyle::kText ? " -> " : " → ") + b;
  }
  std::string shape(const Json& s) const {
    std::string out;
    for (const auto& d : s) out += (out.empty() ? "" : ",") + d.dump();
    return value("[" + out + "]");
  }
  std::string hash(const Json& sha) const { return value(sha.get<std::string>().substr(0, 12)); }
};

std::string version_text(const Json& v) { return v.is_null() ? std::string("none") : std::to_string(v.get<uint64_t>()); }

void tensor_lines(const Words& w, const std::string& side, const Json& t, std::vector<std::string>& lines) {
  for (const auto& a : t.at("added")) {
    std::string line = side + " " + w.value(a.at("name")) + " added: " + w.value(a.at("dtype")) + " " + w.shape(a.at("shape"));
    if (a.contains("labels"))
      line += ", " + std::to_string(a["labels"].size()) + " labels: " + w.list(a["labels"], kMaxLabelLines);
    lines.push_back(line);
  }
  for (const auto& r : t.at("removed"))
    lines.push_back(side + " " + w.value(r.at("name")) + " removed (was " + w.value(r.at("dtype")) + " " + w.shape(r.at("shape")) +
                    ")");
  for (const auto& c : t.at("changed")) {
    const std::string name = side + " " + w.value(c.at("name"));
    if (c.contains("dtype")) lines.push_back(name + " dtype: " + w.arrow(w.value(c["dtype"][0]), w.value(c["dtype"][1])));
    if (c.contains("shape")) lines.push_back(name + " shape: " + w.arrow(w.shape(c["shape"][0]), w.shape(c["shape"][1])));
    if (!c.contains("labels")) continue;
    const Json& l = c.at("labels");
    if (l["count"][0] != l["count"][1])
      lines.push_back(name + " label count: " + w.arrow(l["count"][0].dump(), l["count"][1].dump()));
    // Index by index (what output i now means); a renamed label is one line.
    std::vector<std::string> label_lines;
    for (const auto& ch : l.at("changed"))
      label_lines.push_back(name + " label " + ch.at("index").dump() + ": " +
                            w.arrow(w.value(ch.at("old")), w.value(ch.at("new"))));
    for (const auto& ap : l.value("appended", Json::array()))
      label_lines.push_back(name + " label " + ap.at("index").dump() + " added: " + w.value(ap.at("label")));
    for (const auto& dr : l.value("dropped", Json::array()))
      label_lines.push_back(name + " label " + dr.at("index").dump() + " removed (was " + w.value(dr.at("label")) + ")");
    for (size_t i = 0; i < label_lines.size() && i < kMaxLabelLines; ++i) lines.push_back(label_lines[i]);
    if (label_lines.size() > kMaxLabelLines)
      lines.push_back(name + ": " + std::to_string(label_lines.size() - kMaxLabelLines) + " more label changes");
  }
}

void object_lines(const Words& w, const std::string& what, const Json& d, std::vector<std::string>& lines) {
  for (auto it = d.at("added").begin(); it != d.at("added").end(); ++it)
    lines.push_back(what + " " + w.value(it.key()) + " added: " + w.value(*it));
  for (auto it = d.at("removed").begin(); it != d.at("removed").end(); ++it)
    lines.push_back(what + " " + w.value(it.key()) + " removed (was " + w.value(*it) + ")");
  for (auto it = d.at("changed").begin(); it != d.at("changed").end(); ++it)
    lines.push_back(what + " " + w.value(it.key()) + ": " + w.arrow(w.value((*it)[0]), w.value((*it)[1])));
}

// "1.2 MB full (xform blob in 3 parts); deltas: 40.0 KB from version 1 (xform)"
std::string download_line(const Words& w, const Json& dl) {
  std::string line = "download " + w.value(dl.at("path")) + ": ";
  const Json& blob = dl.at("blob");
  if (blob.is_null()) {
    line += "no blob of a known encoding";
  } else {
    line += human_size(blob.at("stored_size").get<uint64_t>()) + " full (" + w.value(blob.at("encoding")) + " blob";
    if (blob.at("parts").get<uint64_t>() > 0) line += " in " + blob.at("parts").dump() + " parts";
    line += ")";
  }
  const Json& deltas = dl.at("deltas");
  if (!deltas.empty()) {
    line += "; " + std::string(deltas.size() == 1 ? "delta: " : "deltas: ");
    std::string items;
    for (const auto& d : deltas) {
      std::string from = d.contains("from_version") ? "version " + d["from_version"].dump() : w.hash(d.at("from_sha256"));
      items += (items.empty() ? "" : ", ") + human_size(d.at("stored_size").get<uint64_t>()) + " from " + from + " (" +
               w.value(d.at("encoding")) + ")";
    }
    line += items;
  }
  return line;
}

std::string file_line(const Words& w, const char* change, const Json& f) {
  if (std::string(change) == "changed")
    return "file " + w.value(f.at("path")) + " changed: " + w.arrow(human_size(f["size"][0]), human_size(f["size"][1])) +
           ", sha256 " + w.arrow(w.hash(f["sha256"][0]), w.hash(f["sha256"][1]));
  if (std::string(change) == "removed")
    return "file " + w.value(f.at("path")) + " removed (was " + human_size(f.at("size")) + ", sha256 " + w.hash(f.at("sha256")) + ")";
  return "file " + w.value(f.at("path")) + " added: " + human_size(f.at("size")) + ", sha256 " + w.hash(f.at("sha256"));
}

bool files_unchanged(const Json& m) {
  const Json& f = m.at("files");
  return f.at("added").empty() && f.at("removed").empty() && f.at("changed").empty();
}

std::vector<std::string> change_lines(const Words& w, const Json& m, bool with_file_lines) {
  std::vector<std::string> lines;
  const Json& f = m.at("files");
  if (with_file_lines) {
    for (const auto& a : f.at("added")) lines.push_back(file_line(w, "added", a));
    for (const auto& r : f.at("removed")) lines.push_back(file_line(w, "removed", r));
    for (const auto& c : f.at("changed")) lines.push_back(file_line(w, "changed", c));
  }
  if (m.at("status") != "removed" && files_unchanged(m)) lines.push_back("files unchanged: devices download only the manifest");
  for (const auto& dl : m.value("downloads", Json::array())) lines.push_back(download_line(w, dl));
  if (m.value("resigned_only", false)) lines.push_back("content unchanged: re-signed as a new version");

  const Json& cfg = m.at("config");
  tensor_lines(w, "input", cfg.at("inputs"), lines);
  tensor_lines(w, "output", cfg.at("outputs"), lines);
  if (!cfg["features"]["added"].empty()) lines.push_back("features added: " + w.list(cfg["features"]["added"]));
  if (!cfg["features"]["removed"].empty()) lines.push_back("features removed: " + w.list(cfg["features"]["removed"]));
  if (cfg.contains("metadata")) object_lines(w, "metadata", cfg.at("metadata"), lines);
  const Json& req = m.at("requires");
  if (req.contains("features")) {
    if (!req["features"]["added"].empty()) lines.push_back("requires features added: " + w.list(req["features"]["added"]));
    if (!req["features"]["removed"].empty())
      lines.push_back("requires features removed: " + w.list(req["features"]["removed"]));
  }
  for (const char* k : {"min_app_version", "min_os_version", "runtime"})
    if (req.contains(k)) {
      auto side = [&](const Json& v) { return v.get<std::string>().empty() ? std::string("any") : w.value(v); };
      lines.push_back(std::string("requires ") + k + ": " + w.arrow(side(req[k][0]), side(req[k][1])));
    }
  if (m.contains("rollout")) {
    auto pct = [](const Json& v) { return v.is_null() ? std::string("everyone") : v.dump() + "%"; };
    const Json& r = m.at("rollout");
    if (r[0] == r[1]) lines.push_back("rollout: " + pct(r[1]) + " of devices, as before");
    else lines.push_back("rollout: " + w.arrow(pct(r[0]), pct(r[1])));
  }
  if (m.contains("rollout_fallback")) {
    const Json& fb = m.at("rollout_fallback")[1];
    if (fb.is_null()) {
      if (!m.at("rollout")[1].is_null()) lines.push_back("rollout fallback: none");
    }
    else
      lines.push_back("rollout fallback: version " + fb.at("version").dump() +
                      ", for devices outside the rollout with an older model or none (sha256 " + w.hash(fb.at("sha256")) + ")");
  }
  if (m.contains("expires") && m["expires"][0] != m["expires"][1])
    lines.push_back("expires: " + w.arrow(w.value(m["expires"][0]), w.value(m["expires"][1])));
  if (m.contains("signers") && !m.at("signers").empty())
    lines.push_back(std::string("signed by ") + (m["signers"].size() == 1 ? "key " : "keys ") + w.list(m.at("signers")));
  return lines;
}

// "m (stable/android)" in text, "`m` `stable/android`" in markdown.
std::string stream_title(const Words& w, const Json& m) {
  const std::string where = m.at("channel").get<std::string>() + "/" + m.at("platform").get<std::string>();
  if (w.style == DiffStyle::kText) return w.value(m.at("model")) + " (" + w.value(where) + ")";
  return w.value(m.at("model")) + " " + w.value(where);
}

// Warnings a reviewer must see first: keys the tree did not trust before this change.
std::vector<std::string> warning_lines(const Words& w, const Json& diff) {
  std::vector<std::string> out;
  for (const auto& m : diff.at("manifests"))
    for (const auto& k : m.value("new_signers", Json::array()))
      out.push_back(stream_title(w, m) + " version " + version_text(m["version"][1]) + " is signed by key " + w.value(k) +
                    ", which the tree did not trust before this change: devices that do not pin it refuse this version "
                    "and keep their model");
  for (const auto& k : diff.at("trusted_keys").at("added"))
    out.push_back("the tree now trusts key " + w.value(k) +
                  " (modelcast.json trusted_keys or the key set): it can sign every model from now on; check that you "
                  "meant to add it");
  for (const auto& k : diff.at("trusted_keys").at("removed"))
    out.push_back("the tree no longer trusts key " + w.value(k));
  return out;
}

}  // namespace

std::vector<std::string> describe_stream_changes(const Json& manifest_diff, DiffStyle style) {
  return change_lines(Words{style}, manifest_diff, true);
}

namespace {

Result<std::string> text_at(const GitRepo& repo, const std::string& commit, const std::string& path, size_t max_bytes) {
  if (commit.empty()) return std::string();
  MC_ASSIGN_OR_RETURN(std::string blob, repo.blob_at(commit, path));
  if (blob.empty()) return std::string();
  return repo.read_blob(blob, max_bytes);
}

// Every key id the tree trusts at `commit`: modelcast.json trusted_keys and the keys of the
// newest key-set statement (none at the empty tree).
Result<std::set<std::string>> trusted_at(const GitRepo& repo, const std::string& commit) {
  std::set<std::string> out;
  MC_ASSIGN_OR_RETURN(std::string settings_text, text_at(repo, commit, kSettingsFile, kMaxManifestBytes));
  if (!settings_text.empty()) {
    const std::string where = std::string(kSettingsFile) + " at " + commit.substr(0, 12);
    MC_ASSIGN_OR_RETURN(Json j, parse_json_strict(settings_text, kMaxManifestBytes, where));
    MC_ASSIGN_OR_RETURN(TreeSettings s, settings_from_json(j, where));
    out.insert(s.trusted_keys.begin(), s.trusted_keys.end());
  }
  MC_ASSIGN_OR_RETURN(std::string keyset_text, text_at(repo, commit, "keys/keyset.json", kMaxKeySetBytes));
  if (!keyset_text.empty()) {
    auto statement = parse_key_set_statement(keyset_text);
    if (!statement.ok()) return statement.status().with_context("keys/keyset.json at " + commit.substr(0, 12));
    for (const auto& k : statement->set.signing_keys()) out.insert(k.key_id());
  }
  return out;
}

// The stream's version at `commit` from its format 1 document `blob_id` and, when the
// tree has it, the format 2 document beside it.
Result<std::optional<StreamVersion>> version_at(const GitRepo& repo, const std::string& commit, const std::string& blob_id,
                                                const std::string& model, const std::string& channel,
                                                const std::string& platform) {
  if (blob_id.empty()) return std::optional<StreamVersion>();
  MC_ASSIGN_OR_RETURN(std::string v1, repo.read_blob(blob_id, kMaxManifestBytes));
  MC_ASSIGN_OR_RETURN(std::string v2,
                      text_at(repo, commit, TreeLayout::current_manifest_v2(model, channel, platform), kMaxManifestBytes));
  MC_ASSIGN_OR_RETURN(StreamVersion v, stream_version_from_text(v1, v2));
  return std::optional<StreamVersion>(std::move(v));
}

Json set_diff(const std::set<std::string>& a, const std::set<std::string>& b) {
  Json added = Json::array(), removed = Json::array();
  for (const auto& k : b)
    if (!a.count(k)) added.push_back(k);
  for (const auto& k : a)
    if (!b.count(k)) removed.push_back(k);
  return {{"added", added}, {"removed", removed}};
}

std::string range_text(const Json& diff) {
  std::string from = diff.at("from").is_null() ? "(empty)" : diff.at("from").get<std::string>().substr(0, 12);
  return from + ".." + diff.at("to").get<std::string>().substr(0, 12);
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
  MC_ASSIGN_OR_RETURN(auto trusted_a, trusted_at(repo, a));
  MC_ASSIGN_OR_RETURN(auto trusted_b, trusted_at(repo, b));
  MC_ASSIGN_OR_RETURN(auto deltas, repo.diff(a, b, "manifests"));
  Json manifests = Json::array();
  for (const auto& d : deltas) {
    std::string model, channel, platform;
    if (!is_current_manifest(d.path, &model, &channel, &platform)) continue;
    auto va = version_at(repo, a, d.old_blob, model, channel, platform);
    if (!va.ok()) return va.status().with_context(d.path + " at " + (a.empty() ? "(none)" : a.substr(0, 12)));
    auto vb = version_at(repo, b, d.new_blob, model, channel, platform);
    if (!vb.ok()) return vb.status().with_context(d.path + " at " + b.substr(0, 12));
    manifests.push_back(manifest_diff(d.path, model, channel, platform, *va, *vb, &trusted_a));
  }
  MC_ASSIGN_OR_RETURN(auto key_deltas, repo.diff(a, b, "keys"));
  Json keys_added = Json::array(), keys_removed = Json::array();
  for (const auto& d : key_deltas) {
    if (d.status == 'A') keys_added.push_back(d.path);
    if (d.status == 'D') keys_removed.push_back(d.path);
  }
  Json out = {{"from", a.empty() ? Json(nullptr) : Json(a)},
              {"to", b},
              {"manifests", manifests},
              {"keys", {{"added", keys_added}, {"removed", keys_removed}}},
              {"trusted_keys", set_diff(trusted_a, trusted_b)}};
  out["warnings"] = warning_lines(Words{DiffStyle::kText}, out);
  return out;
}

std::string render_diff_text(const Json& diff) {
  const Words w{DiffStyle::kText};
  std::string out = "diff " + range_text(diff) + "\n";
  for (const auto& line : warning_lines(w, diff)) out += "warning: " + line + "\n";
  if (diff.at("manifests").empty()) out += "no manifest changed\n";
  for (const auto& m : diff.at("manifests")) {
    out += stream_title(w, m) + ": version " + w.arrow(version_text(m["version"][0]), version_text(m["version"][1])) + " [" +
           m.at("status").get<std::string>() + "]\n";
    for (const auto& line : change_lines(w, m, true)) out += "  " + line + "\n";
  }
  for (const auto& k : diff["keys"]["added"]) out += "signing key added: " + w.value(k) + "\n";
  for (const auto& k : diff["keys"]["removed"]) out += "signing key removed: " + w.value(k) + "\n";
  return out;
}

std::string render_diff_markdown(const Json& diff) {
  const Words w{DiffStyle::kMarkdown};
  std::string out = "### modelcast: manifest changes " + w.value(range_text(diff)) + "\n\n";
  auto warnings = warning_lines(w, diff);
  if (!warnings.empty()) out += "> [!WARNING]\n";
  for (const auto& line : warnings) out += "> - **Signing:** " + line + "\n";
  if (!warnings.empty()) out += "\n";
  if (diff.at("manifests").empty()) out += "No manifest changed.\n\n";
  for (const auto& m : diff.at("manifests")) {
    out += "#### " + stream_title(w, m) + ": version " + w.arrow(version_text(m["version"][0]), version_text(m["version"][1])) +
           " (" + m.at("status").get<std::string>() + ")\n\n";
    const Json& f = m.at("files");
    if (!files_unchanged(m)) {
      out += "| file | change | size | sha256 |\n|---|---|---|---|\n";
      for (const auto& a : f.at("added"))
        out += "| " + w.value(a.at("path")) + " | added | " + human_size(a.at("size")) + " | " + w.hash(a.at("sha256")) + " |\n";
      for (const auto& r : f.at("removed"))
        out += "| " + w.value(r.at("path")) + " | removed | " + human_size(r.at("size")) + " | " + w.hash(r.at("sha256")) + " |\n";
      for (const auto& c : f.at("changed"))
        out += "| " + w.value(c.at("path")) + " | changed | " + w.arrow(human_size(c["size"][0]), human_size(c["size"][1])) +
               " | " + w.arrow(w.hash(c["sha256"][0]), w.hash(c["sha256"][1])) + " |\n";
      out += "\n";
    }
    auto lines = change_lines(w, m, false);
    for (const auto& l : lines) out += "- " + l + "\n";
    if (!lines.empty()) out += "\n";
  }
  for (const auto& k : diff["keys"]["added"]) out += "- signing key file added: " + w.value(k) + "\n";
  for (const auto& k : diff["keys"]["removed"]) out += "- signing key file removed: " + w.value(k) + "\n";
  return out;
}

}  // namespace modelcast
