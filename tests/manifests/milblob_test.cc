// Core ML's weight.bin (MIL blob storage version 2) for the tensor-aligned delta planner:
// the metadata chain gives each tensor's extent, a tensor that moved because another was
// added is compared with its old self, and a file that breaks the chain is refused.

#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "modelcast/fs.h"
#include "modelcast/sha256.h"
#include "modelcast/xform.h"
#include "modelcast/xform_encode.h"
#include "synthetic_weights.h"
#include "temp_dir.h"
#include "test_support.h"

using namespace modelcast;
using modelcast::testing::TempDir;
using modelcast::testing::contains;
using modelcast::testing::fine_tune;
using modelcast::testing::weights;

namespace {

constexpr uint32_t kFloat32Code = 2;
constexpr uint32_t kFloat16Code = 1;

void put_le(std::string& out, uint64_t value, size_t bytes) {
  for (size_t i = 0; i < bytes; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xFF));
}

void pad_to_64(std::string& out) { out.resize((out.size() + 63) / 64 * 64, '\0'); }

struct Tensor {
  uint32_t dtype;
  std::string data;
};

// A weight.bin as coremltools writes one: header, then metadata + data per tensor, each
// entry 64-byte aligned.
std::string weight_bin(const std::vector<Tensor>& tensors) {
  std::string out;
  put_le(out, tensors.size(), 4);
  put_le(out, 2, 4);
  pad_to_64(out);
  for (const Tensor& t : tensors) {
    const uint64_t data_offset = out.size() + 64;
    put_le(out, 0xDEADBEEF, 4);
    put_le(out, t.dtype, 4);
    put_le(out, t.data.size(), 8);
    put_le(out, data_offset, 8);
    put_le(out, 0, 8);  // padding_size_in_bits
    pad_to_64(out);
    out += t.data;
    pad_to_64(out);
  }
  return out;
}

void put_file(const std::string& path, const std::string& bytes) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  REQUIRE(fd >= 0);
  REQUIRE(write_all(fd, bytes, path).ok());
  ::close(fd);
}

std::string get_file(const std::string& path) {
  Result<std::string> r = read_file(path, 64 << 20);
  REQUIRE_MESSAGE(r.ok(), r.status().message());
  return r.value();
}

// Encodes target against base with `plan`, decodes it back, and returns the stream's size.
uint64_t encoded_size(const TempDir& dir, const std::string& target, const std::vector<XformSegment>& plan) {
  Result<uint64_t> size = xform_encode_file(dir / "target", dir / "base", plan, dir / "stream.xf");
  REQUIRE_MESSAGE(size.ok(), size.status().message());
  int out = ::open((dir / "out").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  REQUIRE(out >= 0);
  Result<XformDecoded> d = xform_decode_file(dir / "stream.xf", dir / "base", target.size(), sha256_hex(target), out);
  ::close(out);
  REQUIRE_MESSAGE(d.ok(), d.status().message());
  CHECK(get_file(dir / "out") == target);
  return size.value();
}

}  // namespace

TEST_CASE("weight.bin's metadata chain gives each tensor's extent, named by dtype code and size") {
  TempDir dir;
  const std::vector<Tensor> tensors = {{kFloat32Code, weights(1000, 1)}, {kFloat16Code, std::string(300, 'h')},
                                       {kFloat32Code, weights(1000, 2)}, {kFloat32Code, weights(10, 3)}};
  const std::string bin = weight_bin(tensors);
  put_file(dir / "weight.bin", bin);
  CHECK(looks_like_milblob(dir / "weight.bin"));
  Result<std::vector<TensorExtent>> extents = read_milblob_tensor_extents(dir / "weight.bin");
  REQUIRE_MESSAGE(extents.ok(), extents.status().message());
  REQUIRE(extents->size() == 4);
  CHECK((*extents)[0].name == "2:4000#0");
  CHECK((*extents)[1].name == "1:300#0");
  CHECK((*extents)[2].name == "2:4000#1");
  CHECK((*extents)[3].name == "2:40#0");
  CHECK((*extents)[0].offset == 128);  // header, then the first metadata entry
  for (size_t i = 0; i < tensors.size(); ++i) {
    const TensorExtent& e = (*extents)[i];
    CHECK(e.offset % 64 == 0);
    CHECK(e.length == tensors[i].data.size());
    CHECK(bin.compare(e.offset, e.length, tensors[i].data) == 0);
  }
}

