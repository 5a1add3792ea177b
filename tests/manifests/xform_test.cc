// The xform codec: streams made by the encoder decode to the exact bytes (blobs and deltas,
// every op and width, tails, several 1 MiB blocks, moved tensors), the committed golden
// vectors decode to their targets, and every malformed stream the format lists is refused
// with a one-line error before a wrong byte counts as success.

#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>
#include <zstd.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "modelcast/fs.h"
#include "modelcast/model_info.h"
#include "modelcast/sha256.h"
#include "modelcast/xform.h"
#include "modelcast/xform_encode.h"
#include "modelcast/zstd_patch.h"
#include "synthetic_weights.h"
#include "temp_dir.h"
#include "test_support.h"

using namespace modelcast;
using modelcast::testing::TempDir;
using modelcast::testing::contains;
using modelcast::testing::fine_tune;
using modelcast::testing::weights;

namespace {

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

struct Decoded {
  Status status;
  std::string bytes;
  std::string sha256;
};

// Feeds `stream` to a decoder in pieces of `chunk` bytes, collecting the output.
Decoded decode(const std::string& stream, const std::string& base_path, uint64_t expected_size, size_t chunk = 4096) {
  Decoded d;
  int base_fd = base_path.empty() ? -1 : ::open(base_path.c_str(), O_RDONLY | O_CLOEXEC);
  {
    XformDecoder decoder(base_fd, expected_size, [&d](const uint8_t* data, size_t size) {
      d.bytes.append(reinterpret_cast<const char*>(data), size);
      return OkStatus();
    });
    for (size_t at = 0; at < stream.size() && d.status.ok(); at += chunk)
      d.status = decoder.feed(stream.data() + at, std::min(chunk, stream.size() - at));
    if (d.status.ok()) {
      Result<std::string> r = decoder.finish();
      if (r.ok()) d.sha256 = r.value();
      else d.status = r.status();
    }
  }
  if (base_fd >= 0) ::close(base_fd);
  return d;
}

std::string zstd_frame(const std::string& raw, int window_log = 0) {
  ZSTD_CCtx* c = ZSTD_createCCtx();
  ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, 3);
  ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1);  // as the encoder writes them
  if (window_log > 0) ZSTD_CCtx_setParameter(c, ZSTD_c_windowLog, window_log);
  std::string out(ZSTD_compressBound(raw.size()) + 64, '\0');
  ZSTD_outBuffer o{out.data(), out.size(), 0};
  // Two calls, so the frame does not state its content size and keeps the window asked for.
  ZSTD_inBuffer in{raw.data(), raw.size(), 0};
  ZSTD_compressStream2(c, &o, &in, ZSTD_e_continue);
  ZSTD_inBuffer none{nullptr, 0, 0};
  size_t left = ZSTD_compressStream2(c, &o, &none, ZSTD_e_end);
  ZSTD_freeCCtx(c);
  REQUIRE(left == 0);
  out.resize(o.pos);
  return out;
}

// Encodes with `segments`, decodes from the file, checks bytes and SHA-256; returns the
// stream size.
uint64_t round_trip(const TempDir& dir, const std::string& target, const std::string& base,
                    const std::vector<XformSegment>& segments) {
  put_file(dir / "target", target);
  std::string base_path;
  if (!base.empty()) {
    base_path = dir / "base";
    put_file(base_path, base);
  }
  Result<uint64_t> size = xform_encode_file(dir / "target", base_path, segments, dir / "stream.xf");
  REQUIRE_MESSAGE(size.ok(), size.status().message());
  int out = ::open((dir / "out").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  REQUIRE(out >= 0);
  Result<XformDecoded> d = xform_decode_file(dir / "stream.xf", base_path, target.size(), sha256_hex(target), out);
  ::close(out);
  REQUIRE_MESSAGE(d.ok(), d.status().message());
  CHECK(d->size == target.size());
  CHECK(d->sha256 == sha256_hex(target));
  CHECK(get_file(dir / "out") == target);
  return size.value();
}

}  // namespace

