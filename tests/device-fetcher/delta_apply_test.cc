// Applying deltas on the device: a good delta of each kind rebuilds the new content from
// the old file, and every bad delta (corrupt bytes, missing base, wrong result, a bomb, an
// xform header lying about its element width) ends in a one-line error with no output
// file left behind, so the fetcher can fall back to the full blob.

#include "delta_apply.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>
#include <zstd.h>

#include <string>

#include "modelcast/fs.h"
#include "modelcast/sha256.h"
#include "modelcast/xform.h"
#include "modelcast/xform_encode.h"
#include "modelcast/zstd_patch.h"
#include "synthetic_weights.h"
#include "temp_dir.h"

using namespace modelcast;
using modelcast::testing::TempDir;

namespace {

void put(const std::string& path, const std::string& bytes) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  REQUIRE(fd >= 0);
  REQUIRE(write_all(fd, bytes, path).ok());
  ::close(fd);
}

std::string get(const std::string& path) {
  Result<std::string> r = read_file(path, 64 << 20);
  REQUIRE_MESSAGE(r.ok(), r.status().message());
  return r.value();
}

// A folder with an old and a new version of a weights file (1 MiB of float32).
struct Versions {
  TempDir dir;
  std::string old_bytes = modelcast::testing::weights(1 << 18, 1);
  std::string new_bytes = modelcast::testing::fine_tune(old_bytes, 1e-3, 2);
  std::string old_path = dir / "old.bin";
  std::string new_path = dir / "new.bin";
  std::string out_path = dir / "out.bin";
  Versions() {
    put(old_path, old_bytes);
    put(new_path, new_bytes);
  }

  // The delta file and its manifest entry for `encoding`, made by the publisher's encoders.
  DeltaToApply make(const std::string& encoding, const std::string& target_path = "") {
    const std::string target = target_path.empty() ? new_path : target_path;
    DeltaToApply d;
    d.encoding = encoding;
    d.delta_path = dir / ("delta." + encoding);
    d.base_path = old_path;
    if (encoding == "xform") {
      Result<std::vector<XformSegment>> plan = plan_xform(target, old_path);
      REQUIRE(plan.ok());
      REQUIRE(xform_encode_file(target, old_path, plan.value(), d.delta_path).ok());
    } else {
      REQUIRE(zstd_patch_encode_file(target, old_path, d.delta_path).ok());
    }
    declare(&d);
    d.size = new_bytes.size();
    d.sha256 = sha256_hex(new_bytes);
    return d;
  }

  // Records the delta file's current bytes as what the manifest signed.
  static void declare(DeltaToApply* d) {
    Result<FileDigest> digest = sha256_file(d->delta_path);
    REQUIRE(digest.ok());
    d->delta_stored_size = digest->size;
    d->delta_sha256 = digest->sha256;
  }

  Status apply(const DeltaToApply& d) { return apply_delta(*posix_file_system(), d, out_path); }
};

// Every failure: one line, and nothing at the output path.
void check_clean_failure(const Status& s, const Versions& v, StatusCode code, const std::string& says) {
  CAPTURE(s.message());
  CHECK(s.code() == code);
  CHECK(s.message().find('\n') == std::string::npos);
  CHECK(s.message().find(says) != std::string::npos);
  CHECK_FALSE(path_exists(v.out_path));
}

const char* const kKinds[] = {"zstd-patch", "xform"};

}  // namespace

TEST_CASE("a good delta of each kind rebuilds the new file exactly from the old one") {
  for (const char* kind : kKinds) {
    CAPTURE(kind);
    Versions v;
    DeltaToApply d = v.make(kind);
    CHECK(d.delta_stored_size < v.new_bytes.size());
    Status s = v.apply(d);
    REQUIRE_MESSAGE(s.ok(), s.message());
    CHECK(get(v.out_path) == v.new_bytes);
    CHECK(get(v.old_path) == v.old_bytes);  // the base is only read
  }
}

TEST_CASE("a zstd-patch delta of a head-only retrain is a small share of the file") {
  Versions v;
  v.new_bytes = modelcast::testing::retrain_head(v.old_bytes, 3);
  put(v.new_path, v.new_bytes);
  DeltaToApply d = v.make("zstd-patch");
  CHECK(d.delta_stored_size * 10 < v.new_bytes.size());
  Status s = v.apply(d);
  REQUIRE_MESSAGE(s.ok(), s.message());
  CHECK(get(v.out_path) == v.new_bytes);
}

TEST_CASE("a delta whose bytes differ from the manifest's sha256 is refused before it is applied") {
  for (const char* kind : kKinds) {
    CAPTURE(kind);
    Versions v;
    DeltaToApply d = v.make(kind);
    std::string bytes = get(d.delta_path);
    bytes[bytes.size() / 2] ^= 0x40;
    put(d.delta_path, bytes);
    check_clean_failure(v.apply(d), v, StatusCode::kHashMismatch, "differs from the manifest");
    // A delta cut short is refused by its length alone.
    put(d.delta_path, bytes.substr(0, bytes.size() - 1));
    check_clean_failure(v.apply(d), v, StatusCode::kHashMismatch, "stored_size");
  }
}

