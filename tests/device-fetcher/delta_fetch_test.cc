// Getting a file through a delta, against a real nginx: a good delta of each kind is the
// only thing downloaded, and every bad delta served from the tree (corrupt bytes, a base
// the device lacks, a wrong result, a bomb, an xform header lying about its width) ends
// with the right content from the full blob in the same call, the reason recorded, and
// nothing of the delta left in the cache.
#include "delta_fetch.h"

#include <doctest/doctest.h>

#include <thread>

#include "../support/nginx_server.h"
#include "fetch_test_util.h"
#include "modelcast/fs.h"
#include "modelcast/manifest_v2.h"
#include "modelcast/sha256.h"
#include "modelcast/xform_encode.h"
#include "modelcast/zstd_patch.h"
#include "synthetic_weights.h"

using namespace modelcast;
using namespace modelcast::testing;

namespace {

// A tree with a zstd blob of the new content and deltas from the old one, behind nginx,
// and a device cache holding the old content.
struct DeltaEnv {
  TempDir tree_dir, cache_dir, work;
  std::unique_ptr<NginxServer> nginx;
  std::shared_ptr<HttpTransport> transport = make_default_transport();
  std::string old_bytes = modelcast::testing::weights(1 << 18, 1);
  // An update each kind wins on: a fine-tune for xform, a new head for zstd-patch.
  std::string new_bytes;
  std::string old_sha = sha256_hex(old_bytes), new_sha;
  CacheBlobStore store{cache_dir.path()};
  FileEntryV2 file;
  FileEntry blob;  // the zstd blob, as the fetcher downloads it

  explicit DeltaEnv(const std::string& kind = "xform")
      : new_bytes(kind == "xform" ? modelcast::testing::fine_tune(old_bytes, 1e-3, 2)
                                  : modelcast::testing::retrain_head(old_bytes, 2)),
        new_sha(sha256_hex(new_bytes)) {
    std::string err;
    nginx = NginxServer::start(NginxOptions{tree_dir.path()}, &err);
    REQUIRE_MESSAGE(nginx != nullptr, err);
    write_all(work / "old", old_bytes);
    write_all(work / "new", new_bytes);
    const std::string zst = zstd_compress(new_bytes);
    blob = FileEntry{};
    blob.path = "weights.bin";
    blob.sha256 = new_sha;
    blob.size = new_bytes.size();
    blob.encoding = "zstd";
    blob.stored_size = zst.size();
    blob.url = blob_url_for(new_sha, "zstd");
    put_in_tree(blob.url, zst);
    file.path = blob.path;
    file.sha256 = new_sha;
    file.size = new_bytes.size();
    file.blobs.push_back(BlobV2{"zstd", zst.size(), blob.url, {}});
    // The device holds the old content, verified, in its blob store.
    REQUIRE(make_dirs(parent_dir(store.blob_path(old_sha))).ok());
    write_all(store.blob_path(old_sha), old_bytes);
  }

  void put_in_tree(const std::string& url, const std::string& bytes) {
    REQUIRE(make_dirs(parent_dir(tree_dir / url)).ok());
    write_all(tree_dir / url, bytes);
  }

  // Encodes a delta of `encoding` from the old content to `target_path` and serves it
  // under the new file's delta URL; the entry lists the served bytes' size and hash.
  DeltaV2 serve_delta(const std::string& encoding, const std::string& target_path = "") {
    const std::string target = target_path.empty() ? work / "new" : target_path;
    const std::string out = work / ("delta." + encoding);
    if (encoding == "xform") {
      auto plan = plan_xform(target, work / "old");
      REQUIRE(plan.ok());
      REQUIRE(xform_encode_file(target, work / "old", plan.value(), out).ok());
    } else {
      REQUIRE(zstd_patch_encode_file(target, work / "old", out).ok());
    }
    return serve_delta_bytes(encoding, read_all(out));
  }

  DeltaV2 serve_delta_bytes(const std::string& encoding, const std::string& bytes) {
    DeltaV2 d{old_sha, encoding, bytes.size(), sha256_hex(bytes), delta_url(old_sha, new_sha, encoding)};
    put_in_tree(d.url, bytes);
    file.deltas = {d};
    return d;
  }

  DownloadParams params() {
    DownloadParams p;
    p.transport = transport.get();
    p.fs = posix_file_system().get();
    p.store = store;
    p.base_url = nginx->url();
    p.max_retries = 0;
    return p;
  }

  // What update() does for one file: the delta when it can, else the zstd blob.
  Status obtain(FileTransfer* transfer) {
    const DownloadParams p = params();
    return obtain_file(p, file, blob.stored_size, "blob-zstd",
                       [&](DownloadStats* stats) { return download_blob(p, blob, stats); }, transfer);
  }

