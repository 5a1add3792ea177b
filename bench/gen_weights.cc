// Writes a file of float32 "weights" that compress like real trained weights do
// (zstd -3 ratio ~1.08: sign and exponent bytes are skewed, mantissas are noise),
// so benchmarks see realistic compression work, not zeros.
//
// Usage: modelcast_bench_gen_weights OUT BYTES [SEED]
// Deterministic for a given seed; streams in 1 MiB chunks (bounded memory).
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

// xoshiro256** (public domain, Blackman & Vigna): fast, good enough for test data.
struct Rng {
  uint64_t s[4];
  explicit Rng(uint64_t seed) {
    for (auto& w : s) {  // splitmix64 seeding
      seed += 0x9e3779b97f4a7c15ULL;
      uint64_t z = seed;
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
      w = z ^ (z >> 31);
    }
  }
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t next() {
    const uint64_t result = rotl(s[1] * 5, 7) * 9;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
  }
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s OUT BYTES [SEED]\n", argv[0]);
    return 2;
  }
  const char* out = argv[1];
  const unsigned long long total = std::strtoull(argv[2], nullptr, 10);
  const uint64_t seed = argc > 3 ? std::strtoull(argv[3], nullptr, 10) : 1;
  std::FILE* f = std::fopen(out, "wb");
  if (!f) {
    std::fprintf(stderr, "error: cannot create %s: %s\n", out, std::strerror(errno));
    return 1;
  }
  Rng rng(seed);
  constexpr size_t kChunk = 1 << 20;
  std::vector<float> buf(kChunk / sizeof(float));
  unsigned long long left = total;
  while (left > 0) {
    for (auto& v : buf) {
      // Irwin-Hall of four 16-bit uniforms: roughly normal, std ~0.02 like a trained layer.
      const uint64_t r = rng.next();
      const double u = double(r & 0xffff) + double((r >> 16) & 0xffff) +
                       double((r >> 32) & 0xffff) + double(r >> 48);
      float x = float((u / 65536.0 - 2.0) * 0.06928);
      // Full-entropy low mantissa bits, as trained weights have.
      uint32_t bits;
      std::memcpy(&bits, &x, 4);
      bits ^= uint32_t(rng.next()) & 0x7fffu;
      std::memcpy(&x, &bits, 4);
      v = x;
    }
    const size_t n = left < kChunk ? size_t(left) : kChunk;
    if (std::fwrite(buf.data(), 1, n, f) != n) {
      std::fprintf(stderr, "error: writing %s: %s\n", out, std::strerror(errno));
      return 1;
    }
    left -= n;
  }
  if (std::fclose(f) != 0) {
    std::fprintf(stderr, "error: closing %s: %s\n", out, std::strerror(errno));
    return 1;
  }
  return 0;
}
