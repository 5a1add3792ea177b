// The delta builder on a blob store: which deltas and transformed blobs it keeps for
// generated weights, real TFLite models and ONNX models, that every file it writes is
// content-addressed, immutable and decodes back to the new content, and that a damaged
// base blob stops it with a clear error.
#include "delta_builder.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <random>

#include "blob_store.h"
#include "modelcast/fs.h"
#include "modelcast/model_info.h"
#include "modelcast/sha256.h"
#include "modelcast/xform.h"
#include "modelcast/zstd_patch.h"
#include "publisher_test_util.h"
#include "synthetic_weights.h"
#ifdef MODELCAST_TEST_ONNX
#include <onnx/onnx_pb.h>
#endif

using namespace modelcast;
using namespace modelcast::test;
using modelcast::testing::fine_tune;
using modelcast::testing::retrain_head;
using modelcast::testing::weights;

namespace {

// A tree with a blob store, and the versions of one file published into it.
struct Tree {
  TempDir dir;
  BlobStore store{dir / "tree", dir / "tree/.modelcast/tmp"};
  DeltaBuilder builder{dir / "tree", dir / "tree/.modelcast/tmp"};
  int files = 0;

  StoredBlob put(const std::string& bytes, const std::string& name = "model.bin") {
    const std::string path = dir / (std::to_string(files++) + "-" + name);
    write_text(path, bytes);
    Result<StoredBlob> b = store.put_file(path, name, false);
    REQUIRE_MESSAGE(b.ok(), b.status().message());
    return b.value();
  }

  // What publish asks for the newest of `versions` (each earlier one a base, newest first).
  DeltaRequest request(const std::vector<StoredBlob>& versions, const std::string& name = "model.bin") {
    const StoredBlob& target = versions.back();
    DeltaRequest r;
    r.source_path = dir / (std::to_string(files - 1) + "-" + name);
    r.file_path = name;
    r.sha256 = target.sha256;
    r.size = target.size;
    r.plain_stored_size = target.stored_size;
    for (size_t i = versions.size() - 1; i-- > 0;)
      r.bases.push_back(DeltaBase{versions[i].sha256, versions[i].size, versions[i].encoding, versions[i].url});
    return r;
  }

  DeltaResult build(const DeltaRequest& r) {
    Result<DeltaResult> result = builder.build(r);
    REQUIRE_MESSAGE(result.ok(), result.status().message());
    return result.value();
  }

  std::string path(const std::string& url) const { return dir / ("tree/" + url); }
};

// A stored blob's content (the tests' blobs are small enough to decode in memory).
std::string base_content(Tree& t, const StoredBlob& b) {
  const std::string stored = read_text(t.path(b.url));
  if (b.encoding == "identity") return stored;
  std::string content(b.size, '\0');
  size_t n = ZSTD_decompress(content.data(), content.size(), stored.data(), stored.size());
  REQUIRE_FALSE(ZSTD_isError(n));
  REQUIRE(n == b.size);
  return content;
}

uint64_t file_size(const std::string& path) {
  struct stat st;
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return static_cast<uint64_t>(st.st_size);
}

std::vector<std::string> list_dir_names(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) names.push_back(entry.path().filename().string());
  return names;
}

std::string testdata_dir() {
  const char* env = std::getenv("MODELCAST_TESTDATA");
  return env != nullptr && *env != '\0' ? std::string(env) : std::string(MODELCAST_SOURCE_DIR) + "/.testdata";
}

// Applies a delta as a device would and returns the bytes it makes.
std::string apply(Tree& t, const DeltaV2& d, const StoredBlob& base, const std::string& target_sha256, uint64_t size) {
  const std::string base_path = t.dir / ("base-" + base.sha256);
  write_text(base_path, base_content(t, base));
  const std::string out = t.dir / "applied";
  if (d.encoding == "xform") {
    int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    REQUIRE(fd >= 0);
    Result<XformDecoded> r = xform_decode_file(t.path(d.url), base_path, size, target_sha256, fd);
    ::close(fd);
    REQUIRE_MESSAGE(r.ok(), r.status().message());
  } else {
    Result<ZstdPatchApplied> r = zstd_patch_apply_file(t.path(d.url), base_path, size, target_sha256, out);
    REQUIRE_MESSAGE(r.ok(), r.status().message());
  }
  return read_text(out);
}