TEST_CASE("a blob encoded at width 1, 2 and 4 decodes to the same bytes, tails and several blocks included") {
  TempDir dir;
  // 2.5 MiB + 3 bytes: two full 1 MiB blocks, a short block, and a 3-byte tail at width 4.
  const std::string target = weights((5 << 18) + 1, 1).substr(0, (5 << 19) + 3);
  for (uint8_t width : {1, 2, 4}) {
    CAPTURE(int(width));
    round_trip(dir, target, "", {XformSegment{XformOp::kNone, width, target.size()}});
  }
}

TEST_CASE("byte planes make float32 weights smaller than plain zstd") {
  TempDir dir;
  const std::string target = weights(1 << 18, 2);
  uint64_t planes = round_trip(dir, target, "", {XformSegment{XformOp::kNone, 4, target.size()}});
  uint64_t plain = round_trip(dir, target, "", {XformSegment{XformOp::kNone, 1, target.size()}});
  CHECK(planes < plain);
}

TEST_CASE("xor and sub deltas at every width decode against their base, including moved base ranges") {
  TempDir dir;
  const std::string base = weights(300000, 3) + "tail!";  // odd size: tails at widths 2 and 4
  const std::string target = fine_tune(base, 1e-3, 4);
  for (XformOp op : {XformOp::kXor, XformOp::kSub}) {
    for (uint8_t width : {1, 2, 4}) {
      CAPTURE(int(op));
      CAPTURE(int(width));
      round_trip(dir, target, base, {XformSegment{op, width, target.size()}});
    }
  }
  // The first half of the target compared with the second half of the base, then op none.
  const uint64_t half = base.size() / 2;
  round_trip(dir, target, base,
             {XformSegment{XformOp::kSub, 4, half, base.size() - half}, XformSegment{XformOp::kNone, 2, target.size() - half}});
}

TEST_CASE("an empty target encodes and decodes") {
  TempDir dir;
  round_trip(dir, "", "", {});
}

TEST_CASE("the planner picks a delta far smaller than the full blob for a fine-tune and round-trips it") {
  TempDir dir;
  const std::string base = weights(1 << 20, 5);  // 4 MiB
  const std::string target = fine_tune(base, 1e-3, 6);
  put_file(dir / "base", base);
  put_file(dir / "target", target);
  Result<std::vector<XformSegment>> delta_plan = plan_xform(dir / "target", dir / "base");
  REQUIRE_MESSAGE(delta_plan.ok(), delta_plan.status().message());
  Result<std::vector<XformSegment>> blob_plan = plan_xform(dir / "target", "");
  REQUIRE(blob_plan.ok());
  for (const XformSegment& s : blob_plan.value()) CHECK(s.op == XformOp::kNone);
  for (const XformSegment& s : delta_plan.value()) CHECK(s.op != XformOp::kNone);
  uint64_t delta = round_trip(dir, target, base, delta_plan.value());
  uint64_t blob = round_trip(dir, target, "", blob_plan.value());
  CHECK(delta * 10 < blob * 7);
  CHECK(blob < target.size());
}

TEST_CASE("tensor alignment compares a moved tensor with its old self") {
  TempDir dir;
  // base: header, A, B. target: a longer header, B, A (layout moved), both fine-tuned.
  const std::string a = weights(100000, 7), b = weights(50000, 8);
  const std::string base = std::string(100, 'h') + a + b;
  const std::string target = std::string(64, 'H') + fine_tune(b, 1e-3, 9) + fine_tune(a, 1e-3, 10);
  std::vector<TensorExtent> base_tensors = {{"A", "float32", 100, a.size()}, {"B", "float32", 100 + a.size(), b.size()}};
  std::vector<TensorExtent> target_tensors = {{"B", "float32", 64, b.size()}, {"A", "float32", 64 + b.size(), a.size()}};
  put_file(dir / "base", base);
  put_file(dir / "target", target);
  Result<std::vector<XformSegment>> aligned = plan_xform(dir / "target", dir / "base", target_tensors, base_tensors);
  REQUIRE(aligned.ok());
  bool a_mapped = false, b_mapped = false;
  for (const XformSegment& s : aligned.value()) {
    a_mapped |= s.op != XformOp::kNone && s.base_offset == 100;
    b_mapped |= s.op != XformOp::kNone && s.base_offset == 100 + a.size();
  }
  CHECK(a_mapped);
  CHECK(b_mapped);
  Result<std::vector<XformSegment>> positional = plan_xform(dir / "target", dir / "base");
  REQUIRE(positional.ok());
  uint64_t with_tensors = round_trip(dir, target, base, aligned.value());
  uint64_t without = round_trip(dir, target, base, positional.value());
  CHECK(with_tensors * 10 < without * 8);
}

