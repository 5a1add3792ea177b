// Drives every golden vector in manifests/vectors the way a device would: parse, verify
// with the committed TEST key (threshold 1), check freshness at kVectorsNow.
#include <doctest/doctest.h>

#include <string>

#include "modelcast/signed_manifest.h"
#include "modelcast/signed_manifest_v2.h"
#include "test_support.h"

using namespace modelcast;
using namespace modelcast::testing;

namespace {

Status judge(const std::string& bytes) {
  auto parsed = parse_signed_manifest(bytes);
  if (!parsed.ok()) return parsed.status();
  MC_RETURN_IF_ERROR(verify_signatures(parsed.value(), {test_public_key()}, 1));
  return check_fresh(parsed->manifest, kVectorsNow);
}

}  // namespace

TEST_CASE("every valid vector verifies with the TEST key and its canonical bytes match the .canonical file exactly") {
  const std::string dir = vectors_dir() + "/valid";
  auto names = names_with_suffix(dir, ".json");
  CHECK(names.size() >= 5);
  CHECK(names_with_suffix(dir, ".canonical") == names);
  for (const auto& name : names) {
    CAPTURE(name);
    std::string text = slurp(dir + "/" + name + ".json");
    auto parsed = parse_signed_manifest(text);
    REQUIRE_MESSAGE(parsed.ok(), parsed.status().message());
    Status verdict = judge(text);
    CHECK_MESSAGE(verdict.ok(), verdict.message());
    auto canonical = canonical_json(parsed->signed_json);
    REQUIRE(canonical.ok());
    CHECK(canonical.value() == slurp(dir + "/" + name + ".canonical"));
  }
}

TEST_CASE("every invalid vector fails with the code and message its .expect file names") {
  const std::string dir = vectors_dir() + "/invalid";
  auto names = names_with_suffix(dir, ".json");
  CHECK(names.size() >= 40);
  CHECK(names_with_suffix(dir, ".expect") == names);
  for (const auto& name : names) {
    CAPTURE(name);
    auto expect = parse_json_strict(slurp(dir + "/" + name + ".expect"), 1 << 16, name + ".expect");
    REQUIRE_MESSAGE(expect.ok(), expect.status().message());
    const std::string code = expect->at("code").get<std::string>();
    const std::string message = expect->at("message").get<std::string>();
    Status verdict = judge(slurp(dir + "/" + name + ".json"));
    REQUIRE_MESSAGE(!verdict.ok(), "accepted");
    CHECK(status_code_name(verdict.code()) == code);
    CHECK_MESSAGE(contains(verdict.message(), message), verdict.message());
  }
}

TEST_CASE("the invalid vectors cover every attack the format promises to stop") {
  const std::string dir = vectors_dir() + "/invalid/";
  for (const char* name :
       {"bad-signature", "untrusted-key", "unsigned-no-signatures", "unsigned-empty-signatures", "unknown-schema",
        "float-version", "float-in-shape", "float-in-metadata", "path-parent", "path-absolute", "path-inner-parent",
        "path-duplicate", "path-duplicate-case", "sha256-not-hex", "url-absolute", "size-negative", "size-huge",
        "missing-schema", "missing-model", "missing-channel", "missing-platform", "missing-version", "missing-published_at",
        "missing-expires_at", "missing-files", "missing-config", "missing-requires", "expired", "duplicate-key",
        "unknown-field", "identity-stored-size-mismatch", "oversized", "deep-nesting"}) {
    CHECK_MESSAGE(path_exists(dir + name + ".json"), name);
  }
}

TEST_CASE("the oversized vector is one byte over the limit and the deep one is only too deep") {
  CHECK(slurp(vectors_dir() + "/invalid/oversized.json").size() == kMaxManifestBytes + 1);
  std::string deep = slurp(vectors_dir() + "/invalid/deep-nesting.json");
  CHECK(deep.size() < kMaxManifestBytes);
}

TEST_CASE("the expired vector would verify if the clock were before its expiry") {
  auto parsed = parse_signed_manifest(slurp(vectors_dir() + "/invalid/expired.json"));
  REQUIRE(parsed.ok());
  CHECK(verify_signatures(parsed.value(), {test_public_key()}, 1).ok());
  CHECK(check_fresh(parsed->manifest, parse_timestamp("2000-01-15T00:00:00Z", "t").value()).ok());
  CHECK(check_fresh(parsed->manifest, kVectorsNow).code() == StatusCode::kExpired);
}

namespace {

Status judge_v2(const std::string& bytes) {
  auto parsed = parse_signed_manifest_v2(bytes);
  if (!parsed.ok()) return parsed.status();
  MC_RETURN_IF_ERROR(verify_signatures(parsed.value(), {test_public_key()}, 1));
  return check_fresh(parsed->manifest, kVectorsNow);
}

}  // namespace

TEST_CASE("every valid format 2 vector verifies and its canonical bytes match, and the format 1 reader refuses it") {
  const std::string dir = vectors_dir() + "/v2/valid";
  auto names = names_with_suffix(dir, ".json");
  CHECK(names.size() >= 6);
  CHECK(names_with_suffix(dir, ".canonical") == names);
  for (const auto& name : names) {
    CAPTURE(name);
    std::string text = slurp(dir + "/" + name + ".json");
    Status verdict = judge_v2(text);
    CHECK_MESSAGE(verdict.ok(), verdict.message());
    auto parsed = parse_signed_manifest_v2(text);
    REQUIRE(parsed.ok());
    CHECK(canonical_json(parsed->signed_json).value() == slurp(dir + "/" + name + ".canonical"));
    auto as_v1 = parse_signed_manifest(text);
    REQUIRE(!as_v1.ok());
    CHECK(contains(as_v1.status().message(), "unknown schema \"modelcast/manifest/2\""));
  }
}

TEST_CASE("every invalid format 2 vector fails with the code and message its .expect file names") {
  const std::string dir = vectors_dir() + "/v2/invalid";
  auto names = names_with_suffix(dir, ".json");
  CHECK(names.size() >= 20);
  CHECK(names_with_suffix(dir, ".expect") == names);
  for (const auto& name : names) {
    CAPTURE(name);
    auto expect = parse_json_strict(slurp(dir + "/" + name + ".expect"), 1 << 16, name + ".expect");
    REQUIRE(expect.ok());
    Status verdict = judge_v2(slurp(dir + "/" + name + ".json"));
    REQUIRE_MESSAGE(!verdict.ok(), "accepted");
    CHECK(status_code_name(verdict.code()) == expect->at("code").get<std::string>());
    CHECK_MESSAGE(contains(verdict.message(), expect->at("message").get<std::string>()), verdict.message());
  }
}
