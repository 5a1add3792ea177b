// `modelcast publish --deltas N` through the real binary into a real git tree: the format 2
// document of a fine-tuned version lists a delta from the previous content and the xform
// blob before the zstd one; the format 1 document lists neither; verify passes, and fails
// when a listed delta or xform blob is damaged; `--deltas 0` lists nothing new.
#include <doctest/doctest.h>

#include <sys/stat.h>

#include "modelcast/names.h"
#include "modelcast/signed_manifest.h"
#include "modelcast/signed_manifest_v2.h"
#include "publisher_test_util.h"
#include "synthetic_weights.h"

using namespace modelcast;
using namespace modelcast::test;

namespace {

RunResult publish_weights(const Fixture& f, const std::string& file, std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {"publish", f.tree, "--model", "net", "--platform", "android", "--config", f.config,
                                   "--key",   f.key,  "--quiet", "--json", "weights.bin=" + file};
  args.insert(args.end(), extra.begin(), extra.end());
  return run_cli(args);
}

ManifestV2 load_v2(const Fixture& f, uint64_t version) {
  auto sm = parse_signed_manifest_v2(read_text(f.tree + "/v2/manifests/net/stable/android/" + std::to_string(version) + ".json"));
  REQUIRE_MESSAGE(sm.ok(), sm.status().message());
  return sm->manifest;
}

Manifest load_v1(const Fixture& f, uint64_t version) {
  auto sm = parse_signed_manifest(read_text(f.tree + "/manifests/net/stable/android/" + std::to_string(version) + ".json"));
  REQUIRE_MESSAGE(sm.ok(), sm.status().message());
  return sm->manifest;
}

}  // namespace

TEST_CASE("publishing fine-tuned weights lists a delta and an xform blob in the format 2 document only") {
  TempDir dir;
  Fixture f = make_fixture(dir);
  const std::string v1 = modelcast::testing::weights(1 << 18, 1);  // 1 MiB of float32
  const std::string v2 = modelcast::testing::fine_tune(v1, 1e-3, 2);
  write_text(dir / "v1.bin", v1);
  write_text(dir / "v2.bin", v2);
  RunResult r1 = publish_weights(f, dir / "v1.bin");
  REQUIRE_MESSAGE(r1.exit_code == 0, r1.err);
  RunResult r2 = publish_weights(f, dir / "v2.bin");
  REQUIRE_MESSAGE(r2.exit_code == 0, r2.err);

  const ManifestV2 first = load_v2(f, 1), second = load_v2(f, 2);
  REQUIRE(second.files.size() == 1);
  const FileEntryV2& file = second.files[0];
  // The full content: the xform blob first (smaller), then the zstd blob every reader knows.
  REQUIRE(file.blobs.size() == 2);
  CHECK(file.blobs[0].encoding == "xform");
  CHECK(file.blobs[1].encoding == "zstd");
  CHECK(file.blobs[0].stored_size < file.blobs[1].stored_size);
  // One delta, from the first version's content, near half the raw size.
  REQUIRE(file.deltas.size() == 1);
  CHECK(file.deltas[0].from_sha256 == first.files[0].sha256);
  CHECK(file.deltas[0].encoding == "xform");
  CHECK(file.deltas[0].stored_size * 10 < v2.size() * 6);
  struct stat st;
  REQUIRE(::stat((f.tree + "/" + file.deltas[0].url).c_str(), &st) == 0);
  CHECK(static_cast<uint64_t>(st.st_size) == file.deltas[0].stored_size);
  CHECK(dirty_paths(f.tree) == 0);  // committed with the version

  // The format 1 document of the same version: the zstd blob only, no deltas.
  const Manifest old_readers = load_v1(f, 2);
  REQUIRE(old_readers.files.size() == 1);
  CHECK(old_readers.files[0].encoding == "zstd");
  CHECK(old_readers.files[0].url == format_blob_path(file.sha256, ".zst"));
  CHECK(old_readers.files[0].deltas.empty());

  RunResult verify = run_cli({"verify", f.tree, "--pubkey", f.pub});
  CHECK_MESSAGE(verify.exit_code == 0, verify.err);

  // A damaged delta is a problem verify names.
  const std::string delta_path = f.tree + "/" + file.deltas[0].url;
  std::string bytes = read_text(delta_path);
  bytes[bytes.size() / 2] ^= 1;
  ::chmod(delta_path.c_str(), 0644);
  write_text(delta_path, bytes);
  RunResult damaged = run_cli({"verify", f.tree, "--pubkey", f.pub});
  CHECK(damaged.exit_code != 0);
  CHECK(damaged.err.find(file.deltas[0].url) != std::string::npos);

  // So is an xform blob that does not decode to the content (its size still right).
  const std::string xf_path = f.tree + "/" + file.blobs[0].url;
  std::string xf = read_text(xf_path);
  xf[xf.size() / 2] ^= 1;
  ::chmod(xf_path.c_str(), 0644);
  write_text(xf_path, xf);
  RunResult damaged_xf = run_cli({"verify", f.tree, "--pubkey", f.pub});
  CHECK(damaged_xf.exit_code != 0);
  CHECK(damaged_xf.err.find(file.blobs[0].url) != std::string::npos);
}