TEST_CASE("the two MediaPipe selfie models give tensor extents and a delta that restores the other exactly") {
  const std::string dir_name = std::string(MODELCAST_SOURCE_DIR) + "/.testdata";
  const char* env = std::getenv("MODELCAST_TESTDATA");
  const std::string data = (env != nullptr && *env != '\0' ? std::string(env) : dir_name) + "/mediapipe-selfie/package/";
  const std::string portrait = data + "selfie_segmentation.tflite", landscape = data + "selfie_segmentation_landscape.tflite";
  if (!path_exists(portrait) || !path_exists(landscape)) {
    MESSAGE("skipped: MediaPipe models absent; run scripts/fetch-testdata");
    return;
  }
  Result<std::vector<TensorExtent>> p = read_tflite_tensor_extents(portrait);
  Result<std::vector<TensorExtent>> l = read_tflite_tensor_extents(landscape);
  REQUIRE_MESSAGE(p.ok(), p.status().message());
  REQUIRE(l.ok());
  const std::string target = get_file(landscape), base = get_file(portrait);
  CHECK(p->size() > 50);
  uint64_t end = 0;
  for (const TensorExtent& t : l.value()) {
    CHECK(t.offset >= end);
    CHECK(t.offset + t.length <= target.size());
    end = t.offset + t.length;
  }
  TempDir dir;
  put_file(dir / "target", target);
  put_file(dir / "base", base);
  Result<std::vector<XformSegment>> plan = plan_xform(dir / "target", dir / "base", l.value(), p.value());
  REQUIRE(plan.ok());
  round_trip(dir, target, base, plan.value());
}

TEST_CASE("a plan the format forbids is refused by the encoder") {
  TempDir dir;
  put_file(dir / "target", "12345678");
  Result<uint64_t> r = xform_encode_file(dir / "target", "", {XformSegment{XformOp::kXor, 4, 8}}, dir / "out");
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == StatusCode::kInvalidArgument);
  CHECK(contains(r.status().message(), "no base"));
}

TEST_CASE("the golden vectors decode to their targets") {
  const std::string dir = modelcast::testing::vectors_dir() + "/xform";
  std::vector<std::string> names = modelcast::testing::names_with_suffix(dir, ".xf");
  REQUIRE(names.size() >= 10);
  for (const std::string& name : names) {
    CAPTURE(name);
    const std::string target = get_file(dir + "/" + name + ".target");
    std::string base_path = dir + "/" + name + ".base";
    if (!path_exists(base_path)) base_path.clear();
    const std::string stream = get_file(dir + "/" + name + ".xf");
    // One byte at a time: every boundary inside the header, table and blocks.
    Decoded d = decode(stream, base_path, target.size(), 1);
    REQUIRE_MESSAGE(d.status.ok(), d.status.message());
    CHECK(d.bytes == target);
    CHECK(d.sha256 == sha256_hex(target));
    // The uncompressed MCXF bytes are what the .xf frame holds.
    const std::string raw = get_file(dir + "/" + name + ".mcxf");
    Decoded again = decode(zstd_frame(raw), base_path, target.size());
    REQUIRE(again.status.ok());
    CHECK(again.bytes == target);
  }
}

namespace {

// A raw MCXF stream: header and table, then `payload`.
std::string mcxf(uint64_t target_size, const std::vector<XformSegment>& segments, const std::string& payload) {
  return xform_header_bytes(target_size, segments) + payload;
}

Status refusal(const std::string& raw, uint64_t expected_size, const std::string& base = "") {
  TempDir dir;
  std::string base_path;
  if (!base.empty()) {
    base_path = dir / "base";
    put_file(base_path, base);
  }
  Decoded d = decode(zstd_frame(raw), base_path, expected_size);
  CHECK(d.bytes.empty());
  return d.status;
}

void check_refused(const Status& s, StatusCode code, const std::string& words) {
  CHECK_FALSE(s.ok());
  CHECK(s.code() == code);
  CHECK_MESSAGE(contains(s.message(), words), s.message());
  CHECK(s.message().find('\n') == std::string::npos);
}

}  // namespace

