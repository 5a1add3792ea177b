#include "report.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <tuple>

#include "modelcast/names.h"

namespace modelcast {

namespace {

int month_index(const std::string& m) {
  static const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  for (int i = 0; i < 12; ++i)
    if (m == kMonths[i]) return i;
  return -1;
}

bool digits(const std::string& s, size_t pos, size_t n, int* out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

bool is_leap(int year) { return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0; }

int days_in_month(int year, int month) {  // month 0..11
  static const int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month == 1 && is_leap(year) ? 29 : kDays[month];
}

// Days from 1970-01-01 to year-month(0..11)-day in the proleptic Gregorian calendar,
// negative before 1970 (no time_t, no timegm: the same on every platform).
int64_t days_from_epoch(int year, int month, int day) {
  const int y = month < 2 ? year - 1 : year;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t year_of_era = y - era * 400;
  const int m = month + 1;
  const int64_t day_of_year = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + day - 1;
  const int64_t day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
  return era * 146097 + day_of_era - 719468;
}

// "26/Nov/2026:13:15:48 +0000" -> unix seconds; false for anything that is no real time:
// a day the month does not have, 24:00 or more, a UTC offset beyond ±14:00, a year before
// 1900 (no clock writes those) or after 9999.
bool parse_log_time(const std::string& t, int64_t* out) {
  if (t.size() != 26 || t[2] != '/' || t[6] != '/' || t[11] != ':' || t[14] != ':' || t[17] != ':' || t[20] != ' ')
    return false;
  int day, year, hour, minute, second, off_h, off_m;
  if (!digits(t, 0, 2, &day) || !digits(t, 7, 4, &year) || !digits(t, 12, 2, &hour) || !digits(t, 15, 2, &minute) ||
      !digits(t, 18, 2, &second) || !digits(t, 22, 2, &off_h) || !digits(t, 24, 2, &off_m))
    return false;
  int month = month_index(t.substr(3, 3));
  if (month < 0 || (t[21] != '+' && t[21] != '-')) return false;
  if (year < 1900 || day < 1 || day > days_in_month(year, month) || hour > 23 || minute > 59 || second > 59 || off_m > 59 ||
      off_h * 60 + off_m > 14 * 60)
    return false;
  const int64_t offset = (off_h * 3600 + off_m * 60) * (t[21] == '-' ? -1 : 1);
  *out = days_from_epoch(year, month, day) * 86400 + hour * 3600 + minute * 60 + second - offset;
  return true;
}

// Reads a log line by line through one fixed buffer. A line longer than kMaxLogLineBytes
// is skipped as it is read, never held: memory stays bounded whatever the file holds.
class LogLineReader {
 public:
  enum class Next { kLine, kTooLong, kEnd };

  explicit LogLineReader(std::FILE* file) : file_(file), buffer_(kBufferBytes) {}

  // The next line without its '\n' (a last line without one counts), kTooLong for an
  // over-long one, kEnd at the end of the file or on a read error (see failed()).
  Next next(std::string* line) {
    line->clear();
    bool any = false, too_long = false;
    for (;;) {
      if (pos_ == len_) {
        len_ = std::fread(buffer_.data(), 1, buffer_.size(), file_);
        pos_ = 0;
        if (len_ == 0) return !any ? Next::kEnd : too_long ? Next::kTooLong : Next::kLine;
      }
      any = true;
      const char* start = buffer_.data() + pos_;
      const void* newline = std::memchr(start, '\n', len_ - pos_);
      const size_t n = newline ? static_cast<size_t>(static_cast<const char*>(newline) - start) : len_ - pos_;
      if (!too_long && line->size() + n > kMaxLogLineBytes) {
        too_long = true;
        line->clear();
        line->shrink_to_fit();
      }
      if (!too_long) line->append(start, n);
      pos_ += n;
      if (newline) {
        ++pos_;
        return too_long ? Next::kTooLong : Next::kLine;
      }
    }
  }

  bool failed() const { return std::ferror(file_) != 0; }

 private:
  static constexpr size_t kBufferBytes = 64 * 1024;
  std::FILE* file_;
  std::vector<char> buffer_;
  size_t pos_ = 0, len_ = 0;
};

// The next "..." field from `pos` (nginx escapes quotes inside as \x22).
bool next_quoted(const std::string& line, size_t* pos, std::string* out) {
  size_t a = line.find('"', *pos);
  if (a == std::string::npos) return false;
  size_t b = line.find('"', a + 1);
  if (b == std::string::npos) return false;
  *out = line.substr(a + 1, b - a - 1);
  *pos = b + 1;
  return true;
}

}  // namespace

bool parse_combined_line(const std::string& line, int64_t* time, std::string* user_agent) {
  size_t open = line.find('[');
  size_t close = open == std::string::npos ? open : line.find(']', open);
  if (close == std::string::npos || !parse_log_time(line.substr(open + 1, close - open - 1), time)) return false;
  size_t pos = close + 1;
  std::string request, referer;
  return next_quoted(line, &pos, &request) && next_quoted(line, &pos, &referer) && next_quoted(line, &pos, user_agent);
}

bool parse_fetcher_agent(const std::string& ua, FetcherAgent* out) {
  const std::string prefix = "modelcast-fetch/";
  if (ua.compare(0, prefix.size(), prefix) != 0) return false;
  size_t open = ua.find(" (");
  if (open == std::string::npos || ua.back() != ')') return false;
  std::vector<std::string> parts;
  std::string inner = ua.substr(open + 2, ua.size() - open - 3);
  size_t start = 0;
  for (;;) {
    size_t sep = inner.find("; ", start);
    parts.push_back(inner.substr(start, sep == std::string::npos ? std::string::npos : sep - start));
    if (sep == std::string::npos) break;
    start = sep + 2;
  }
  if (parts.size() < 3 || parts[1].size() < 2 || parts[1][0] != 'v') return false;
  FetcherAgent a;
  a.model = parts[0];
  a.platform = parts[2];
  if (!check_name(a.model, "model").ok() || !check_name(a.platform, "platform").ok()) return false;
  const std::string number = parts[1].substr(1);
  if (number.size() > 15 || number.find_first_not_of("0123456789") != std::string::npos) return false;
  a.active_version = std::stoull(number);
  for (size_t i = 3; i < parts.size(); ++i)
    if (parts[i].compare(0, 8, "install ") == 0) a.install_token = parts[i].substr(8);
  *out = std::move(a);
  return true;
}

Result<Report> build_report(const std::vector<std::string>& log_files) {
  if (log_files.empty()) return error(StatusCode::kInvalidArgument, "--access-log: at least one log file is required");
  using StreamKey = std::pair<std::string, std::string>;
  struct Latest {
    int64_t time = 0;
    uint64_t version = 0;
  };
  std::map<StreamKey, std::map<std::string, Latest>> devices;  // token -> latest request
  std::map<StreamKey, std::map<uint64_t, ReportVersion>> versions;
  std::map<StreamKey, size_t> anonymous;
  Report report;
  for (const auto& file : log_files) {
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> in(std::fopen(file.c_str(), "rb"), &std::fclose);
    if (!in) return error(StatusCode::kNotFound, file + ": cannot open the access log");
    LogLineReader reader(in.get());
    std::string line;
    for (LogLineReader::Next next; (next = reader.next(&line)) != LogLineReader::Next::kEnd;) {
      ++report.lines;
      if (next == LogLineReader::Next::kTooLong) {
        ++report.too_long;
        continue;
      }
      int64_t time = 0;
      std::string ua;
      FetcherAgent agent;
      if (!parse_combined_line(line, &time, &ua)) {
        ++report.malformed;
        continue;
      }
      if (!parse_fetcher_agent(ua, &agent)) {
        ++report.not_fetcher;
        continue;
      }
      StreamKey key{agent.model, agent.platform};
      ReportVersion& v = versions[key][agent.active_version];
      if (v.requests == 0) v.last_seen = time;
      v.version = agent.active_version;
      v.requests++;
      v.last_seen = std::max(v.last_seen, time);
      if (agent.install_token.empty()) {
        anonymous[key]++;
        continue;
      }
      // Logs may come out of order (several files, several edges): the latest time wins.
      auto [latest, first] = devices[key].try_emplace(agent.install_token, Latest{time, agent.active_version});
      if (!first && time >= latest->second.time) latest->second = {time, agent.active_version};
    }
    if (reader.failed()) return error(StatusCode::kIOError, file + ": read error");
  }
  report.skipped = report.not_fetcher + report.malformed + report.too_long;
  for (auto& [key, by_version] : versions) {
    ReportStream s;
    s.model = key.first;
    s.platform = key.second;
    for (const auto& [token, latest] : devices[key]) {
      by_version[latest.version].devices++;
      s.devices++;
    }
    for (auto it = by_version.rbegin(); it != by_version.rend(); ++it) s.versions.push_back(it->second);
    s.requests_without_token = anonymous[key];
    report.streams.push_back(std::move(s));
  }
  return report;
}

Json report_to_json(const Report& r) {
  Json streams = Json::array();
  for (const auto& s : r.streams) {
    Json versions = Json::array();
    for (const auto& v : s.versions)
      versions.push_back({{"version", v.version},
                          {"devices", v.devices},
                          {"requests", v.requests},
                          {"last_seen", format_timestamp(v.last_seen)}});
    streams.push_back({{"model", s.model},
                       {"platform", s.platform},
                       {"devices", s.devices},
                       {"requests_without_token", s.requests_without_token},
                       {"versions", versions}});
  }
  return {{"streams", streams},     {"lines", r.lines},       {"skipped", r.skipped},  {"not_fetcher", r.not_fetcher},
          {"malformed", r.malformed}, {"too_long", r.too_long}};
}

std::string report_to_text(const Report& r) {
  std::string out;
  char line[256];
  for (const auto& s : r.streams) {
    out += s.model + " (" + s.platform + "): " + std::to_string(s.devices) + (s.devices == 1 ? " device\n" : " devices\n");
    for (const auto& v : s.versions) {
      std::snprintf(line, sizeof line, "  %-8s %6zu device%s  last seen %s  (%zu requests)\n",
                    v.version ? ("v" + std::to_string(v.version)).c_str() : "none", v.devices, v.devices == 1 ? " " : "s",
                    format_timestamp(v.last_seen).c_str(), v.requests);
      out += line;
    }
    if (s.requests_without_token)
      out += "  " + std::to_string(s.requests_without_token) + " requests without an install token (not counted as devices)\n";
  }
  out += std::to_string(r.lines) + " log lines, " + std::to_string(r.not_fetcher) + " not from a modelcast fetcher, " +
         std::to_string(r.malformed) + " malformed, " + std::to_string(r.too_long) + " over " +
         std::to_string(kMaxLogLineBytes / 1024) + " KiB (skipped)\n";
  return out;
}

}  // namespace modelcast
