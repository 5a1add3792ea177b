#include "json_fields.h"

#include <cctype>

#include "modelcast/encoding.h"
#include "modelcast/names.h"

namespace modelcast::fields {

Status corrupt(const std::string& field, const std::string& problem) {
  return error(StatusCode::kCorruption, field + ": " + problem);
}

Status as_corruption(Status s) { return s.ok() ? s : Status(StatusCode::kCorruption, s.message()); }

Status check_keys(const Json& obj, const std::string& where, const std::set<std::string>& required,
                  const std::set<std::string>& optional) {
  if (!obj.is_object()) return corrupt(where, "must be an object");
  for (const auto& key : required)
    if (!obj.contains(key)) return corrupt(where + "." + key, "missing");
  for (auto it = obj.begin(); it != obj.end(); ++it)
    if (!required.count(it.key()) && !optional.count(it.key())) return corrupt(where + "." + it.key(), "unknown field");
  return OkStatus();
}

Result<std::string> get_string(const Json& obj, const std::string& key, const std::string& where, size_t max_len) {
  const Json& v = obj.at(key);
  if (!v.is_string()) return corrupt(where + "." + key, "must be a string");
  const auto& s = v.get_ref<const std::string&>();
  if (s.size() > max_len) return corrupt(where + "." + key, "longer than " + std::to_string(max_len) + " characters");
  return s;
}

Result<uint64_t> get_count(const Json& obj, const std::string& key, const std::string& where, uint64_t min, uint64_t max) {
  const Json& v = obj.at(key);
  const std::string field = where + "." + key;
  if (v.is_number_float()) return corrupt(field, "must be an integer, not a floating-point number");
  if (!v.is_number_integer()) return corrupt(field, "must be an integer");
  if (!v.is_number_unsigned() && v.get<int64_t>() < 0) return corrupt(field, "must not be negative");
  // A parser stores non-negative integers as unsigned, but JSON built in code (e.g. the
  // int rollout percent in manifest_to_json) holds them signed: both are the same number.
  uint64_t n = v.is_number_unsigned() ? v.get<uint64_t>() : static_cast<uint64_t>(v.get<int64_t>());
  if (n < min || n > max)
    return corrupt(field, std::to_string(n) + " is outside " + std::to_string(min) + ".." + std::to_string(max));
  return n;
}

Result<std::vector<std::string>> get_names(const Json& obj, const std::string& key, const std::string& where, size_t max) {
  const Json& v = obj.at(key);
  const std::string field = where + "." + key;
  if (!v.is_array()) return corrupt(field, "must be an array");
  if (v.size() > max) return corrupt(field, "more than " + std::to_string(max) + " entries");
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (size_t i = 0; i < v.size(); ++i) {
    std::string item = field + "[" + std::to_string(i) + "]";
    if (!v[i].is_string()) return corrupt(item, "must be a string");
    const auto& s = v[i].get_ref<const std::string&>();
    MC_RETURN_IF_ERROR(as_corruption(check_name(s, item)));
    if (!seen.insert(s).second) return corrupt(item, "duplicate \"" + s + "\"");
    out.push_back(s);
  }
  return out;
}

Result<std::string> get_sha256(const Json& obj, const std::string& key, const std::string& where) {
  MC_ASSIGN_OR_RETURN(std::string hex, get_string(obj, key, where));
  if (!is_lower_hex(hex, 64)) return corrupt(where + "." + key, "must be 64 lowercase hex digits");
  return hex;
}

Status check_signed_object(const Json& s, const std::string& w, const std::string& schema,
                           const std::set<std::string>& optional) {
  if (!s.is_object()) return corrupt(w, "must be an object");
  if (!s.contains("schema")) return corrupt(w + ".schema", "missing");
  if (s.at("schema") != schema)
    return corrupt(w + ".schema", "unknown schema " + s.at("schema").dump() + " (this reader knows \"" + schema + "\")");
  MC_RETURN_IF_ERROR(check_keys(s, w,
                                {"schema", "model", "channel", "platform", "version", "published_at", "expires_at", "files",
                                 "config", "requires"},
                                optional));
  auto canon = canonical_json(s);
  if (!canon.ok()) return corrupt(w, canon.status().message());
  return OkStatus();
}

Result<StreamHeader> stream_header_from_json(const Json& s, const std::string& w) {
  StreamHeader m;
  MC_ASSIGN_OR_RETURN(m.model, get_string(s, "model", w));
  MC_RETURN_IF_ERROR(as_corruption(check_name(m.model, w + ".model")));
  MC_ASSIGN_OR_RETURN(m.channel, get_string(s, "channel", w));
  MC_RETURN_IF_ERROR(as_corruption(check_name(m.channel, w + ".channel")));
  MC_ASSIGN_OR_RETURN(m.platform, get_string(s, "platform", w));
  MC_RETURN_IF_ERROR(as_corruption(check_name(m.platform, w + ".platform")));
  MC_ASSIGN_OR_RETURN(m.version, get_count(s, "version", w, 1, kMaxSafeInteger));
  MC_ASSIGN_OR_RETURN(m.published_at, get_string(s, "published_at", w));
  MC_ASSIGN_OR_RETURN(m.expires_at, get_string(s, "expires_at", w));
  MC_ASSIGN_OR_RETURN(int64_t published, parse_timestamp(m.published_at, w + ".published_at"));
  MC_ASSIGN_OR_RETURN(int64_t expires, parse_timestamp(m.expires_at, w + ".expires_at"));
  if (expires <= published) return corrupt(w + ".expires_at", "must be later than published_at");
  return m;
}

Status check_files_array(const Json& files, const std::string& where) {
  if (!files.is_array()) return corrupt(where, "must be an array");
  if (files.empty()) return corrupt(where, "must name at least one file");
  if (files.size() > kMaxFiles) return corrupt(where, "more than " + std::to_string(kMaxFiles) + " files");
  return OkStatus();
}

Result<Requirements> requirements_from_json(const Json& req, const std::string& where, RequiresFormat format) {
  Requirements r;
  if (format == RequiresFormat::kFormat2)
    MC_RETURN_IF_ERROR(check_keys(req, where, {}, {"features", "min_app_version", "min_os_version", "runtime"}));
  else
    MC_RETURN_IF_ERROR(check_keys(req, where, {}, {"features", "min_app_version", "runtime"}));
  if (req.contains("features")) {
    MC_ASSIGN_OR_RETURN(r.features, get_names(req, "features", where, kMaxFeatures));
  }
  if (req.contains("min_app_version")) {
    MC_ASSIGN_OR_RETURN(r.min_app_version, get_string(req, "min_app_version", where));
    MC_RETURN_IF_ERROR(as_corruption(check_app_version(r.min_app_version, where + ".min_app_version")));
  }
  if (req.contains("runtime")) {
    MC_ASSIGN_OR_RETURN(r.runtime, get_string(req, "runtime", where));
    MC_RETURN_IF_ERROR(as_corruption(check_name(r.runtime, where + ".runtime")));
  }
  if (req.contains("min_os_version")) {
    MC_ASSIGN_OR_RETURN(r.min_os_version, get_string(req, "min_os_version", where));
    // OS versions are written like app versions ("17.0", "14", "10.15.7").
    MC_RETURN_IF_ERROR(as_corruption(check_app_version(r.min_os_version, where + ".min_os_version")));
  }
  return r;
}

Json requirements_to_json(const Requirements& r) {
  Json req = Json::object();
  if (!r.features.empty()) req["features"] = r.features;
  if (!r.min_app_version.empty()) req["min_app_version"] = r.min_app_version;
  if (!r.runtime.empty()) req["runtime"] = r.runtime;
  if (!r.min_os_version.empty()) req["min_os_version"] = r.min_os_version;
  return req;
}

namespace {

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

// Paths must stay distinct on case-insensitive device file systems (iOS, macOS) and no
// path may be a folder of another ("a" and "a/b" cannot both exist).
Status check_paths_distinct(const std::vector<std::string>& paths, const std::string& files_field) {
  std::set<std::string> seen;
  for (size_t i = 0; i < paths.size(); ++i) {
    if (!seen.insert(lower(paths[i])).second)
      return corrupt(files_field + "[" + std::to_string(i) + "].path", "duplicate path \"" + paths[i] + "\"");
  }
  for (size_t i = 0; i < paths.size(); ++i) {
    std::string prefix = lower(paths[i]) + "/";
    auto it = seen.lower_bound(prefix);
    if (it != seen.end() && it->compare(0, prefix.size(), prefix) == 0)
      return corrupt(files_field + "[" + std::to_string(i) + "].path", "\"" + paths[i] + "\" is also used as a folder");
  }
  return OkStatus();
}

}  // namespace modelcast::fields
