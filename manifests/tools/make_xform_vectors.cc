// make_xform_vectors: writes the golden vectors of the `xform` encoding (FORMAT.md,
// "Transforms") into manifests/vectors/xform.
//
//   make_xform_vectors [DIR]          regenerate DIR (default: manifests/vectors/xform)
//   make_xform_vectors --check [DIR]  exit 1 when DIR's files differ from what would be written
//
// Per vector NAME: NAME.target (the content), NAME.base (deltas only), NAME.mcxf (the MCXF
// stream, uncompressed: what an independent implementation must produce for the same
// plan) and NAME.xf (that stream as one zstd frame, level 3, single-threaded: what a
// decoder is given). Inputs come from a fixed integer generator and IEEE float arithmetic,
// so every platform writes the same bytes. --check compares .base, .target and .mcxf
// exactly, and checks that .xf decodes to its .target (zstd's compressed bytes may differ
// between zstd versions; the decoded bytes may not).
#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "modelcast/fs.h"
#include "modelcast/xform.h"
#include "modelcast/xform_encode.h"

using namespace modelcast;

namespace {

// xorshift64*: a generator whose output every implementation reproduces.
struct Rng {
  uint64_t s;
  uint32_t next() {
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return static_cast<uint32_t>((s * 2685821657736338717ull) >> 32);
  }
  // Uniform in [-1, 1) with 24 bits.
  float unit() { return static_cast<float>(static_cast<int32_t>(next() >> 8) - (1 << 23)) / static_cast<float>(1 << 23); }
};

// `count` float32 weights in [-0.1, 0.1), then `tail` bytes of 0xAB: a tail at widths 2, 4.
std::string weights(size_t count, size_t tail, uint64_t seed) {
  Rng rng{seed};
  std::string out;
  for (size_t i = 0; i < count; ++i) {
    float w = 0.1f * rng.unit();
    char b[4];
    std::memcpy(b, &w, 4);
    out.append(b, 4);
  }
  out.append(tail, '\xab');
  return out;
}

// Each whole float times (1 + 0.001 u), u uniform in [-1, 1); trailing bytes +1.
std::string fine_tune(const std::string& w, uint64_t seed) {
  Rng rng{seed};
  std::string out = w;
  size_t i = 0;
  for (; i + 4 <= out.size(); i += 4) {
    float v;
    std::memcpy(&v, &out[i], 4);
    v *= 1.0f + 0.001f * rng.unit();
    std::memcpy(&out[i], &v, 4);
  }
  for (; i < out.size(); ++i) out[i] = static_cast<char>(out[i] + 1);
  return out;
}

struct Vector {
  std::string name;
  std::string base;  // empty: a blob
  bool has_base = false;
  std::string target;
  std::vector<XformSegment> segments;
};

std::vector<Vector> vectors() {
  std::vector<Vector> out;
  // 250 floats + 3 bytes = 1003: width 2 leaves 1 tail byte, width 4 leaves 3.
  const std::string base = weights(250, 3, 1);
  const std::string target = fine_tune(base, 2);
  for (uint8_t w : {1, 2, 4})
    out.push_back({"blob-none-w" + std::to_string(w), "", false, target, {XformSegment{XformOp::kNone, w, target.size()}}});
  for (XformOp op : {XformOp::kXor, XformOp::kSub}) {
    const std::string op_name = op == XformOp::kXor ? "xor" : "sub";
    for (uint8_t w : {1, 2, 4})
      out.push_back({"delta-" + op_name + "-w" + std::to_string(w), base, true, target, {XformSegment{op, w, target.size()}}});
  }
  // Tensor-aligned: base = 40-byte header, A (100 floats), B (50 floats), 3 bytes; target =
  // 24-byte header, B', A', 5 bytes. B' is compared with B at base offset 440, A' with A at 40.
  {
    const std::string a = weights(100, 0, 3), b = weights(50, 0, 4);
    Vector v;
    v.name = "delta-tensors-moved";
    v.base = std::string(40, 'h') + a + b + "end";
    v.has_base = true;
    v.target = std::string(24, 'H') + fine_tune(b, 5) + fine_tune(a, 6) + "end!!";
    v.segments = {XformSegment{XformOp::kNone, 1, 24}, XformSegment{XformOp::kSub, 4, b.size(), 40 + a.size()},
                  XformSegment{XformOp::kXor, 4, a.size(), 40}, XformSegment{XformOp::kNone, 1, 5}};
    out.push_back(v);
  }
  out.push_back({"blob-empty", "", false, "", {}});
  return out;
}

std::set<std::string> list_dir(const std::string& dir) {
  std::set<std::string> names;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      std::string n = e->d_name;
      if (n != "." && n != ".." && n != "README.md") names.insert(n);
    }
    closedir(d);
  }
  return names;
}

