#include "report.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <map>
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

// "26/Nov/2026:13:15:48 +0000" -> unix seconds.
bool parse_log_time(const std::string& t, int64_t* out) {
  if (t.size() != 26 || t[2] != '/' || t[6] != '/' || t[11] != ':' || t[20] != ' ') return false;
  struct tm tm {};
  int day, year, hour, minute, second, off_h, off_m;
  if (!digits(t, 0, 2, &day) || !digits(t, 7, 4, &year) || !digits(t, 12, 2, &hour) || !digits(t, 15, 2, &minute) ||
      !digits(t, 18, 2, &second) || !digits(t, 22, 2, &off_h) || !digits(t, 24, 2, &off_m))
    return false;
  int month = month_index(t.substr(3, 3));
  if (month < 0 || (t[21] != '+' && t[21] != '-')) return false;
  tm.tm_year = year - 1900;
  tm.tm_mon = month;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  int64_t offset = (off_h * 3600 + off_m * 60) * (t[21] == '-' ? -1 : 1);
  *out = static_cast<int64_t>(::timegm(&tm)) - offset;
  return true;
}

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
    std::ifstream in(file, std::ios::binary);
    if (!in) return error(StatusCode::kNotFound, file + ": cannot open the access log");
    std::string line;
    while (std::getline(in, line)) {
      ++report.lines;
      int64_t time = 0;
      std::string ua;
      FetcherAgent agent;
      if (!parse_combined_line(line, &time, &ua) || !parse_fetcher_agent(ua, &agent)) {
        ++report.skipped;
        continue;
      }
      StreamKey key{agent.model, agent.platform};
      ReportVersion& v = versions[key][agent.active_version];
      v.version = agent.active_version;
      v.requests++;
      v.last_seen = std::max(v.last_seen, time);
      if (agent.install_token.empty()) {
        anonymous[key]++;
        continue;
      }
      Latest& latest = devices[key][agent.install_token];
      // Logs may come out of order (several files, several edges): the latest time wins.
      if (time >= latest.time) latest = {time, agent.active_version};
    }
    if (in.bad()) return error(StatusCode::kIOError, file + ": read error");
  }
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
  return {{"streams", streams}, {"lines", r.lines}, {"skipped", r.skipped}};
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
  out += std::to_string(r.lines) + " log lines, " + std::to_string(r.skipped) + " not from a modelcast fetcher\n";
  return out;
}

}  // namespace modelcast
