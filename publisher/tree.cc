#include "tree.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <set>

#include "modelcast/fs.h"
#include "modelcast/names.h"

namespace modelcast {

namespace {
Status corrupt(const std::string& field, const std::string& problem) {
  return error(StatusCode::kCorruption, field + ": " + problem);
}
}  // namespace

Result<TreeSettings> settings_from_json(const Json& v, const std::string& where) {
  if (!v.is_object()) return corrupt(where, "must be a JSON object");
  static const std::set<std::string> kKnown = {"schema", "base_url", "trusted_keys", "defaults", "host"};
  for (auto it = v.begin(); it != v.end(); ++it)
    if (!kKnown.count(it.key())) return corrupt(where + "." + it.key(), "unknown field");
  if (!v.contains("schema") || v.at("schema") != kTreeSchema)
    return corrupt(where + ".schema", std::string("must be \"") + kTreeSchema + "\"");
  TreeSettings s;
  if (v.contains("base_url")) {
    if (!v.at("base_url").is_string()) return corrupt(where + ".base_url", "must be a string");
    s.base_url = v.at("base_url").get<std::string>();
  }
  if (v.contains("trusted_keys")) {
    const Json& keys = v.at("trusted_keys");
    if (!keys.is_array()) return corrupt(where + ".trusted_keys", "must be an array of key ids");
    for (size_t i = 0; i < keys.size(); ++i) {
      std::string item = where + ".trusted_keys[" + std::to_string(i) + "]";
      if (!keys[i].is_string()) return corrupt(item, "must be a string");
      std::string id = keys[i].get<std::string>();
      if (id.size() != 64 || id.find_first_not_of("0123456789abcdef") != std::string::npos)
        return corrupt(item, "must be 64 lowercase hex digits");
      s.trusted_keys.push_back(id);
    }
  }
  if (v.contains("defaults")) {
    const Json& d = v.at("defaults");
    if (!d.is_object()) return corrupt(where + ".defaults", "must be an object");
    for (auto it = d.begin(); it != d.end(); ++it) {
      if (it.key() == "channel") {
        if (!it->is_string()) return corrupt(where + ".defaults.channel", "must be a string");
        s.default_channel = it->get<std::string>();
        Status st = check_name(s.default_channel, where + ".defaults.channel");
        if (!st.ok()) return Status(StatusCode::kCorruption, st.message());
      } else if (it.key() == "expires_in_days") {
        if (!it->is_number_integer() || it->get<int64_t>() < 1 || it->get<int64_t>() > 3650)
          return corrupt(where + ".defaults.expires_in_days", "must be an integer from 1 to 3650");
        s.expires_in_days = it->get<int>();
      } else {
        return corrupt(where + ".defaults." + it.key(), "unknown field");
      }
    }
  }
  if (v.contains("host")) {
    const Json& h = v.at("host");
    if (!h.is_object() || h.size() != 2 || !h.contains("name") || !h.contains("max_file_bytes") || !h.at("name").is_string() ||
        !h.at("max_file_bytes").is_number_unsigned())
      return corrupt(where + ".host", "must be {\"name\": string, \"max_file_bytes\": integer >= 0}");
    s.host = h.at("name").get<std::string>();
    s.max_file_bytes = h.at("max_file_bytes").get<uint64_t>();
  }
  return s;
}

Json settings_to_json(const TreeSettings& s) {
  Json j = {{"schema", kTreeSchema},
            {"base_url", s.base_url},
            {"trusted_keys", s.trusted_keys},
            {"defaults", {{"channel", s.default_channel}, {"expires_in_days", s.expires_in_days}}}};
  if (!s.host.empty()) j["host"] = {{"name", s.host}, {"max_file_bytes", s.max_file_bytes}};
  return j;
}

Result<uint64_t> host_max_file_bytes(const std::string& host) {
  if (host == "github-pages") return kGithubPagesMaxFileBytes;
  if (host == "cloudflare-pages") return kCloudflarePagesMaxFileBytes;
  if (host == "none") return uint64_t{0};
  return error(StatusCode::kInvalidArgument, "--host: \"" + host + "\" is not github-pages, cloudflare-pages or none");
}

std::string TreeLayout::current_manifest(const std::string& model, const std::string& channel, const std::string& platform) {
  return "manifests/" + model + "/" + channel + "/" + platform + ".json";
}

std::string TreeLayout::current_manifest_v2(const std::string& model, const std::string& channel,
                                            const std::string& platform) {
  return "v2/" + current_manifest(model, channel, platform);
}

std::string TreeLayout::version_dir_v2(const std::string& model, const std::string& channel, const std::string& platform) {
  return "v2/" + version_dir(model, channel, platform);
}

std::string TreeLayout::versioned_manifest_v2(const std::string& model, const std::string& channel, const std::string& platform,
                                              uint64_t version) {
  return "v2/" + versioned_manifest(model, channel, platform, version);
}

std::string TreeLayout::version_dir(const std::string& model, const std::string& channel, const std::string& platform) {
  return "manifests/" + model + "/" + channel + "/" + platform;
}

std::string TreeLayout::versioned_manifest(const std::string& model, const std::string& channel, const std::string& platform,
                                           uint64_t version) {
  return version_dir(model, channel, platform) + "/" + std::to_string(version) + ".json";
}

std::string TreeLayout::key_file(const std::string& key_id) { return "keys/" + key_id + ".pub"; }

Result<Tree> Tree::open(const std::string& root, FileSystem& fs) {
  std::string clean = root;
  while (clean.size() > 1 && clean.back() == '/') clean.pop_back();
  std::string settings_path = clean + "/" + kSettingsFile;
  auto text = fs.read_file(settings_path, 1 << 20);
  if (!text.ok()) {
    if (text.status().code() == StatusCode::kNotFound)
      return error(StatusCode::kNotFound, clean + ": not a modelcast tree (no " + kSettingsFile + "; run `modelcast init`)");
    return text.status();
  }
  MC_ASSIGN_OR_RETURN(Json doc, parse_json_strict(*text, 1 << 20, settings_path));
  Tree tree;
  tree.root_ = clean;
  tree.fs_ = &fs;
  MC_ASSIGN_OR_RETURN(tree.settings_, settings_from_json(doc, settings_path));
  return tree;
}

Status Tree::save_settings() const {
  return fs_->write_file_atomic(path(kSettingsFile), pretty_json(settings_to_json(settings_)));
}

std::string git_attributes_file() {
  return "# modelcast: every file is served byte for byte; git must not convert line endings.\n"
         "* -text\n"
         "blobs/** binary\n"
         "parts/** binary\n"
         "deltas/** binary\n";
}

bool git_attributes_protect_tree(const std::string& text) {
  // The first line that applies to every path must turn conversion off.
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line == "* -text" || line == "* binary" || line == "* -text -diff") return true;
    start = end + 1;
  }
  return false;
}

