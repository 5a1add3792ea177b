// Field readers shared by the format 1 and format 2 validators (internal to the library).
//
// Each one checks one member's type and range and names the offending field in its error
// ("signed.files[2].size: must not be negative"), always with code kCorruption.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "modelcast/canonical_json.h"
#include "modelcast/manifest.h"
#include "modelcast/status.h"

namespace modelcast::fields {

Status corrupt(const std::string& field, const std::string& problem);
// Name-check failures inside a manifest are format violations, not usage errors.
Status as_corruption(Status s);

// `obj` is an object holding every `required` key and no key outside required + optional.
Status check_keys(const Json& obj, const std::string& where, const std::set<std::string>& required,
                  const std::set<std::string>& optional);
Result<std::string> get_string(const Json& obj, const std::string& key, const std::string& where, size_t max_len = 1024);
Result<uint64_t> get_count(const Json& obj, const std::string& key, const std::string& where, uint64_t min, uint64_t max);
// 64 lowercase hex digits.
Result<std::string> get_sha256(const Json& obj, const std::string& key, const std::string& where);
// An array of at most `max` distinct names.
Result<std::vector<std::string>> get_names(const Json& obj, const std::string& key, const std::string& where, size_t max);

// `signed` is an object of the given schema (checked first) with the members both formats
// have, and a canonical form (floats anywhere would make the signed bytes ambiguous).
// `optional`: the members this format allows beyond the ten required ones.
Status check_signed_object(const Json& s, const std::string& where, const std::string& schema,
                           const std::set<std::string>& optional);

// The stream members both formats share: model, channel, platform, version, published_at,
// expires_at (with expires_at > published_at), read from `s` into `m`.
struct StreamHeader {
  std::string model, channel, platform, published_at, expires_at;
  uint64_t version = 0;
};
Result<StreamHeader> stream_header_from_json(const Json& s, const std::string& where);

// Copies the members every manifest format shares (header, config, requirements) between
// format 1 and format 2 values (or from a StreamHeader, which has no config).
template <class From, class To>
void copy_stream_header(const From& from, To& to) {
  to.model = from.model;
  to.channel = from.channel;
  to.platform = from.platform;
  to.version = from.version;
  to.published_at = from.published_at;
  to.expires_at = from.expires_at;
}
template <class From, class To>
void copy_shared_members(const From& from, To& to) {
  copy_stream_header(from, to);
  to.config = from.config;
  to.requirements = from.requirements;
}

// `signed.files` is an array of 1 to kMaxFiles entries.
Status check_files_array(const Json& files, const std::string& where);

// Format 1 has no `min_os_version` (refused as an unknown field); format 2 has.
enum class RequiresFormat { kFormat1, kFormat2 };
Result<Requirements> requirements_from_json(const Json& req, const std::string& where, RequiresFormat format);
Json requirements_to_json(const Requirements& r);

// `paths[i]` is files[i].path: no two equal ignoring ASCII case, none a folder of another.
Status check_paths_distinct(const std::vector<std::string>& paths, const std::string& files_field);

}  // namespace modelcast::fields