TEST_CASE("publish --deltas 0 lists no delta and no xform blob") {
  TempDir dir;
  Fixture f = make_fixture(dir);
  const std::string v1 = modelcast::testing::weights(1 << 16, 3);
  write_text(dir / "v1.bin", v1);
  write_text(dir / "v2.bin", modelcast::testing::fine_tune(v1, 1e-3, 4));
  REQUIRE(publish_weights(f, dir / "v1.bin", {"--deltas", "0"}).exit_code == 0);
  RunResult r2 = publish_weights(f, dir / "v2.bin", {"--deltas", "0"});
  REQUIRE_MESSAGE(r2.exit_code == 0, r2.err);
  const ManifestV2 second = load_v2(f, 2);
  REQUIRE(second.files.size() == 1);
  CHECK(second.files[0].deltas.empty());
  REQUIRE(second.files[0].blobs.size() == 1);
  CHECK(second.files[0].blobs[0].encoding == "zstd");
  RunResult bad = publish_weights(f, dir / "v1.bin", {"--deltas", "17"});
  CHECK(bad.exit_code != 0);
  CHECK(bad.err.find("--deltas") != std::string::npos);
}

TEST_CASE("a version that keeps a file's content keeps that file's delta and xform blob") {
  TempDir dir;
  Fixture f = make_fixture(dir);
  const std::string v1 = modelcast::testing::weights(1 << 16, 5);
  write_text(dir / "v1.bin", v1);
  write_text(dir / "v2.bin", modelcast::testing::fine_tune(v1, 1e-3, 6));
  write_text(dir / "labels.txt", "cat\ndog\n");
  REQUIRE(publish_weights(f, dir / "v1.bin").exit_code == 0);
  REQUIRE(publish_weights(f, dir / "v2.bin").exit_code == 0);
  // Version 3: the same weights, a new labels file.
  RunResult r3 = publish_weights(f, dir / "v2.bin", {"labels.txt=" + (dir / "labels.txt")});
  REQUIRE_MESSAGE(r3.exit_code == 0, r3.err);
  const ManifestV2 second = load_v2(f, 2), third = load_v2(f, 3);
  const FileEntryV2* weights = nullptr;
  for (const auto& file : third.files)
    if (file.path == "weights.bin") weights = &file;
  REQUIRE(weights != nullptr);
  REQUIRE(weights->deltas.size() == 1);
  CHECK(weights->deltas[0].url == second.files[0].deltas[0].url);
  CHECK(weights->blobs.front().encoding == "xform");
  RunResult verify = run_cli({"verify", f.tree, "--pubkey", f.pub});
  CHECK_MESSAGE(verify.exit_code == 0, verify.err);
}