[[noreturn]] void fail(const std::string& message) {
  std::fprintf(stderr, "error: %s\n", message.c_str());
  std::exit(1);
}

Result<std::string> read_small(const std::string& path) { return read_file(path, 1 << 20); }

}  // namespace

int main(int argc, char** argv) {
  bool check = false;
  std::string dir = std::string(MODELCAST_VECTORS_DIR) + "/xform";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--check") check = true;
    else if (a == "-h" || a == "--help") {
      std::printf("usage: make_xform_vectors [--check] [DIR]\n");
      return 0;
    } else dir = a;
  }
  // Inputs go through files (the encoder reads paths); a temp folder keeps them out of DIR.
  char pattern[] = "/tmp/make_xform_vectors-XXXXXX";
  if (::mkdtemp(pattern) == nullptr) fail("cannot create a temp folder");
  const std::string scratch = pattern;
  Status s;

  std::set<std::string> stray = list_dir(dir);
  int differences = 0;
  auto put = [&](const std::string& name, const std::string& bytes) {
    stray.erase(name);
    const std::string path = dir + "/" + name;
    if (check) {
      Result<std::string> current = read_small(path);
      if (!current.ok() || current.value() != bytes) {
        std::fprintf(stderr, "stale: %s\n", path.c_str());
        ++differences;
      }
      return;
    }
    Status w = write_file_atomic(path, bytes);
    if (!w.ok()) fail(w.message());
  };

  for (const Vector& v : vectors()) {
    const std::string target_path = scratch + "/target", base_path = v.has_base ? scratch + "/base" : "";
    if (!(s = write_file_atomic(target_path, v.target)).ok()) fail(s.message());
    if (v.has_base && !(s = write_file_atomic(base_path, v.base)).ok()) fail(s.message());
    XformEncodeOptions raw;
    raw.compress = false;
    Result<uint64_t> r = xform_encode_file(target_path, base_path, v.segments, scratch + "/mcxf", raw);
    if (!r.ok()) fail(v.name + ": " + r.status().message());
    Result<std::string> mcxf = read_small(scratch + "/mcxf");
    if (!mcxf.ok()) fail(mcxf.status().message());
    put(v.name + ".target", v.target);
    if (v.has_base) put(v.name + ".base", v.base);
    put(v.name + ".mcxf", mcxf.value());

    // The .xf: written when regenerating; in both modes it must decode to the target.
    const std::string xf_path = dir + "/" + v.name + ".xf";
    stray.erase(v.name + ".xf");
    if (!check) {
      XformEncodeOptions frame;
      frame.workers = 0;
      Result<uint64_t> e = xform_encode_file(target_path, base_path, v.segments, xf_path, frame);
      if (!e.ok()) fail(v.name + ": " + e.status().message());
    }
    int out = ::open((scratch + "/out").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out < 0) fail(scratch + "/out: cannot create");
    Result<XformDecoded> d = xform_decode_file(xf_path, v.has_base ? dir + "/" + v.name + ".base" : "",
                                               v.target.size(), "", out);
    ::close(out);
    Result<std::string> decoded = read_small(scratch + "/out");
    if (!d.ok() || !decoded.ok() || decoded.value() != v.target) {
      std::fprintf(stderr, "stale: %s does not decode to %s.target%s\n", xf_path.c_str(), v.name.c_str(),
                   d.ok() ? "" : (": " + d.status().message()).c_str());
      ++differences;
    }
  }
  for (const char* f : {"target", "base", "mcxf", "out"}) std::remove((scratch + "/" + f).c_str());
  ::rmdir(scratch.c_str());
  for (const std::string& name : stray) {
    if (check) {
      std::fprintf(stderr, "not generated: %s/%s\n", dir.c_str(), name.c_str());
      ++differences;
    } else {
      std::remove((dir + "/" + name).c_str());
    }
  }
  if (differences > 0) {
    std::fprintf(stderr, "error: %d xform vector file(s) differ; run make_xform_vectors to regenerate\n", differences);
    return 1;
  }
  std::fprintf(stderr, "%s %zu vectors in %s\n", check ? "checked" : "wrote", vectors().size(), dir.c_str());
  return 0;
}