TEST_CASE("a corrupt delta the manifest vouches for is refused while decoding, leaving no file") {
  for (const char* kind : kKinds) {
    CAPTURE(kind);
    Versions v;
    DeltaToApply d = v.make(kind);
    std::string bytes = get(d.delta_path);
    for (size_t i = bytes.size() / 3; i < bytes.size() / 3 + 64; ++i) bytes[i] = static_cast<char>(bytes[i] ^ 0x5a);
    put(d.delta_path, bytes);
    Versions::declare(&d);  // signed as corrupt: only decoding can tell
    Status s = v.apply(d);
    CAPTURE(s.message());
    CHECK_FALSE(s.ok());
    CHECK((s.code() == StatusCode::kCorruption || s.code() == StatusCode::kHashMismatch));
    CHECK(s.message().find('\n') == std::string::npos);
    CHECK_FALSE(path_exists(v.out_path));
  }
}

TEST_CASE("a delta whose base is missing fails with not-found naming the base") {
  for (const char* kind : kKinds) {
    CAPTURE(kind);
    Versions v;
    DeltaToApply d = v.make(kind);
    d.base_path = v.dir / "no-such-base";
    check_clean_failure(v.apply(d), v, StatusCode::kNotFound, "base of delta");
  }
}

TEST_CASE("a delta that decodes cleanly to other content fails the final sha256 check") {
  for (const char* kind : kKinds) {
    CAPTURE(kind);
    Versions v;
    // A valid delta to another file of the same size, listed under the new file's hash.
    const std::string other = v.dir / "other.bin";
    put(other, modelcast::testing::fine_tune(v.old_bytes, 1e-2, 9));
    DeltaToApply d = v.make(kind, other);
    check_clean_failure(v.apply(d), v, StatusCode::kHashMismatch, "decodes to sha256");
  }
}

TEST_CASE("a delta bomb declaring more output than the file's size writes nothing") {
  for (const char* kind : kKinds) {
    CAPTURE(kind);
    Versions v;
    const std::string bigger = v.dir / "bigger.bin";
    put(bigger, v.new_bytes + std::string(1 << 20, 'x'));
    DeltaToApply d = v.make(kind, bigger);
    check_clean_failure(v.apply(d), v, StatusCode::kHashMismatch, "the manifest says " + std::to_string(v.new_bytes.size()));
  }
}

TEST_CASE("a zstd-patch bomb that hides its size stops at the file's size") {
  Versions v;
  // One frame without a content size, made against the old file, producing 64 KiB too much.
  const std::string bomb = v.new_bytes + std::string(64 << 10, 'x');
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  REQUIRE(cctx != nullptr);
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 0);
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_windowLog, 23);
  ZSTD_CCtx_refPrefix(cctx, v.old_bytes.data(), v.old_bytes.size());
  std::string frame(ZSTD_compressBound(bomb.size()), '\0');
  size_t n = ZSTD_compress2(cctx, frame.data(), frame.size(), bomb.data(), bomb.size());
  ZSTD_freeCCtx(cctx);
  REQUIRE_FALSE(ZSTD_isError(n));
  frame.resize(n);
  CHECK(ZSTD_getFrameContentSize(frame.data(), frame.size()) == ZSTD_CONTENTSIZE_UNKNOWN);
  DeltaToApply d;
  d.encoding = "zstd-patch";
  d.delta_path = v.dir / "bomb.zstpatch";
  put(d.delta_path, frame);
  Versions::declare(&d);
  d.base_path = v.old_path;
  d.size = v.new_bytes.size();
  d.sha256 = sha256_hex(v.new_bytes);
  check_clean_failure(v.apply(d), v, StatusCode::kHashMismatch, "more than the manifest's size");
}

TEST_CASE("an xform header lying about its element width is refused, leaving no file") {
  Versions v;
  DeltaToApply d = v.make("xform");
  Result<std::vector<XformSegment>> plan = plan_xform(v.new_path, v.old_path);
  REQUIRE(plan.ok());
  REQUIRE(plan->front().width != 1);
  XformEncodeOptions raw_mcxf;
  raw_mcxf.compress = false;
  const std::string payload = v.dir / "payload.mcxf";
  REQUIRE(xform_encode_file(v.new_path, v.old_path, plan.value(), payload, raw_mcxf).ok());
  // The real stream with the first segment's width rewritten, in a zstd frame as served.
  auto write_lying_delta = [&](uint8_t width) {
    std::vector<XformSegment> lying = plan.value();
    lying.front().width = width;
    std::string raw = xform_header_bytes(v.new_bytes.size(), lying);
    raw += get(payload).substr(raw.size());
    std::string frame(ZSTD_compressBound(raw.size()), '\0');
    size_t n = ZSTD_compress(frame.data(), frame.size(), raw.data(), raw.size(), 3);
    REQUIRE_FALSE(ZSTD_isError(n));
    frame.resize(n);
    put(d.delta_path, frame);
    Versions::declare(&d);  // the manifest vouches for these bytes: only decoding can tell
  };
  for (uint8_t width : {uint8_t{3}, uint8_t{8}, uint8_t{0}}) {
    CAPTURE(static_cast<int>(width));
    write_lying_delta(width);
    check_clean_failure(v.apply(d), v, StatusCode::kCorruption, "element width");
  }
  // A width the format allows but the encoder did not use decodes, to the wrong bytes.
  write_lying_delta(1);
  check_clean_failure(v.apply(d), v, StatusCode::kHashMismatch, "decodes to sha256");
}

TEST_CASE("a delta of an encoding this fetcher does not know is refused as unsupported") {
  Versions v;
  DeltaToApply d = v.make("xform");
  d.encoding = "bsdiff";
  check_clean_failure(v.apply(d), v, StatusCode::kUnsupportedFeature, "bsdiff");
}