Status write_manifest_version(const Tree& tree, const std::string& model, const std::string& channel,
                              const std::string& platform, uint64_t version, const std::string& signed_text,
                              const std::string& root) {
  FileSystem& fs = tree.fs();
  MC_RETURN_IF_ERROR(fs.make_dirs(tree.path(root + TreeLayout::version_dir(model, channel, platform))));
  // A versioned manifest is immutable: O_EXCL refuses to replace one.
  MC_RETURN_IF_ERROR(
      fs.write_new_file(tree.path(root + TreeLayout::versioned_manifest(model, channel, platform, version)), signed_text, 0644));
  return fs.write_file_atomic(tree.path(root + TreeLayout::current_manifest(model, channel, platform)), signed_text);
}

Result<uint64_t> highest_versioned(const Tree& tree, const std::string& model, const std::string& channel,
                                   const std::string& platform) {
  uint64_t last = 0;
  for (const char* root : {"", "v2/"}) {
    std::vector<std::string> ignored;
    MC_ASSIGN_OR_RETURN(auto streams, list_streams(tree.path(root), &ignored, tree.fs()));
    for (const auto& s : streams)
      if (s.model == model && s.channel == channel && s.platform == platform && !s.versions.empty())
        last = std::max(last, s.versions.back());
  }
  return last;
}

std::vector<std::string> stored_paths(const ManifestV2& m) {
  std::vector<std::string> out;
  for (const auto& f : m.files) {
    for (const auto& b : f.blobs) {
      if (!b.url.empty()) out.push_back(b.url);
      for (const auto& p : b.parts) out.push_back(p.url);
    }
    for (const auto& d : f.deltas) out.push_back(d.url);
  }
  return out;
}

std::vector<PublicKey> load_trusted_keys(const Tree& tree, std::vector<std::string>* problems) {
  std::vector<PublicKey> keys;
  for (const auto& id : tree.settings().trusted_keys) {
    std::string rel = TreeLayout::key_file(id);
    auto key = PublicKey::from_pem_file(tree.path(rel));
    if (!key.ok()) {
      problems->push_back(rel + ": trusted in " + kSettingsFile + " but unreadable: " + key.status().message());
      continue;
    }
    if (key->key_id() != id) {
      problems->push_back(rel + ": holds key " + key->key_id() + ", not " + id);
      continue;
    }
    keys.push_back(*key);
  }
  return keys;
}