// Each listed file exists with its declared size and hash at its derived URL.
void check_stored(Tree& t, const DeltaV2& d, const std::string& target_sha256) {
  CHECK(d.url == format_delta_path(d.from_sha256, target_sha256, d.encoding == "xform" ? ".xfd" : ".zstpatch"));
  Result<FileDigest> digest = sha256_file(t.path(d.url));
  REQUIRE(digest.ok());
  CHECK(digest->size == d.stored_size);
  CHECK(digest->sha256 == d.sha256);
}

}  // namespace

TEST_CASE("a fine-tuned fp32 file gets an xform delta near half its size and an .xf blob smaller than the .zst") {
  Tree t;
  const std::string v1 = weights(1 << 19, 1), v2 = fine_tune(v1, 1e-3, 2);  // 2 MiB each
  StoredBlob b1 = t.put(v1), b2 = t.put(v2);
  REQUIRE(b2.encoding == "zstd");
  DeltaResult r = t.build(t.request({b1, b2}));

  REQUIRE(r.xform_blob.has_value());
  CHECK(r.xform_blob->encoding == "xform");
  CHECK(r.xform_blob->url == format_blob_path(b2.sha256, ".xf"));
  CHECK(r.xform_blob->stored_size < b2.stored_size);
  CHECK(file_size(t.path(r.xform_blob->url)) == r.xform_blob->stored_size);
  {
    const std::string out = t.dir / "xf-decoded";
    int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    Result<XformDecoded> dec = xform_decode_file(t.path(r.xform_blob->url), "", v2.size(), b2.sha256, fd);
    ::close(fd);
    REQUIRE_MESSAGE(dec.ok(), dec.status().message());
  }

  REQUIRE(r.deltas.size() == 1);
  const DeltaV2& d = r.deltas[0];
  CHECK(d.from_sha256 == b1.sha256);
  CHECK(d.encoding == "xform");
  CHECK(static_cast<double>(d.stored_size) < 0.60 * static_cast<double>(v2.size()));
  check_stored(t, d, b2.sha256);
  CHECK(apply(t, d, b1, b2.sha256, v2.size()) == v2);
  // Nothing is left in the tmp folder.
  CHECK(list_dir_names(t.dir / "tree/.modelcast/tmp").empty());
}

TEST_CASE("a head-only retrain gets a delta of a few percent that rebuilds the file") {
  Tree t;
  const std::string v1 = weights(1 << 19, 3), v2 = retrain_head(v1, 4);
  StoredBlob b1 = t.put(v1), b2 = t.put(v2);
  DeltaResult r = t.build(t.request({b1, b2}));
  REQUIRE(r.deltas.size() == 1);
  CHECK(static_cast<double>(r.deltas[0].stored_size) < 0.06 * static_cast<double>(v2.size()));
  check_stored(t, r.deltas[0], b2.sha256);
  CHECK(apply(t, r.deltas[0], b1, b2.sha256, v2.size()) == v2);
}

TEST_CASE("unrelated versions get no delta: nothing is listed that is not smaller than a full blob") {
  Tree t;
  StoredBlob b1 = t.put(weights(1 << 16, 5)), b2 = t.put(weights(1 << 16, 6));
  DeltaResult r = t.build(t.request({b1, b2}));
  CHECK(r.deltas.empty());
  CHECK_FALSE(path_exists(t.path(delta_url(b1.sha256, b2.sha256, "xform"))));
  CHECK_FALSE(path_exists(t.path(delta_url(b1.sha256, b2.sha256, "zstd-patch"))));
}

