#include "progress.h"

#include <unistd.h>

#include <cstdio>

namespace modelcast {

ByteProgressLog::ByteProgressLog(std::string label, uint64_t total_bytes, bool enabled)
    : label_(std::move(label)),
      total_(total_bytes),
      enabled_(enabled && total_bytes >= kProgressMinBytes),
      tty_(::isatty(STDERR_FILENO) == 1),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

ByteProgressLog::~ByteProgressLog() { finish(); }

void ByteProgressLog::update(uint64_t done) {
  if (!enabled_ || finished_ || total_ == 0) return;
  int percent = static_cast<int>(done * 100 / total_);
  if (tty_) {
    auto now = std::chrono::steady_clock::now();
    if (now - last_draw_ < std::chrono::milliseconds(200)) return;
    last_draw_ = now;
    std::fprintf(stderr, "\r%s: %s / %s (%d%%)   ", label_.c_str(), human_size(done).c_str(), human_size(total_).c_str(),
                 percent);
  } else {
    int quarter = percent / 25;
    if (quarter <= last_quarter_ || quarter >= 4) return;
    last_quarter_ = quarter;
    std::fprintf(stderr, "%s: %s / %s (%d%%)\n", label_.c_str(), human_size(done).c_str(), human_size(total_).c_str(), percent);
  }
}

void ByteProgressLog::finish() {
  if (!enabled_ || finished_) return;
  finished_ = true;
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  std::fprintf(stderr, "%s%s: %s done in %.1f s\n", tty_ ? "\r" : "", label_.c_str(), human_size(total_).c_str(), seconds);
}

std::string human_size(uint64_t bytes) {
  if (bytes < 1000) return std::to_string(bytes) + " B";
  static const char* kUnits[] = {"KB", "MB", "GB", "TB"};
  double v = static_cast<double>(bytes);
  int unit = -1;
  while (v >= 1000 && unit < 3) {
    v /= 1000;
    ++unit;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f %s", v, kUnits[unit]);
  return buf;
}

}  // namespace modelcast