std::string cache_headers_file() {
  return "# Cache rules for static hosts that read _headers (Netlify, Cloudflare Pages).\n"
         "# Blob and delta URLs name their content by SHA-256: their bytes never change.\n"
         "/blobs/*\n"
         "  Cache-Control: public, max-age=31536000, immutable\n"
         "/deltas/*\n"
         "  Cache-Control: public, max-age=31536000, immutable\n"
         "# Manifests change on every publish; devices revalidate with ETag.\n"
         "/manifests/*\n"
         "  Cache-Control: public, max-age=60, must-revalidate\n"
         "/keys/*\n"
         "  Cache-Control: public, max-age=300\n"
         "/index.json\n"
         "  Cache-Control: public, max-age=60, must-revalidate\n"
         "/index.html\n"
         "  Cache-Control: public, max-age=60, must-revalidate\n";
}

}  // namespace modelcast

namespace modelcast {

namespace {

struct DirEntry {
  std::string name;
  bool is_dir = false;
};

// Entries of `dir` sorted by name, without "." and ".."; a missing folder is empty.
Result<std::vector<DirEntry>> list_dir(FileSystem& fs, const std::string& dir) {
  std::vector<DirEntry> out;
  auto names = fs.list_dir(dir);
  if (!names.ok()) {
    if (names.status().code() == StatusCode::kNotFound) return out;
    return names.status();
  }
  for (const auto& name : *names) {
    auto info = fs.lstat(dir + "/" + name);
    out.push_back({name, info.ok() && info->type == FileType::kDirectory});
  }
  return out;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// "12.json" -> 12; anything else (leading zeros, signs, huge) -> 0.
uint64_t version_of(const std::string& file) {
  if (!ends_with(file, ".json")) return 0;
  std::string digits = file.substr(0, file.size() - 5);
  if (digits.empty() || digits.size() > 15 || digits[0] == '0') return 0;
  for (char c : digits)
    if (c < '0' || c > '9') return 0;
  return std::stoull(digits);
}

}  // namespace

Result<std::vector<StreamFiles>> list_streams(const std::string& root, std::vector<std::string>* stray, FileSystem& fs) {
  std::vector<StreamFiles> out;
  auto note = [&](const std::string& p) {
    if (stray) stray->push_back(p);
  };
  const std::string base = root + "/manifests";
  MC_ASSIGN_OR_RETURN(auto models, list_dir(fs, base));
  for (const auto& m : models) {
    std::string mrel = "manifests/" + m.name;
    if (!m.is_dir || !check_name(m.name, "model").ok()) {
      note(mrel);
      continue;
    }
    MC_ASSIGN_OR_RETURN(auto channels, list_dir(fs, base + "/" + m.name));
    for (const auto& c : channels) {
      std::string crel = mrel + "/" + c.name;
      if (!c.is_dir || !check_name(c.name, "channel").ok()) {
        note(crel);
        continue;
      }
      MC_ASSIGN_OR_RETURN(auto entries, list_dir(fs, root + "/" + crel));
      std::map<std::string, StreamFiles> by_platform;
      for (const auto& e : entries) {
        std::string erel = crel + "/" + e.name;
        std::string platform = e.is_dir ? e.name : (ends_with(e.name, ".json") ? e.name.substr(0, e.name.size() - 5) : "");
        if (platform.empty() || !check_name(platform, "platform").ok()) {
          note(erel);
          continue;
        }
        StreamFiles& s = by_platform[platform];
        s.model = m.name;
        s.channel = c.name;
        s.platform = platform;
        if (!e.is_dir) {
          s.has_current = true;
          continue;
        }
        MC_ASSIGN_OR_RETURN(auto versions, list_dir(fs, root + "/" + erel));
        for (const auto& v : versions) {
          uint64_t n = v.is_dir ? 0 : version_of(v.name);
          if (n == 0) note(erel + "/" + v.name);
          else s.versions.push_back(n);
        }
        std::sort(s.versions.begin(), s.versions.end());
      }
      for (auto& kv : by_platform) out.push_back(std::move(kv.second));
    }
  }
  return out;
}

Result<std::vector<std::string>> list_blob_files(const std::string& root, FileSystem& fs) {
  std::vector<std::string> out;
  MC_ASSIGN_OR_RETURN(auto prefixes, list_dir(fs, root + "/blobs/sha256"));
  for (const auto& p : prefixes) {
    std::string prel = "blobs/sha256/" + p.name;
    if (!p.is_dir) {
      out.push_back(prel);
      continue;
    }
    MC_ASSIGN_OR_RETURN(auto files, list_dir(fs, root + "/" + prel));
    for (const auto& f : files) out.push_back(prel + "/" + f.name);
  }
  return out;
}

}  // namespace modelcast
