// A progress line on stderr for long file operations (hashing and compressing a model).
//
// Small files print nothing: a publish of a 10 KB labels file should stay quiet. On a
// terminal the line is redrawn in place; otherwise (CI logs) a line is printed every
// quarter so the log stays short. Not thread-safe: one ByteProgressLog per file being processed.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace modelcast {

constexpr uint64_t kProgressMinBytes = 8ull << 20;  // "over a few MB"

class ByteProgressLog {
 public:
  ByteProgressLog(std::string label, uint64_t total_bytes, bool enabled);
  ~ByteProgressLog();
  void update(uint64_t done_bytes);
  void finish();

 private:
  std::string label_;
  uint64_t total_;
  bool enabled_;
  bool tty_;
  bool finished_ = false;
  int last_quarter_ = 0;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
};

// "4.1 MB", "512 B", "1.0 GB": decimal units, one decimal, for messages and commit titles.
std::string human_size(uint64_t bytes);

}  // namespace modelcast