TEST_CASE("the zstd-patch vector made by the reference zstd CLI applies to its target; a wrong base or size is refused") {
  // manifests/vectors/zstd-patch: `zstd --patch-from=base.bin target.bin -o target.zstpatch`
  // (zstd 1.5.4), so an independent encoder's patch must apply through our decoder.
  const std::string dir = modelcast::testing::vectors_dir() + "/zstd-patch";
  const std::string target = get_file(dir + "/target.bin");
  TempDir tmp;
  auto applied = zstd_patch_apply_file(dir + "/target.zstpatch", dir + "/base.bin", target.size(), sha256_hex(target),
                                       tmp.path() + "/out");
  REQUIRE_MESSAGE(applied.ok(), applied.status().message());
  CHECK(applied->size == target.size());
  CHECK(get_file(tmp.path() + "/out") == target);

  // Against another base the frame's checksum or the result's hash fails; nothing is left.
  auto wrong_base = zstd_patch_apply_file(dir + "/target.zstpatch", dir + "/target.bin", target.size(), sha256_hex(target),
                                          tmp.path() + "/out2");
  CHECK_FALSE(wrong_base.ok());
  CHECK_FALSE(path_exists(tmp.path() + "/out2"));
  auto wrong_size = zstd_patch_apply_file(dir + "/target.zstpatch", dir + "/base.bin", target.size() - 1, "",
                                          tmp.path() + "/out3");
  CHECK(wrong_size.status().code() == StatusCode::kHashMismatch);
  CHECK_FALSE(path_exists(tmp.path() + "/out3"));
}

TEST_CASE("malformed headers and tables are refused before any byte is written") {
  const std::string base(64, 'b');
  const std::string payload(16, 'x');
  std::string bad_magic = mcxf(16, {XformSegment{XformOp::kNone, 1, 16}}, payload);
  bad_magic[0] = 'X';
  check_refused(refusal(bad_magic, 16), StatusCode::kCorruption, "bad magic");
  std::string bad_version = mcxf(16, {XformSegment{XformOp::kNone, 1, 16}}, payload);
  bad_version[4] = 2;
  check_refused(refusal(bad_version, 16), StatusCode::kCorruption, "unsupported version 2");
  check_refused(refusal(mcxf(16, {XformSegment{XformOp::kNone, 3, 16}}, payload), 16), StatusCode::kCorruption,
                "element width 3 is not 1, 2 or 4");
  check_refused(refusal(mcxf(16, {XformSegment{XformOp::kNone, 8, 16}}, payload), 16), StatusCode::kCorruption, "element width 8");
  check_refused(refusal(mcxf(16, {XformSegment{static_cast<XformOp>(3), 1, 16}}, payload), 16, base), StatusCode::kCorruption,
                "unknown op 3");
  check_refused(refusal(mcxf(16, {XformSegment{XformOp::kNone, 1, 16, 5}}, payload), 16, base), StatusCode::kCorruption,
                "op none with base_offset 5");
  check_refused(refusal(mcxf(16, {XformSegment{XformOp::kNone, 1, 8}, XformSegment{XformOp::kNone, 1, 4}}, payload), 16),
                StatusCode::kCorruption, "add up to 12, not target_size 16");
  check_refused(refusal(mcxf(16, {XformSegment{XformOp::kNone, 1, 8}, XformSegment{XformOp::kNone, 1, 12}}, payload), 16),
                StatusCode::kCorruption, "more than target_size");
  check_refused(refusal(mcxf(16, {XformSegment{XformOp::kNone, 1, 0}, XformSegment{XformOp::kNone, 1, 16}}, payload), 16),
                StatusCode::kCorruption, "segment 0: is empty");
  check_refused(refusal(mcxf(16, {XformSegment{XformOp::kXor, 1, 16, 60}}, payload), 16, base), StatusCode::kCorruption,
                "lies outside the 64-byte base");
  check_refused(refusal(mcxf(16, {XformSegment{XformOp::kSub, 4, 16, ~0ull - 4}}, payload), 16, base), StatusCode::kCorruption,
                "lies outside");
  check_refused(refusal(mcxf(16, {XformSegment{XformOp::kXor, 1, 16}}, payload), 16), StatusCode::kCorruption,
                "in a blob, which has no base");
  std::string reserved = mcxf(16, {XformSegment{XformOp::kNone, 1, 16}}, payload);
  reserved[kXformHeaderSize + 2] = 1;
  check_refused(refusal(reserved, 16), StatusCode::kCorruption, "reserved bytes are not zero");
  std::string many = xform_header_bytes(16, {});
  many[16] = 0x01;
  many[17] = 0x00;
  many[18] = 0x01;  // 65,537 segments
  check_refused(refusal(many, 16), StatusCode::kCorruption, "more than the limit of 65536");
}

