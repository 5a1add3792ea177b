// Ed25519 keys, key ids, and what a signature over a manifest covers.
#include <doctest/doctest.h>

#include <functional>
#include <string>
#include <vector>

#include "modelcast/encoding.h"
#include "modelcast/sha256.h"
#include "modelcast/signed_manifest.h"
#include "modelcast/signing.h"
#include "test_support.h"

using namespace modelcast;
using namespace modelcast::testing;

namespace {

// The key id of the committed TEST key, computed independently of modelcast with
// `openssl pkey -pubin -in test-key.pub -outform DER | tail -c 32 | sha256sum`.
constexpr const char* kTestKeyId = "b9623247787bf595c0e2cd3217f2c0678cb875d19917cc45a2dbe02382fb2a8f";

SignedManifest parsed_vector(const std::string& name) {
  auto m = parse_signed_manifest(valid_vector(name));
  REQUIRE_MESSAGE(m.ok(), m.status().message());
  return m.value();
}

// Calls `visit` with a JSON pointer and a copy of `root` where that one place differs:
// every scalar is changed, every object member removed and every array grown, so the
// caller can prove the signature covers each of them.
void for_each_tampering(const Json& root, const std::function<void(const std::string&, const Json&)>& visit) {
  std::function<void(const Json::json_pointer&)> walk = [&](const Json::json_pointer& at) {
    const Json& v = root.at(at);
    Json changed = root;
    Json& target = changed.at(at);
    switch (v.type()) {
      case Json::value_t::string: target = v.get<std::string>() + "x"; break;
      case Json::value_t::number_unsigned:
      case Json::value_t::number_integer: target = v.get<int64_t>() + 1; break;
      case Json::value_t::boolean: target = !v.get<bool>(); break;
      case Json::value_t::null: target = 0; break;
      case Json::value_t::array: target.push_back(0); break;
      case Json::value_t::object: target["tampered"] = true; break;
      default: FAIL("unexpected JSON type at " << at.to_string());
    }
    visit(at.to_string() + " (changed)", changed);
    if (v.is_object()) {
      for (auto it = v.begin(); it != v.end(); ++it) {
        Json removed = root;
        removed.at(at).erase(it.key());
        visit((at / it.key()).to_string() + " (removed)", removed);
        walk(at / it.key());
      }
    } else if (v.is_array()) {
      for (size_t i = 0; i < v.size(); ++i) walk(at / i);
    }
  };
  walk(Json::json_pointer());
}

}  // namespace

TEST_CASE("generated keys sign and verify, and are different every time") {
  auto a = PrivateKey::generate();
  auto b = PrivateKey::generate();
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(a->public_key().key_id() != b->public_key().key_id());
  std::string sig = a->sign("manifest bytes");
  CHECK(sig.size() == 64);
  CHECK(a->public_key().verify("manifest bytes", sig));
  CHECK_FALSE(a->public_key().verify("manifest bytez", sig));
  CHECK_FALSE(b->public_key().verify("manifest bytes", sig));
  CHECK_FALSE(a->public_key().verify("manifest bytes", sig.substr(0, 63)));
  CHECK_FALSE(a->public_key().verify("manifest bytes", ""));
}

TEST_CASE("Ed25519 signatures are deterministic, so the same key signs the same bytes identically") {
  auto k = test_private_key();
  CHECK(k.sign("abc") == k.sign("abc"));
  CHECK(k.sign("abc") != k.sign("abd"));
}

TEST_CASE("private and public keys survive a PEM round trip") {
  auto k = PrivateKey::generate().value();
  auto again = PrivateKey::from_pem(k.to_pem(), "round trip");
  REQUIRE(again.ok());
  CHECK(again->public_key().key_id() == k.public_key().key_id());
  CHECK(again->sign("x") == k.sign("x"));
  auto pub = PublicKey::from_pem(k.public_key().to_pem(), "round trip");
  REQUIRE(pub.ok());
  CHECK(pub->raw() == k.public_key().raw());
  CHECK(pub->key_id() == k.public_key().key_id());
  CHECK(contains(k.to_pem(), "-----BEGIN PRIVATE KEY-----"));
  CHECK(contains(k.public_key().to_pem(), "-----BEGIN PUBLIC KEY-----"));
}

TEST_CASE("a key id is the lowercase hex SHA-256 of the raw 32-byte public key") {
  auto k = PrivateKey::generate().value();
  CHECK(k.public_key().raw().size() == 32);
  CHECK(k.public_key().key_id() == sha256_hex(k.public_key().raw()));
  CHECK(is_lower_hex(k.public_key().key_id(), 64));
  auto from_raw = PublicKey::from_raw(k.public_key().raw());
  REQUIRE(from_raw.ok());
  CHECK(from_raw->key_id() == k.public_key().key_id());
}

