// The CLI's progress line on stderr: bar, percent, bytes, rate and time left, redrawn at
// most ten times a second.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "modelcast/fetcher.h"

namespace modelcast {

// "12.3 MB/s" style; rate in bytes per second.
std::string format_rate(double bytes_per_second);
// "1:05" (m:ss) or "1:02:03"; "--:--" when unknown.
std::string format_eta(double seconds);

class ProgressLine {
 public:
  using Clock = std::chrono::steady_clock;
  // Always true: the CLI never cancels from here.
  bool operator()(const Progress& p);
  // The text for a state at a time (separate so it can be checked without a terminal).
  std::string render(const Progress& p, Clock::time_point now);
  void done();  // ends the line when one was drawn

 private:
  Clock::time_point start_{};
  Clock::time_point last_draw_{};
  uint64_t start_bytes_ = 0;  // resumed bytes replayed do not count toward the rate
  bool started_ = false;
  bool drawn_ = false;
};

}  // namespace modelcast