  // nginx logs a request after answering it; give it a moment.
  std::vector<AccessLogEntry> log(size_t at_least) {
    std::vector<AccessLogEntry> entries;
    for (int i = 0; i < 200; ++i) {
      entries = nginx->access_log();
      if (entries.size() >= at_least) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return entries;
  }

  // The file is in the cache with the right bytes; no delta bytes or outputs remain.
  void check_installed() {
    CHECK(read_all(store.blob_path(new_sha)) == new_bytes);
    if (!file.deltas.empty()) CHECK_FALSE(path_exists(store.blob_path(file.deltas[0].sha256)));
    CHECK_FALSE(path_exists(store.tmp_dir() + "/" + new_sha + ".delta-out"));
  }
};

const char* const kKinds[] = {"xform", "zstd-patch"};

}  // namespace

TEST_CASE("a good delta of each kind is all that is downloaded, and rebuilds the file") {
  for (const char* kind : kKinds) {
    CAPTURE(kind);
    DeltaEnv env(kind);
    DeltaV2 d = env.serve_delta(kind);
    CHECK(d.stored_size < env.blob.stored_size);
    FileTransfer t;
    Status s = env.obtain(&t);
    REQUIRE_MESSAGE(s.ok(), s.message());
    CHECK(t.how == std::string("delta-") + kind);
    CHECK(t.wire_bytes == d.stored_size);
    CHECK(t.delta_fallback.empty());
    env.check_installed();
    auto log = env.log(1);
    REQUIRE(log.size() == 1);  // never the blob as well
    CHECK(log[0].path == "/" + d.url);
  }
}

TEST_CASE("a delta whose bytes differ from the listed sha256 falls back to the blob in the same call") {
  for (const char* kind : kKinds) {
    CAPTURE(kind);
    DeltaEnv env(kind);
    DeltaV2 d = env.serve_delta(kind);
    std::string served = read_all(env.tree_dir / d.url);
    served[served.size() / 2] ^= 0x08;
    write_all(env.tree_dir / d.url, served);
    FileTransfer t;
    Status s = env.obtain(&t);
    REQUIRE_MESSAGE(s.ok(), s.message());
    CHECK(t.how == "blob-zstd");
    CHECK(t.delta_fallback.rfind("hash-mismatch: ", 0) == 0);
    CHECK(t.wire_bytes == d.stored_size + env.blob.stored_size);
    env.check_installed();
  }
}

TEST_CASE("a delta whose base the device lacks is not downloaded at all") {
  DeltaEnv env;
  env.serve_delta("xform");
  REQUIRE(env.params().fs->remove_all(env.store.blob_path(env.old_sha)).ok());
  FileTransfer t;
  Status s = env.obtain(&t);
  REQUIRE_MESSAGE(s.ok(), s.message());
  CHECK(t.how == "blob-zstd");
  CHECK(t.delta_fallback.empty());
  CHECK(t.wire_bytes == env.blob.stored_size);
  env.check_installed();
  auto log = env.log(1);
  REQUIRE(log.size() == 1);
  CHECK(log[0].path == "/" + env.blob.url);
}

TEST_CASE("a delta that yields the wrong content falls back to the blob") {
  for (const char* kind : kKinds) {
    CAPTURE(kind);
    DeltaEnv env(kind);
    write_all(env.work / "other", std::string(kind) == "xform" ? modelcast::testing::fine_tune(env.old_bytes, 1e-2, 9)
                                                               : modelcast::testing::retrain_head(env.old_bytes, 9));
    env.serve_delta(kind, env.work / "other");  // listed, and signed, for the new file
    FileTransfer t;
    Status s = env.obtain(&t);
    REQUIRE_MESSAGE(s.ok(), s.message());
    CHECK(t.how == "blob-zstd");
    CHECK(t.delta_fallback.rfind("hash-mismatch: ", 0) == 0);
    env.check_installed();
  }
}

TEST_CASE("a delta bomb is stopped at the file's size and the blob used instead") {
  for (const char* kind : kKinds) {
    CAPTURE(kind);
    DeltaEnv env(kind);
    write_all(env.work / "bigger", env.new_bytes + std::string(4 << 20, 'x'));
    env.serve_delta(kind, env.work / "bigger");
    FileTransfer t;
    Status s = env.obtain(&t);
    REQUIRE_MESSAGE(s.ok(), s.message());
    CHECK(t.how == "blob-zstd");
    CAPTURE(t.delta_fallback);
    CHECK(t.delta_fallback.find("the manifest says " + std::to_string(env.new_bytes.size())) != std::string::npos);
    env.check_installed();
  }
}

TEST_CASE("an xform delta whose header lies about the element width falls back to the blob") {
  DeltaEnv env;
  auto plan = plan_xform(env.work / "new", env.work / "old");
  REQUIRE(plan.ok());
  XformEncodeOptions raw;
  raw.compress = false;
  REQUIRE(xform_encode_file(env.work / "new", env.work / "old", plan.value(), env.work / "raw.mcxf", raw).ok());
  std::vector<XformSegment> lying = plan.value();
  lying.front().width = 3;
  std::string stream = xform_header_bytes(env.new_bytes.size(), lying);
  stream += read_all(env.work / "raw.mcxf").substr(stream.size());
  env.serve_delta_bytes("xform", zstd_compress(stream));
  FileTransfer t;
  Status s = env.obtain(&t);
  REQUIRE_MESSAGE(s.ok(), s.message());
  CHECK(t.how == "blob-zstd");
  CAPTURE(t.delta_fallback);
  CHECK(t.delta_fallback.rfind("corrupt: ", 0) == 0);
  CHECK(t.delta_fallback.find("element width 3") != std::string::npos);
  env.check_installed();
}

TEST_CASE("when the blob fails too after a bad delta, the call fails and the cache holds nothing of the file") {
  DeltaEnv env;
  DeltaV2 d = env.serve_delta("xform");
  write_all(env.tree_dir / d.url, std::string(d.stored_size, 'z'));  // corrupt delta
  REQUIRE(env.params().fs->remove_all(env.tree_dir / env.blob.url).ok());  // and no blob (404)
  FileTransfer t;
  Status s = env.obtain(&t);
  CHECK_FALSE(s.ok());
  CHECK(s.code() == StatusCode::kNetwork);
  CHECK_FALSE(t.delta_fallback.empty());
  CHECK_FALSE(path_exists(env.store.blob_path(env.new_sha)));
}
