// `modelcast report`: what runs where, from the static host's access logs.
//
// Reads nginx/CDN logs in the combined format
//   IP - USER [26/Nov/2026:13:15:48 +0000] "GET /path HTTP/1.1" 200 123 "referer" "user agent"
// and keeps the requests of modelcast fetchers, whose User-Agent is
//   modelcast-fetch/VERSION (MODEL; vACTIVE; PLATFORM[; install TOKEN])
// A device is its install token: a random value per installation that the app chooses
// to send (FetcherOptions::install_token), never a hardware id. Each device counts once,
// at the version its latest request named; requests without a token are counted, not
// attributed to devices. Lines of other clients or formats, impossible times and lines
// over kMaxLogLineBytes are skipped and counted. Logs are streamed through a fixed buffer.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "modelcast/canonical_json.h"
#include "modelcast/status.h"

namespace modelcast {

struct ReportVersion {
  uint64_t version = 0;  // 0: the device had no model yet
  size_t devices = 0;    // distinct tokens whose latest request named this version
  size_t requests = 0;   // every fetcher request naming it, with or without a token
  int64_t last_seen = 0;  // unix seconds of the latest such request
};

struct ReportStream {
  std::string model, platform;
  std::vector<ReportVersion> versions;  // highest version first
  size_t devices = 0;
  size_t requests_without_token = 0;
};

struct Report {
  std::vector<ReportStream> streams;  // sorted by model, platform
  size_t lines = 0;
  size_t skipped = 0;      // every line not counted: the three below
  size_t not_fetcher = 0;  // combined format, another client
  size_t malformed = 0;    // not the combined format, or a time no clock shows (31/Feb, 25:00)
  size_t too_long = 0;     // over kMaxLogLineBytes: skipped unread
};

// Longer lines are no request a fetcher makes (its User-Agent and URLs are short); they
// are skipped as they are read, so a log of any shape is read in bounded memory.
constexpr size_t kMaxLogLineBytes = 64 * 1024;

// One User-Agent of a modelcast fetcher; false for anything else.
struct FetcherAgent {
  std::string model, platform, install_token;
  uint64_t active_version = 0;
};
bool parse_fetcher_agent(const std::string& user_agent, FetcherAgent* out);

// A combined-format line's time (unix seconds, negative before 1970) and User-Agent; false
// when the line is not in that format or its time is impossible.
bool parse_combined_line(const std::string& line, int64_t* time, std::string* user_agent);

Result<Report> build_report(const std::vector<std::string>& log_files);
Json report_to_json(const Report& report);
std::string report_to_text(const Report& report);

}  // namespace modelcast