TEST_CASE("the committed TEST key pair matches its key id, computed independently with openssl") {
  auto priv = test_private_key();
  auto pub = test_public_key();
  CHECK(pub.key_id() == kTestKeyId);
  CHECK(priv.public_key().key_id() == kTestKeyId);
  CHECK(slurp(vectors_dir() + "/test-key.keyid") == std::string(kTestKeyId) + "\n");
  // The files say loudly what they are.
  CHECK(contains(slurp(vectors_dir() + "/test-key.pem"), "TEST KEY ONLY"));
  CHECK(contains(slurp(vectors_dir() + "/test-key.pub"), "TEST KEY ONLY"));
}

TEST_CASE("keys that are not Ed25519 PEM are refused naming where they came from") {
  const char* ec_p256 =
      "-----BEGIN PUBLIC KEY-----\n"
      "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAECTtAV2dmwHVnenb9BDtwA5TCV4vE\n"
      "j/bwhCvKJz8ecqoTaFMAa3Jxw3xIG2aKkQhNmmpWHVzDZmw3MjF/gxMl9w==\n"
      "-----END PUBLIC KEY-----\n";
  auto ec = PublicKey::from_pem(ec_p256, "ec.pub");
  REQUIRE_FALSE(ec.ok());
  CHECK(contains(ec.status().message(), "ec.pub: not an Ed25519 key"));
  auto junk = PublicKey::from_pem("not a key", "junk.pub");
  REQUIRE_FALSE(junk.ok());
  CHECK(contains(junk.status().message(), "junk.pub"));
  CHECK_FALSE(PrivateKey::from_pem(test_public_key().to_pem(), "pub-as-priv").ok());
  CHECK_FALSE(PublicKey::from_raw(std::string(31, 'k')).ok());
  auto missing = PublicKey::from_pem_file("/nonexistent/key.pub");
  REQUIRE_FALSE(missing.ok());
  CHECK(contains(missing.status().message(), "/nonexistent/key.pub"));
}

TEST_CASE("a signed manifest verifies with the committed TEST key") {
  auto m = parsed_vector("full");
  CHECK(verify_signatures(m, {test_public_key()}, 1).ok());
}

TEST_CASE("changing, removing or adding anything anywhere in signed breaks the signature") {
  auto m = parsed_vector("full");
  const auto trusted = std::vector<PublicKey>{test_public_key()};
  size_t places = 0;
  for_each_tampering(m.signed_json, [&](const std::string& where, const Json& changed) {
    SignedManifest t = m;
    t.signed_json = changed;
    Status s = verify_signatures(t, trusted, 1);
    CHECK_MESSAGE(s.code() == StatusCode::kSignature, where);
    ++places;
  });
  // Every member of the full vector: scalars, objects and arrays at every depth.
  CHECK(places > 100);
}

TEST_CASE("tampered manifest text that still passes validation fails with a signature error") {
  std::string text = valid_vector("full");
  // A plain pair, not a structured binding: clang 14 refuses bindings captured by doctest's macros.
  for (const auto& change : std::vector<std::pair<std::string, std::string>>{
           {"\"version\": 42", "\"version\": 43"},
           {"\"expires_at\": \"2099-01-01T00:00:00Z\"", "\"expires_at\": \"2199-01-01T00:00:00Z\""},
           {"\"percent\": 25", "\"percent\": 100"},
           {"\"min_app_version\": \"2.10.1\"", "\"min_app_version\": \"1\""},
           {"\"down\"", "\"left\""},
           {"\"channel\": \"beta\"", "\"channel\": \"stable\""}}) {
    const std::string& from = change.first;
    const std::string& to = change.second;
    std::string tampered = text;
    auto pos = tampered.find(from);
    REQUIRE_MESSAGE(pos != std::string::npos, from);
    tampered.replace(pos, from.size(), to);
    auto parsed = parse_signed_manifest(tampered);
    REQUIRE_MESSAGE(parsed.ok(), parsed.status().message());
    CHECK_MESSAGE(verify_signatures(parsed.value(), {test_public_key()}, 1).code() == StatusCode::kSignature, to);
  }
}

TEST_CASE("reformatting the envelope does not affect the signature, because it covers canonical bytes") {
  auto doc = parse_json_strict(valid_vector("unicode"), kMaxManifestBytes, "t").value();
  for (const std::string& text : {doc.dump(), doc.dump(7), doc.dump(-1, ' ', /*ensure_ascii=*/true)}) {
    auto parsed = parse_signed_manifest(text);
    REQUIRE_MESSAGE(parsed.ok(), parsed.status().message());
    CHECK(verify_signatures(parsed.value(), {test_public_key()}, 1).ok());
  }
}

