#include "modelcast/names.h"

#include <ctime>
#include <vector>

namespace modelcast {

namespace {

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

bool is_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

std::string printable(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 80)) out.push_back(static_cast<unsigned char>(c) < 0x20 || c == 0x7f ? '?' : c);
  return out;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  for (size_t i = 0; i <= s.size(); ++i) {
    if (i == s.size() || s[i] == sep) {
      parts.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  }
  return parts;
}

}  // namespace

Status check_name(std::string_view value, const std::string& field) {
  if (value.empty()) return error(StatusCode::kInvalidArgument, field + ": must not be empty");
  if (value.size() > kMaxNameLength)
    return error(StatusCode::kInvalidArgument, field + ": longer than " + std::to_string(kMaxNameLength) + " characters");
  for (char c : value) {
    if (c == '/' || c == '\\') return error(StatusCode::kInvalidArgument, field + ": \"" + printable(value) + "\" must not contain '/'");
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
      return error(StatusCode::kInvalidArgument, field + ": must not contain control characters");
    if (!is_name_char(c))
      return error(StatusCode::kInvalidArgument,
                   field + ": \"" + printable(value) + "\" may only use letters, digits, '.', '_' and '-'");
  }
  if (!is_alnum(value[0]))
    return error(StatusCode::kInvalidArgument, field + ": \"" + printable(value) + "\" must start with a letter or digit");
  return OkStatus();
}

Status check_file_path(std::string_view path, const std::string& field) {
  if (path.empty()) return error(StatusCode::kInvalidArgument, field + ": must not be empty");
  if (path.size() > kMaxFilePathLength)
    return error(StatusCode::kInvalidArgument, field + ": longer than " + std::to_string(kMaxFilePathLength) + " characters");
  if (path[0] == '/') return error(StatusCode::kInvalidArgument, field + ": \"" + printable(path) + "\" must be relative");
  auto segments = split(path, '/');
  if (segments.size() > kMaxFilePathDepth)
    return error(StatusCode::kInvalidArgument, field + ": deeper than " + std::to_string(kMaxFilePathDepth) + " folders");
  for (auto seg : segments) {
    if (seg == "..") return error(StatusCode::kInvalidArgument, field + ": \"" + printable(path) + "\" must not contain '..'");
    if (seg.empty() || seg == ".")
      return error(StatusCode::kInvalidArgument, field + ": \"" + printable(path) + "\" has an empty or '.' segment");
    for (char c : seg) {
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
        return error(StatusCode::kInvalidArgument, field + ": must not contain control characters");
      if (!is_name_char(c))
        return error(StatusCode::kInvalidArgument,
                     field + ": \"" + printable(path) + "\" may only use letters, digits, '.', '_', '-' and '/'");
    }
  }
  return OkStatus();
}

std::string blob_url(const std::string& sha256_hex, bool zstd) {
  return "blobs/sha256/" + sha256_hex.substr(0, 2) + "/" + sha256_hex + (zstd ? ".zst" : "");
}

Result<int64_t> parse_timestamp(std::string_view t, const std::string& field) {
  auto bad = [&] {
    return error(StatusCode::kCorruption, field + ": \"" + printable(t) + "\" is not a UTC timestamp like 2026-01-31T12:00:00Z");
  };
  if (t.size() != 20 || t[4] != '-' || t[7] != '-' || t[10] != 'T' || t[13] != ':' || t[16] != ':' || t[19] != 'Z')
    return bad();
  auto num = [&](size_t pos, size_t len, int& out) {
    out = 0;
    for (size_t i = pos; i < pos + len; ++i) {
      if (t[i] < '0' || t[i] > '9') return false;
      out = out * 10 + (t[i] - '0');
    }
    return true;
  };
  int y, mo, d, h, mi, s;
  if (!num(0, 4, y) || !num(5, 2, mo) || !num(8, 2, d) || !num(11, 2, h) || !num(14, 2, mi) || !num(17, 2, s)) return bad();
  static const int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > kDays[mo - 1] + (mo == 2 && leap ? 1 : 0) || h > 23 || mi > 59 || s > 59)
    return bad();
  // Days since the epoch (civil-from-days inverse), no time zone involved.
  int yy = mo <= 2 ? y - 1 : y;
  int era = yy / 400;
  int yoe = yy - era * 400;
  int doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  int64_t days = static_cast<int64_t>(era) * 146097 + doe - 719468;
  return days * 86400 + h * 3600 + mi * 60 + s;
}

std::string format_timestamp(int64_t unix_seconds) {
  time_t t = static_cast<time_t>(unix_seconds);
  struct tm tm;
  gmtime_r(&t, &tm);
  char buf[32];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

Status check_app_version(std::string_view version, const std::string& field) {
  auto parts = split(version, '.');
  bool ok = !version.empty() && parts.size() <= 4;
  for (auto p : parts) {
    ok = ok && !p.empty() && p.size() <= 9;
    for (char c : p) ok = ok && c >= '0' && c <= '9';
  }
  if (!ok) return error(StatusCode::kInvalidArgument, field + ": \"" + printable(version) + "\" is not a version like 2.10.1");
  return OkStatus();
}

int compare_app_versions(std::string_view a, std::string_view b) {
  auto pa = split(a, '.'), pb = split(b, '.');
  for (size_t i = 0; i < std::max(pa.size(), pb.size()); ++i) {
    long va = i < pa.size() ? std::stol(std::string(pa[i])) : 0;
    long vb = i < pb.size() ? std::stol(std::string(pb[i])) : 0;
    if (va != vb) return va < vb ? -1 : 1;
  }
  return 0;
}

}  // namespace modelcast
