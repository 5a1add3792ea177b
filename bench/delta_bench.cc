// Driver for the xform benchmarks (bench/delta_bench.py runs it beside the zstd baselines).
//
//   modelcast_bench_delta gen DIR COUNT [pair]     synthetic weights: see below
//   modelcast_bench_delta encode TARGET BASE OUT   plan + encode ("" BASE: a blob); prints JSON
//   modelcast_bench_delta apply STREAM BASE OUT SIZE   decode ("" BASE: a blob); prints JSON
//
// gen writes, for COUNT float32 weights w ~ N(0, 0.05) (std::mt19937, fixed seeds):
//   w.f32        the base model
//   ft3.f32      a fine-tune: each weight times (1 + N(0, 1e-3))
//   head.f32     a head-only retrain: the last 5% of the weights drawn again
//   w.i8, ft3.i8 w and ft3 quantised to int8 with one fixed scale (4 sigma = 127)
// (with `pair`, only the first two). TFLite inputs are planned with their tensor extents (tensor alignment).
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "modelcast/fs.h"
#include "modelcast/model_info.h"
#include "modelcast/xform.h"
#include "modelcast/xform_encode.h"

using namespace modelcast;

namespace {

[[noreturn]] void die(const std::string& message) {
  std::fprintf(stderr, "modelcast_bench_delta: %s\n", message.c_str());
  std::exit(1);
}

int8_t quantise(float w) {
  constexpr float kScale = 4 * 0.05f / 127;
  float q = std::nearbyint(w / kScale);
  return static_cast<int8_t>(std::fmax(-127.0f, std::fmin(127.0f, q)));
}

// Streams in chunks of 1M weights, so a 256 MiB model needs no 256 MiB of memory.
// only_pair: just w.f32 and ft3.f32 (the memory benchmark's model and its update).
void gen(const std::string& dir, size_t count, bool only_pair) {
  constexpr size_t kChunk = 1 << 20;
  std::mt19937 rng(1);
  std::normal_distribution<float> weight(0.0f, 0.05f), tune(0.0f, 1e-3f);
  const size_t head_from = count - count / 20;
  std::vector<std::string> names = {"w.f32", "ft3.f32", "head.f32", "w.i8", "ft3.i8"};
  if (only_pair) names.resize(2);
  std::vector<int> fds;
  for (const std::string& n : names) {
    int fd = ::open((dir + "/" + n).c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) die(dir + "/" + n + ": cannot create");
    fds.push_back(fd);
  }
  std::vector<float> w, ft, head;
  std::vector<int8_t> qw, qft;
  auto out = [&](size_t i, const void* data, size_t size) {
    Status s = write_all(fds[i], std::string_view(static_cast<const char*>(data), size), names[i]);
    if (!s.ok()) die(s.message());
  };
  for (size_t at = 0; at < count; at += kChunk) {
    const size_t n = std::min(kChunk, count - at);
    w.resize(n);
    ft.resize(n);
    head.resize(n);
    qw.resize(n);
    qft.resize(n);
    for (size_t i = 0; i < n; ++i) {
      w[i] = weight(rng);
      ft[i] = w[i] * (1.0f + tune(rng));
      head[i] = at + i >= head_from ? weight(rng) : w[i];
      qw[i] = quantise(w[i]);
      qft[i] = quantise(ft[i]);
    }
    out(0, w.data(), n * 4);
    out(1, ft.data(), n * 4);
    if (only_pair) continue;
    out(2, head.data(), n * 4);
    out(3, qw.data(), n);
    out(4, qft.data(), n);
  }
  for (int fd : fds) ::close(fd);
}

std::vector<TensorExtent> extents(const std::string& path) {
  if (path.empty() || !looks_like_tflite(path)) return {};
  Result<std::vector<TensorExtent>> r = read_tflite_tensor_extents(path);
  if (!r.ok()) die(r.status().message());
  return r.value();
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void encode(const std::string& target, const std::string& base, const std::string& out) {
  auto start = std::chrono::steady_clock::now();
  Result<std::vector<XformSegment>> plan = plan_xform(target, base, extents(target), extents(base));
  if (!plan.ok()) die(plan.status().message());
  double plan_s = seconds_since(start);
  Result<uint64_t> size = xform_encode_file(target, base, plan.value(), out);
  if (!size.ok()) die(size.status().message());
  double total_s = seconds_since(start);
  size_t ops[3] = {0, 0, 0}, widths[5] = {0, 0, 0, 0, 0};
  for (const XformSegment& s : plan.value()) {
    ops[static_cast<int>(s.op)] += s.length;
    widths[s.width] += s.length;
  }
  std::printf(
      "{\"stored\": %llu, \"segments\": %zu, \"plan_s\": %.3f, \"encode_s\": %.3f, "
      "\"bytes_by_op\": {\"none\": %zu, \"xor\": %zu, \"sub\": %zu}, \"bytes_by_width\": {\"1\": %zu, \"2\": %zu, \"4\": %zu}}\n",
      static_cast<unsigned long long>(size.value()), plan->size(), plan_s, total_s, ops[0], ops[1], ops[2], widths[1],
      widths[2], widths[4]);
}

void apply(const std::string& stream, const std::string& base, const std::string& out, uint64_t size) {
  auto start = std::chrono::steady_clock::now();
  int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) die(out + ": cannot create");
  Result<XformDecoded> d = xform_decode_file(stream, base, size, "", fd);
  ::close(fd);
  if (!d.ok()) die(d.status().message());
  std::printf("{\"size\": %llu, \"sha256\": \"%s\", \"apply_s\": %.3f}\n", static_cast<unsigned long long>(d->size),
              d->sha256.c_str(), seconds_since(start));
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> a(argv + 1, argv + argc);
  if ((a.size() == 3 || (a.size() == 4 && a[3] == "pair")) && a[0] == "gen") gen(a[1], std::stoull(a[2]), a.size() == 4);
  else if (a.size() == 4 && a[0] == "encode") encode(a[1], a[2], a[3]);
  else if (a.size() == 5 && a[0] == "apply") apply(a[1], a[2], a[3], std::stoull(a[4]));
  else die("usage: gen DIR COUNT | encode TARGET BASE OUT | apply STREAM BASE OUT SIZE");
  return 0;
}