TEST_CASE("deltas come from the newest N distinct earlier versions, and N = 0 builds none") {
  Tree t;
  const std::string v1 = weights(1 << 16, 7);
  std::vector<StoredBlob> versions = {t.put(v1), t.put(fine_tune(v1, 1e-3, 8)), t.put(fine_tune(v1, 1e-3, 9))};
  versions.push_back(versions[1]);                          // a version that went back to v2's content
  versions.push_back(t.put(fine_tune(v1, 1e-3, 10)));       // the new one
  DeltaRequest req = t.request(versions);
  DeltaResult r = t.build(req);
  REQUIRE(r.deltas.size() == 2);
  CHECK(r.deltas[0].from_sha256 == versions[1].sha256);  // the repeat counts once
  CHECK(r.deltas[1].from_sha256 == versions[2].sha256);
  req.max_bases = 0;
  CHECK(t.build(req).deltas.empty());
  req.max_bases = 1;
  req.bases.insert(req.bases.begin(), DeltaBase{versions.back().sha256, versions.back().size, "zstd", versions.back().url});
  CHECK(t.build(req).deltas.size() == 1);  // the file's own content is never a base
}

TEST_CASE("building again reuses the stored delta and .xf as they are") {
  Tree t;
  const std::string v1 = weights(1 << 16, 11);
  StoredBlob b1 = t.put(v1), b2 = t.put(fine_tune(v1, 1e-3, 12));
  DeltaResult first = t.build(t.request({b1, b2}));
  REQUIRE(first.deltas.size() == 1);
  REQUIRE(first.xform_blob.has_value());
  struct stat before, after;
  REQUIRE(::stat(t.path(first.deltas[0].url).c_str(), &before) == 0);
  DeltaResult second = t.build(t.request({b1, b2}));
  REQUIRE(::stat(t.path(first.deltas[0].url).c_str(), &after) == 0);
  CHECK(before.st_ino == after.st_ino);
  CHECK(before.st_mtime == after.st_mtime);
  REQUIRE(second.deltas.size() == 1);
  CHECK(second.deltas[0].sha256 == first.deltas[0].sha256);
  CHECK(second.deltas[0].stored_size == first.deltas[0].stored_size);
  CHECK(second.xform_blob->stored_size == first.xform_blob->stored_size);
}

TEST_CASE("a damaged base blob in the tree stops the build with a message naming it") {
  Tree t;
  const std::string v1 = weights(1 << 16, 13);
  StoredBlob b1 = t.put(v1), b2 = t.put(fine_tune(v1, 1e-3, 14));
  REQUIRE(b1.encoding == "zstd");
  std::string bytes = read_text(t.path(b1.url));
  bytes[bytes.size() / 2] ^= 0x11;
  ::chmod(t.path(b1.url).c_str(), 0644);
  write_text(t.path(b1.url), bytes);
  Result<DeltaResult> r = t.builder.build(t.request({b1, b2}));
  REQUIRE_FALSE(r.ok());
  CAPTURE(r.status().message());
  CHECK(r.status().message().find(b1.url) != std::string::npos);
  CHECK(r.status().message().find('\n') == std::string::npos);
  CHECK(list_dir_names(t.dir / "tree/.modelcast/tmp").empty());
}

