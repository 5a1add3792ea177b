#include "progress_line.h"

#include <cstdio>

namespace modelcast {

std::string format_rate(double bps) {
  char buf[32];
  if (bps >= 1e6) std::snprintf(buf, sizeof buf, "%.1f MB/s", bps / 1e6);
  else if (bps >= 1e3) std::snprintf(buf, sizeof buf, "%.0f KB/s", bps / 1e3);
  else std::snprintf(buf, sizeof buf, "%.0f B/s", bps);
  return buf;
}

std::string format_eta(double seconds) {
  if (!(seconds >= 0) || seconds > 99 * 3600) return "--:--";
  auto s = static_cast<long>(seconds + 0.5);
  char buf[32];
  if (s >= 3600) std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
  else std::snprintf(buf, sizeof buf, "%ld:%02ld", s / 60, s % 60);
  return buf;
}

std::string ProgressLine::render(const Progress& p, Clock::time_point now) {
  if (!started_) {
    started_ = true;
    start_ = now;
    start_bytes_ = p.bytes_done;
  }
  double frac = p.bytes_total ? static_cast<double>(p.bytes_done) / static_cast<double>(p.bytes_total) : 1.0;
  if (frac > 1) frac = 1;
  std::string bar(static_cast<size_t>(frac * 24), '#');
  bar.resize(24, ' ');
  double elapsed = std::chrono::duration<double>(now - start_).count();
  double moved = static_cast<double>(p.bytes_done - start_bytes_);
  double rate = elapsed > 0.05 ? moved / elapsed : 0;
  double left = static_cast<double>(p.bytes_total > p.bytes_done ? p.bytes_total - p.bytes_done : 0);
  std::string eta = rate > 0 ? format_eta(left / rate) : format_eta(-1);
  char buf[512];
  std::snprintf(buf, sizeof buf, "[%s] %3d%% %.1f/%.1f MB  %s  ETA %s  %s (%zu/%zu)", bar.c_str(), static_cast<int>(frac * 100),
                static_cast<double>(p.bytes_done) / 1e6, static_cast<double>(p.bytes_total) / 1e6,
                rate > 0 ? format_rate(rate).c_str() : "-- B/s", eta.c_str(), p.file.c_str(), p.file_index + 1, p.file_count);
  return buf;
}

bool ProgressLine::operator()(const Progress& p) {
  auto now = Clock::now();
  bool finished = p.bytes_done >= p.bytes_total;
  if (started_ && now - last_draw_ < std::chrono::milliseconds(100) && !finished) return true;
  last_draw_ = now;
  std::string line = render(p, now);
  std::fprintf(stderr, "\r%s\033[K", line.c_str());
  drawn_ = true;
  return true;
}

void ProgressLine::done() {
  if (drawn_) std::fprintf(stderr, "\n");
}

}  // namespace modelcast
