// Key-set statements (FORMAT.md, "Key-set statements"): the golden vector, and the rules
// a statement must follow to succeed the set before it.
#include <doctest/doctest.h>

#include <fstream>
#include <functional>
#include <iterator>

#include "modelcast/key_set.h"

using namespace modelcast;

namespace {

std::string read(const std::string& rel) {
  std::ifstream in(std::string(MODELCAST_SOURCE_DIR) + "/manifests/vectors/" + rel, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), rel);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

KeySet test_key_set() {
  KeySet set;
  set.keys = {PublicKey::from_pem(read("test-key.pub"), "test-key.pub").value()};
  return set;
}

struct Signers {
  PrivateKey a = PrivateKey::generate().value(), b = PrivateKey::generate().value(), c = PrivateKey::generate().value();
};

KeySetStatement statement(const KeySet& set, const std::vector<const PrivateKey*>& signers) {
  auto text = sign_key_set(set, "2026-11-26T00:00:00Z", signers);
  REQUIRE_MESSAGE(text.ok(), text.status().message());
  auto parsed = parse_key_set_statement(*text);
  REQUIRE_MESSAGE(parsed.ok(), parsed.status().message());
  return std::move(parsed).value();
}

}  // namespace

TEST_CASE("the golden key-set statement follows the TEST key's set and its canonical bytes are pinned") {
  auto st = parse_key_set_statement(read("keyset/valid-1.json"));
  REQUIRE_MESSAGE(st.ok(), st.status().message());
  CHECK(st->set.version == 1);
  CHECK(st->set.keys.size() == 2);
  CHECK(st->set.threshold == 1);
  CHECK(canonical_json(st->signed_json).value() == read("keyset/valid-1.canonical"));
  CHECK(check_key_set_successor(test_key_set(), *st).ok());

  auto below = parse_key_set_statement(read("keyset/below-threshold.json"));
  REQUIRE(below.ok());
  Status s = check_key_set_successor(test_key_set(), *below);
  CHECK(s.code() == StatusCode::kSignature);
  CHECK(s.message().find("signed by 0 key(s) of key set 0, its threshold is 1") != std::string::npos);
}

TEST_CASE("a statement must be signed by the threshold of the previous set, not by the keys it adds") {
  Signers k;
  KeySet zero;
  zero.keys = {k.a.public_key(), k.b.public_key()};
  zero.threshold = 2;
  KeySet one = zero;
  one.version = 1;
  one.keys.push_back(k.c.public_key());
  CHECK(check_key_set_successor(zero, statement(one, {&k.a, &k.b})).ok());
  CHECK(check_key_set_successor(zero, statement(one, {&k.a, &k.c})).code() == StatusCode::kSignature);
  CHECK(check_key_set_successor(zero, statement(one, {&k.a, &k.a})).code() == StatusCode::kSignature);
  one.version = 2;  // a gap
  CHECK(check_key_set_successor(zero, statement(one, {&k.a, &k.b})).code() == StatusCode::kCorruption);
}

TEST_CASE("a revocation is forever: a revoked key neither signs the next statement nor comes back") {
  Signers k;
  KeySet one;
  one.version = 1;
  one.keys = {k.b.public_key(), k.c.public_key()};
  one.revoked = {k.a.public_key().key_id()};
  KeySet two = one;
  two.version = 2;
  two.revoked.clear();
  CHECK(check_key_set_successor(one, statement(two, {&k.b})).message().find("un-revokes") != std::string::npos);
  two.revoked = one.revoked;
  CHECK(check_key_set_successor(one, statement(two, {&k.b})).ok());
  KeySet with_a = one;
  with_a.version = 2;
  with_a.keys.push_back(k.a.public_key());
  CHECK_FALSE(sign_key_set(with_a, "2026-11-26T00:00:00Z", {&k.b}).ok());  // revoked and listed: refused
}

TEST_CASE("a manifest signed by a revoked key is refused with the key named") {
  Signers k;
  KeySet set;
  set.version = 3;
  set.keys = {k.b.public_key()};
  set.revoked = {k.a.public_key().key_id()};
  Manifest m;
  m.model = "m";
  m.platform = "p";
  m.version = 1;
  m.published_at = "2026-11-26T00:00:00Z";
  m.expires_at = "2099-01-01T00:00:00Z";
  FileEntry f;
  f.path = "model.bin";
  f.sha256 = std::string(64, 'a');
  f.size = f.stored_size = 1;
  f.url = "blobs/sha256/aa/" + f.sha256;
  m.files.push_back(f);
  auto text = sign_manifest(m, {&k.a});
  REQUIRE_MESSAGE(text.ok(), text.status().message());
  auto sm = parse_signed_manifest(*text);
  REQUIRE(sm.ok());
  Status s = verify_with_key_set(*sm, set);
  CHECK(s.code() == StatusCode::kSignature);
  CHECK(s.message().find("revoked key " + k.a.public_key().key_id().substr(0, 16)) != std::string::npos);
  auto by_b = parse_signed_manifest(sign_manifest(m, {&k.b}).value());
  CHECK(verify_with_key_set(*by_b, set).ok());
}

TEST_CASE("malformed statements are refused naming the field") {
  Signers k;
  KeySet set;
  set.version = 1;
  set.keys = {k.a.public_key()};
  std::string good = sign_key_set(set, "2026-11-26T00:00:00Z", {&k.a}).value();
  auto mutate = [&](const std::function<void(Json&)>& f) {
    Json doc = Json::parse(good);
    f(doc["signed"]);
    return parse_key_set_statement(doc.dump()).status();
  };
  CHECK(mutate([](Json& s) { s["schema"] = "modelcast/keyset/2"; }).message().find("signed.schema") != std::string::npos);
  CHECK(mutate([](Json& s) { s["threshold"] = 2; }).message().find("signed.threshold") != std::string::npos);
  CHECK(mutate([](Json& s) { s["keys"][0]["keyid"] = std::string(64, '0'); }).message().find("keyid") != std::string::npos);
  CHECK(mutate([](Json& s) { s["extra"] = 1; }).message().find("unknown field") != std::string::npos);
  CHECK(mutate([](Json& s) { s["version"] = 0; }).message().find("signed.version") != std::string::npos);
  CHECK(mutate([](Json& s) { s.erase("revoked"); }).message().find("signed.revoked: missing") != std::string::npos);
}