TEST_CASE("the MediaPipe selfie models as each other's update get no delta larger than the full blob") {
  const std::string dir = testdata_dir() + "/mediapipe-selfie/package/";
  if (!path_exists(dir + "selfie_segmentation.tflite")) {
    MESSAGE("skipped: MediaPipe models absent; run scripts/fetch-testdata");
    return;
  }
  Tree t;
  StoredBlob portrait = t.put(read_text(dir + "selfie_segmentation.tflite"), "model.tflite");
  StoredBlob landscape = t.put(read_text(dir + "selfie_segmentation_landscape.tflite"), "model.tflite");
  DeltaResult r = t.build(t.request({portrait, landscape}, "model.tflite"));
  const uint64_t full = r.xform_blob ? r.xform_blob->stored_size : landscape.stored_size;
  for (const DeltaV2& d : r.deltas) {
    CHECK(d.stored_size < full);
    CHECK(apply(t, d, portrait, landscape.sha256, landscape.size) == read_text(dir + "selfie_segmentation_landscape.tflite"));
  }
  // A retrained copy of the same model: every float16 weight moved by a few units in the
  // last place (MediaPipe stores its weights as float16), does get a delta.
  std::string tuned = read_text(dir + "selfie_segmentation.tflite");
  Result<std::vector<TensorExtent>> extents = read_tflite_tensor_extents(dir + "selfie_segmentation.tflite");
  REQUIRE(extents.ok());
  std::mt19937 rng(20);
  std::normal_distribution<float> ulps(0.0f, 2.0f);
  size_t nudged = 0;
  for (const TensorExtent& e : extents.value()) {
    if (e.dtype != "float16") continue;
    for (uint64_t i = e.offset; i + 2 <= e.offset + e.length; i += 2) {
      uint16_t h;
      std::memcpy(&h, &tuned[i], 2);
      h = static_cast<uint16_t>(h + static_cast<int>(std::lround(ulps(rng))));
      std::memcpy(&tuned[i], &h, 2);
      ++nudged;
    }
  }
  CHECK(nudged > 50000);
  StoredBlob tuned_blob = t.put(tuned, "model.tflite");
  DeltaResult tr = t.build(t.request({portrait, tuned_blob}, "model.tflite"));
  REQUIRE(tr.deltas.size() == 1);
  CHECK(tr.deltas[0].stored_size < tuned_blob.stored_size * 8 / 10);
  CHECK(apply(t, tr.deltas[0], portrait, tuned_blob.sha256, tuned_blob.size) == tuned);
}

#ifdef MODELCAST_TEST_ONNX
namespace {

// An ONNX model whose initializers are the given float32 tensors, in order.
std::string onnx_model(const std::vector<std::pair<std::string, std::string>>& tensors) {
  onnx::ModelProto model;
  model.set_ir_version(8);
  model.add_opset_import()->set_version(17);
  onnx::GraphProto* graph = model.mutable_graph();
  graph->set_name("weights");
  for (const auto& [name, bytes] : tensors) {
    onnx::TensorProto* t = graph->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::FLOAT);
    t->add_dims(static_cast<int64_t>(bytes.size() / 4));
    t->set_raw_data(bytes);
  }
  return model.SerializeAsString();
}

}  // namespace

TEST_CASE("an ONNX model whose tensors moved still gets an element-wise delta, aligned by tensor") {
  Tree t;
  const std::string a = weights(1 << 16, 30), b = weights(1 << 16, 31);
  const std::string v1 = onnx_model({{"a", a}, {"b", b}});
  // v2: a new tensor in front shifts every byte, and the old weights are fine-tuned.
  const std::string v2 = onnx_model({{"new", weights(12345, 32)}, {"b", fine_tune(b, 1e-3, 33)}, {"a", fine_tune(a, 1e-3, 34)}});
  StoredBlob b1 = t.put(v1, "model.onnx"), b2 = t.put(v2, "model.onnx");
  DeltaResult r = t.build(t.request({b1, b2}, "model.onnx"));
  REQUIRE(r.deltas.size() == 1);
  CHECK(r.deltas[0].encoding == "xform");
  // The moved tensors cost what a fine-tune costs (~0.55); the new one its full size.
  const double moved_share = static_cast<double>(a.size() + b.size()) / static_cast<double>(v2.size());
  CHECK(static_cast<double>(r.deltas[0].stored_size) < (0.6 * moved_share + (1 - moved_share)) * static_cast<double>(v2.size()));
  CHECK(apply(t, r.deltas[0], b1, b2.sha256, b2.size) == v2);
}
#endif
