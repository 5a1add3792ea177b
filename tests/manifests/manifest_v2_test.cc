// Format 2 values: what the reader keeps of skipped entries, the mapping to and from
// format 1 that publisher and fetcher rely on, and signing round trips.
#include <doctest/doctest.h>

#include <algorithm>
#include <string>

#include "modelcast/sha256.h"
#include "modelcast/signed_manifest_v2.h"
#include "test_support.h"

using namespace modelcast;
using namespace modelcast::testing;

namespace {

SignedManifestV2 v2_vector(const std::string& name) {
  auto parsed = parse_signed_manifest_v2(slurp(vectors_dir() + "/v2/valid/" + name + ".json"));
  REQUIRE_MESSAGE(parsed.ok(), parsed.status().message());
  return parsed.value();
}

bool has_feature(const Manifest& m, const std::string& feature) {
  const auto& f = m.requirements.features;
  return std::find(f.begin(), f.end(), feature) != f.end();
}

}  // namespace

TEST_CASE("entries of unknown encodings are skipped and the known ones kept in document order") {
  SignedManifestV2 m = v2_vector("unknown-encodings");
  REQUIRE(m.manifest.files.size() == 1);
  const FileEntryV2& f = m.manifest.files[0];
  REQUIRE(f.blobs.size() == 1);
  CHECK(f.blobs[0].encoding == "identity");
  REQUIRE(f.deltas.size() == 1);
  CHECK(f.deltas[0].encoding == "xform");
  CHECK(f.deltas[0].url == delta_url(f.deltas[0].from_sha256, f.sha256, "xform"));
}

TEST_CASE("a file with only unknown blob encodings parses with no blobs") {
  SignedManifestV2 m = v2_vector("no-known-blob");
  REQUIRE(m.manifest.files.size() == 1);
  CHECK(m.manifest.files[0].blobs.empty());
}

TEST_CASE("parts keep their order, sizes and derived URLs") {
  SignedManifestV2 m = v2_vector("parts");
  REQUIRE(m.manifest.files.size() == 2);
  const FileEntryV2& f = m.manifest.files[1];
  CHECK(f.path == "model.onnx");
  REQUIRE(f.blobs.size() == 2);
  CHECK(f.blobs[0].encoding == "xform");
  CHECK(f.blobs[0].parts.empty());
  const BlobV2& zstd = f.blobs[1];
  CHECK(zstd.url.empty());
  REQUIRE(zstd.parts.size() == 3);
  CHECK(zstd.parts[0].sha256 == sha256_hex("part one"));
  CHECK(zstd.parts[2].size == 600000000);
  CHECK(zstd.parts[1].url == "parts/sha256/" + zstd.parts[1].sha256.substr(0, 2) + "/" + zstd.parts[1].sha256);
}

TEST_CASE("the rollout fallback names an earlier version by the hash of its document") {
  SignedManifestV2 m = v2_vector("rollout-fallback");
  REQUIRE(m.manifest.rollout);
  CHECK(m.manifest.rollout->percent == 10);
  REQUIRE(m.manifest.rollout->fallback);
  CHECK(m.manifest.rollout->fallback->version == 11);
  CHECK(v2_version_manifest_url("mobilenet", "stable", "android", 11) == "v2/manifests/mobilenet/stable/android/11.json");
}

TEST_CASE("signing a parsed format 2 manifest again gives the same canonical bytes") {
  for (const char* name : {"minimal", "parts", "deltas", "rollout-fallback", "rollout-halt"}) {
    CAPTURE(name);
    SignedManifestV2 m = v2_vector(name);
    PrivateKey key = test_private_key();
    auto text = sign_manifest_v2(m.manifest, {&key});
    REQUIRE_MESSAGE(text.ok(), text.status().message());
    auto again = parse_signed_manifest_v2(text.value());
    REQUIRE(again.ok());
    CHECK(canonical_json(again->signed_json).value() == canonical_json(m.signed_json).value());
    CHECK(verify_signatures(again.value(), {test_public_key()}, 1).ok());
  }
}