TEST_CASE("a stream declaring more output than the manifest's size (a delta bomb) is a hash mismatch") {
  const std::string raw = mcxf(1ull << 40, {XformSegment{XformOp::kNone, 1, 1ull << 40}}, "");
  check_refused(refusal(raw, 16), StatusCode::kHashMismatch, "declares 1099511627776 bytes of output, the manifest says 16");
  check_refused(refusal(mcxf(8, {XformSegment{XformOp::kNone, 1, 8}}, "12345678"), 16), StatusCode::kHashMismatch,
                "the manifest says 16");
}

TEST_CASE("a payload shorter or longer than the table says is refused") {
  TempDir dir;
  Decoded shorter = decode(zstd_frame(mcxf(16, {XformSegment{XformOp::kNone, 1, 16}}, std::string(15, 'x'))), "", 16);
  check_refused(shorter.status, StatusCode::kCorruption, "payload ends early: 0 of 16 bytes");
  Decoded longer = decode(zstd_frame(mcxf(16, {XformSegment{XformOp::kNone, 1, 16}}, std::string(17, 'x'))), "", 16);
  check_refused(longer.status, StatusCode::kCorruption, "payload is longer than the segment table says");
  Decoded headless = decode(zstd_frame("MCXF\1\0\0"), "", 16);
  check_refused(headless.status, StatusCode::kCorruption, "ends inside the header");
}

TEST_CASE("a truncated, corrupt or too-wide zstd frame is refused") {
  const std::string raw = mcxf(4096, {XformSegment{XformOp::kNone, 4, 4096}}, weights(1024, 11));
  const std::string frame = zstd_frame(raw);
  Decoded cut = decode(frame.substr(0, frame.size() - 3), "", 4096);
  CHECK_FALSE(cut.status.ok());
  CHECK(cut.status.code() == StatusCode::kCorruption);
  std::string flipped = frame;
  flipped[flipped.size() / 2] ^= 0x40;
  Decoded bad = decode(flipped, "", 4096);
  CHECK_FALSE(bad.status.ok());
  Decoded trailing = decode(frame + "junk", "", 4096);
  CHECK_FALSE(trailing.status.ok());
  Decoded wide = decode(zstd_frame(raw, 28), "", 4096);
  check_refused(wide.status, StatusCode::kCorruption, "zstd window larger than 2^27");
}

TEST_CASE("xform_decode_file reports a wrong result hash as a hash mismatch") {
  TempDir dir;
  put_file(dir / "target", "abcdefgh");
  REQUIRE(xform_encode_file(dir / "target", "", {XformSegment{XformOp::kNone, 2, 8}}, dir / "s.xf").ok());
  int out = ::open((dir / "out").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  Result<XformDecoded> d = xform_decode_file(dir / "s.xf", "", 8, sha256_hex("abcdefgX"), out);
  ::close(out);
  REQUIRE_FALSE(d.ok());
  CHECK(d.status().code() == StatusCode::kHashMismatch);
  CHECK(contains(d.status().message(), "decodes to sha256"));
}
