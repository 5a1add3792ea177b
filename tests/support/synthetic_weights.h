// Synthetic model weights for the delta and transform tests (the same recipe as
// bench/delta_bench.cc): float32 weights ~ N(0, 0.05) from a fixed seed, a fine-tune that
// multiplies each by (1 + N(0, r)), and a head-only retrain that draws the last 5% again.
// Small counts keep the tests fast; the ratios they show are those of the benchmarks.
#pragma once

#include <cstdint>
#include <cstring>
#include <random>
#include <string>

namespace modelcast::testing {

inline std::string weights(size_t count, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 0.05f);
  std::string out(count * 4, '\0');
  for (size_t i = 0; i < count; ++i) {
    float w = dist(rng);
    std::memcpy(&out[i * 4], &w, 4);
  }
  return out;
}

inline std::string fine_tune(const std::string& w, double r, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, static_cast<float>(r));
  std::string out = w;
  for (size_t i = 0; i + 4 <= out.size(); i += 4) {
    float v;
    std::memcpy(&v, &out[i], 4);
    v *= 1.0f + dist(rng);
    std::memcpy(&out[i], &v, 4);
  }
  return out;
}

// The last 5% of the weights drawn again (a new head on an unchanged body).
inline std::string retrain_head(const std::string& w, uint32_t seed) {
  std::string out = w;
  const size_t count = w.size() / 4, from = count - count / 20;
  std::string head = weights(count - from, seed);
  std::memcpy(&out[from * 4], head.data(), head.size());
  return out;
}

}  // namespace modelcast::testing