TEST_CASE("a weight.bin tensor moved by a new tensor before it is compared with its old self") {
  TempDir dir;
  const std::string a = weights(60000, 7), b = weights(30000, 8);
  const std::string base = weight_bin({{kFloat32Code, a}, {kFloat32Code, b}});
  // The next version adds a small tensor in front and fine-tunes both: every byte moved.
  const std::string target = weight_bin(
      {{kFloat16Code, std::string(4000, 'n')}, {kFloat32Code, fine_tune(a, 1e-3, 9)}, {kFloat32Code, fine_tune(b, 1e-3, 10)}});
  put_file(dir / "base", base);
  put_file(dir / "target", target);
  Result<std::vector<TensorExtent>> base_tensors = read_milblob_tensor_extents(dir / "base");
  Result<std::vector<TensorExtent>> target_tensors = read_milblob_tensor_extents(dir / "target");
  REQUIRE(base_tensors.ok());
  REQUIRE(target_tensors.ok());

  Result<std::vector<XformSegment>> aligned = plan_xform(dir / "target", dir / "base", *target_tensors, *base_tensors);
  REQUIRE_MESSAGE(aligned.ok(), aligned.status().message());
  bool a_mapped = false, b_mapped = false;
  for (const XformSegment& s : aligned.value()) {
    a_mapped |= s.op != XformOp::kNone && s.base_offset == (*base_tensors)[0].offset;
    b_mapped |= s.op != XformOp::kNone && s.base_offset == (*base_tensors)[1].offset;
  }
  CHECK(a_mapped);
  CHECK(b_mapped);
  Result<std::vector<XformSegment>> positional = plan_xform(dir / "target", dir / "base");
  REQUIRE(positional.ok());
  const uint64_t with_tensors = encoded_size(dir, target, aligned.value());
  const uint64_t by_position = encoded_size(dir, target, positional.value());
  MESSAGE("weight.bin delta: " << with_tensors << " bytes tensor-aligned, " << by_position << " by position");
  CHECK(with_tensors * 10 < by_position * 8);
}

TEST_CASE("a weight.bin that breaks its chain is refused, naming the tensor") {
  TempDir dir;
  const std::string good = weight_bin({{kFloat32Code, weights(100, 1)}, {kFloat32Code, weights(100, 2)}});
  auto refused = [&](std::string bytes, const std::string& needle) {
    put_file(dir / "weight.bin", bytes);
    Result<std::vector<TensorExtent>> r = read_milblob_tensor_extents(dir / "weight.bin");
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == StatusCode::kCorruption);
    CHECK_MESSAGE(contains(r.status().message(), needle), r.status().message());
  };
  std::string bad_sentinel = good;
  bad_sentinel[576] = 0;  // the second entry's metadata: 64 header + 64 metadata + 400 data, aligned up
  refused(bad_sentinel, "tensor 1 at byte 576: no 0xDEADBEEF sentinel");
  std::string huge_count = good;
  huge_count[3] = '\x7f';
  refused(huge_count, "cannot fit");
  std::string past_end = good;
  past_end[64 + 8 + 4] = '\x01';  // size of tensor 0 becomes 2^32 + 400
  refused(past_end, "tensor 0 at byte 64: data");
  std::string version1 = good;
  version1[4] = 1;
  refused(version1, "version 1");
  refused(good.substr(0, 700), "tensor 1 at byte 576: data");
  refused("abc", "shorter than");
  CHECK_FALSE(looks_like_milblob(dir / "weight.bin"));
  put_file(dir / "other", std::string(256, '\0'));
  CHECK_FALSE(looks_like_milblob(dir / "other"));
}