TEST_CASE("a signature by an untrusted key, or by nobody trusted, is refused") {
  auto m = parsed_vector("minimal");
  auto other = PrivateKey::generate().value();
  Status s = verify_signatures(m, {other.public_key()}, 1);
  CHECK(s.code() == StatusCode::kSignature);
  CHECK(contains(s.message(), "no signature by a trusted key"));
  CHECK(verify_signatures(m, {}, 1).code() == StatusCode::kSignature);
}

TEST_CASE("a threshold counts distinct trusted keys, never the same key twice") {
  auto two = parsed_vector("two-signatures");
  auto test_pub = test_public_key();
  // The second signer is the generator's other TEST key; recover it from the vector.
  std::string other_id = two.signatures[1].keyid;
  REQUIRE(other_id != test_pub.key_id());
  CHECK(verify_signatures(two, {test_pub}, 1).ok());
  Status s = verify_signatures(two, {test_pub}, 2);
  CHECK(s.code() == StatusCode::kSignature);
  CHECK(contains(s.message(), "1 valid signature(s), 2 required"));
  CHECK(verify_signatures(two, {test_pub, test_pub}, 2).code() == StatusCode::kSignature);

  auto one = parsed_vector("minimal");
  one.signatures.push_back(one.signatures[0]);  // the same signature listed twice
  CHECK(verify_signatures(one, {test_pub}, 2).code() == StatusCode::kSignature);
  CHECK(verify_signatures(one, {test_pub}, 1).ok());
}

TEST_CASE("two different trusted keys meet a threshold of two") {
  auto a = PrivateKey::generate().value();
  auto b = PrivateKey::generate().value();
  auto m = parse_signed_manifest(valid_vector("minimal")).value();
  auto text = sign_manifest(m.manifest, {&a, &b});
  REQUIRE(text.ok());
  auto both = parse_signed_manifest(text.value());
  REQUIRE(both.ok());
  CHECK(verify_signatures(both.value(), {a.public_key(), b.public_key()}, 2).ok());
  CHECK(verify_signatures(both.value(), {a.public_key()}, 2).code() == StatusCode::kSignature);
}

TEST_CASE("a signature by a trusted key over other bytes is reported as not matching the content") {
  auto m = parsed_vector("minimal");
  auto raw = base64_decode(m.signatures[0].sig).value();
  raw[0] = static_cast<char>(raw[0] ^ 0x80);
  m.signatures[0].sig = base64_encode(raw);
  Status s = verify_signatures(m, {test_public_key()}, 1);
  CHECK(s.code() == StatusCode::kSignature);
  CHECK(contains(s.message(), "does not match"));
}

TEST_CASE("signing the minimal vector's manifest with the TEST key reproduces it byte for byte") {
  auto m = parsed_vector("minimal");
  auto key = test_private_key();
  auto text = sign_manifest(m.manifest, {&key});
  REQUIRE(text.ok());
  CHECK(text.value() == valid_vector("minimal"));
}

TEST_CASE("signing refuses no keys and a manifest a reader would reject, naming the field") {
  auto m = parsed_vector("minimal");
  CHECK(sign_manifest(m.manifest, {}).status().code() == StatusCode::kInvalidArgument);
  auto key = test_private_key();
  Manifest bad = m.manifest;
  bad.files[0].path = "../escape";
  auto r = sign_manifest(bad, {&key});
  REQUIRE_FALSE(r.ok());
  CHECK(contains(r.status().message(), "signed.files[0].path"));
  Manifest latin1 = m.manifest;
  latin1.config.outputs[0].labels[0] = "caf\xE9";
  auto l = sign_manifest(latin1, {&key});
  REQUIRE_FALSE(l.ok());
  CHECK(contains(l.status().message(), "/config/outputs/0/labels/0: string is not valid UTF-8"));
}

TEST_CASE("a manifest with a rollout percentage and deltas can be signed and verifies") {
  // Regression: the rollout percent is an int in C++, which the validator used to refuse
  // as "must be an integer" when sign_manifest re-read its own output.
  auto m = parsed_vector("full");
  auto key = test_private_key();
  auto text = sign_manifest(m.manifest, {&key});
  REQUIRE_MESSAGE(text.ok(), text.status().message());
  auto again = parse_signed_manifest(text.value());
  REQUIRE(again.ok());
  CHECK(again->manifest.rollout_percent == 25);
  CHECK(verify_signatures(again.value(), {test_public_key()}, 1).ok());
}