TEST_CASE("the format 1 view keeps the first identity or zstd blob and drops deltas and xform blobs") {
  SignedManifestV2 m = v2_vector("deltas");
  auto v1 = manifest_v1_from_v2(m.manifest);
  REQUIRE(v1.ok());
  REQUIRE(v1->files.size() == 1);
  CHECK(v1->files[0].encoding == "zstd");
  CHECK(v1->files[0].url == blob_url(v1->files[0].sha256, true));
  CHECK(v1->files[0].deltas.empty());
  CHECK(!has_feature(v1.value(), kFormat2Feature));
  // What the publisher signs must be a valid format 1 document.
  PrivateKey key = test_private_key();
  auto text = sign_manifest(v1.value(), {&key});
  REQUIRE_MESSAGE(text.ok(), text.status().message());
  CHECK(parse_signed_manifest(text.value()).ok());
}

TEST_CASE("a file stored only as parts makes the format 1 view require modelcast-format-2") {
  SignedManifestV2 m = v2_vector("parts");
  auto v1 = manifest_v1_from_v2(m.manifest);
  REQUIRE(v1.ok());
  CHECK(has_feature(v1.value(), kFormat2Feature));
  for (const auto& f : v1->files) {
    if (f.path != "model.onnx") continue;
    CHECK(f.encoding == "zstd");
    CHECK(f.stored_size == 2600000000);
    CHECK(f.url == blob_url(f.sha256, true));
  }
  // Requiring it twice is not possible: the feature is added once.
  m.manifest.requirements.features = {kFormat2Feature};
  CHECK(manifest_v1_from_v2(m.manifest)->requirements.features.size() == 1);
}

TEST_CASE("a minimum OS is format 2 only: the format 1 view requires modelcast-format-2 instead") {
  SignedManifestV2 m = v2_vector("min-os");
  CHECK(m.manifest.requirements.min_os_version == "17.0");
  auto v1 = manifest_v1_from_v2(m.manifest);
  REQUIRE(v1.ok());
  CHECK(v1->requirements.min_os_version.empty());
  CHECK(has_feature(v1.value(), kFormat2Feature));
  PrivateKey key = test_private_key();
  auto text = sign_manifest(v1.value(), {&key});
  REQUIRE_MESSAGE(text.ok(), text.status().message());
  CHECK(text->find("min_os_version") == std::string::npos);
  // A format 1 manifest cannot be made to state it.
  Manifest stated = v1.value();
  stated.requirements.min_os_version = "17.0";
  auto refused = sign_manifest(stated, {&key});
  REQUIRE_FALSE(refused.ok());
  CHECK(contains(refused.status().message(), "signed.requires.min_os_version: unknown field"));
  // The format 2 document round-trips it.
  auto again = sign_manifest_v2(m.manifest, {&key});
  REQUIRE(again.ok());
  auto parsed = parse_signed_manifest_v2(again.value());
  REQUIRE(parsed.ok());
  CHECK(parsed->manifest.requirements.min_os_version == "17.0");
}

TEST_CASE("a file with only an xform blob has no format 1 view") {
  SignedManifestV2 m = v2_vector("minimal");
  m.manifest.files[0].blobs[0] = BlobV2{"xform", 10, blob_url_for(m.manifest.files[0].sha256, "xform"), {}};
  auto v1 = manifest_v1_from_v2(m.manifest);
  REQUIRE(!v1.ok());
  CHECK(v1.status().code() == StatusCode::kInvalidArgument);
  CHECK(contains(v1.status().message(), "model.tflite: no identity or zstd blob"));
}

TEST_CASE("a format 1 manifest read as format 2 has one blob per file and its deltas as zstd-patch") {
  auto v1 = parse_signed_manifest(valid_vector("full"));
  REQUIRE(v1.ok());
  ManifestV2 m = manifest_v2_from_v1(v1->manifest);
  REQUIRE(m.files.size() == v1->manifest.files.size());
  for (size_t i = 0; i < m.files.size(); ++i) {
    const FileEntry& a = v1->manifest.files[i];
    const FileEntryV2& b = m.files[i];
    CHECK(b.path == a.path);
    REQUIRE(b.blobs.size() == 1);
    CHECK(b.blobs[0].encoding == a.encoding);
    CHECK(b.blobs[0].url == a.url);
    CHECK(b.blobs[0].stored_size == a.stored_size);
    REQUIRE(b.deltas.size() == a.deltas.size());
    for (const auto& d : b.deltas) {
      CHECK(d.encoding == "zstd-patch");
      CHECK(d.sha256.empty());
    }
  }
  REQUIRE(m.rollout);
  CHECK(m.rollout->percent == 25);
  CHECK(!m.rollout->fallback);
}
