// The manifest model: JSON round trips, the pretty form written to disk, every
// validation rule of manifest_from_json, the envelope, and expiry.
#include <doctest/doctest.h>

#include <functional>
#include <string>
#include <vector>

#include "modelcast/manifest.h"
#include "modelcast/signed_manifest.h"
#include "test_support.h"

using namespace modelcast;
using namespace modelcast::testing;

namespace {

Json signed_of(const std::string& vector) {
  return parse_json_strict(valid_vector(vector), kMaxManifestBytes, vector).value().at("signed");
}

void check_same(const Manifest& a, const Manifest& b) {
  CHECK(a.schema == b.schema);
  CHECK(a.model == b.model);
  CHECK(a.channel == b.channel);
  CHECK(a.platform == b.platform);
  CHECK(a.version == b.version);
  CHECK(a.published_at == b.published_at);
  CHECK(a.expires_at == b.expires_at);
  CHECK(a.rollout_percent == b.rollout_percent);
  CHECK(a.requirements.features == b.requirements.features);
  CHECK(a.requirements.min_app_version == b.requirements.min_app_version);
  CHECK(a.requirements.runtime == b.requirements.runtime);
  CHECK(a.config.features == b.config.features);
  CHECK(a.config.metadata == b.config.metadata);
  REQUIRE(a.config.inputs.size() == b.config.inputs.size());
  REQUIRE(a.config.outputs.size() == b.config.outputs.size());
  for (size_t i = 0; i < a.config.outputs.size(); ++i) {
    CHECK(a.config.outputs[i].name == b.config.outputs[i].name);
    CHECK(a.config.outputs[i].dtype == b.config.outputs[i].dtype);
    CHECK(a.config.outputs[i].shape == b.config.outputs[i].shape);
    CHECK(a.config.outputs[i].labels == b.config.outputs[i].labels);
  }
  // Files may come back sorted by path; compare them as a set keyed by path.
  REQUIRE(a.files.size() == b.files.size());
  for (const auto& fa : a.files) {
    const FileEntry* fb = nullptr;
    for (const auto& f : b.files)
      if (f.path == fa.path) fb = &f;
    REQUIRE_MESSAGE(fb, fa.path);
    CHECK(fa.sha256 == fb->sha256);
    CHECK(fa.size == fb->size);
    CHECK(fa.url == fb->url);
    CHECK(fa.encoding == fb->encoding);
    CHECK(fa.stored_size == fb->stored_size);
    REQUIRE(fa.deltas.size() == fb->deltas.size());
    for (size_t i = 0; i < fa.deltas.size(); ++i) {
      CHECK(fa.deltas[i].from_sha256 == fb->deltas[i].from_sha256);
      CHECK(fa.deltas[i].url == fb->deltas[i].url);
      CHECK(fa.deltas[i].stored_size == fb->deltas[i].stored_size);
    }
  }
}

struct Rule {
  const char* what;
  std::function<void(Json&)> edit;
  const char* message;
};

std::string zstd_url(const Json& file) { return "blobs/sha256/" + file["sha256"].get<std::string>().substr(0, 2) + "/" + file["sha256"].get<std::string>() + ".zst"; }

}  // namespace

TEST_CASE("every valid vector survives parse, serialise, parse unchanged") {
  for (const auto& name : names_with_suffix(vectors_dir() + "/valid", ".json")) {
    CAPTURE(name);
    auto first = manifest_from_json(signed_of(name));
    REQUIRE_MESSAGE(first.ok(), first.status().message());
    Json out = manifest_to_json(first.value());
    auto second = manifest_from_json(out);
    REQUIRE_MESSAGE(second.ok(), second.status().message());
    check_same(first.value(), second.value());
    // Serialising again changes nothing: the JSON form is a fixed point after one trip.
    CHECK(manifest_to_json(second.value()) == out);
  }
}

TEST_CASE("the pretty form is stable, sorted by key, and lists files sorted by path") {
  auto m = manifest_from_json(signed_of("full")).value();
  std::string a = pretty_json(manifest_to_json(m));
  std::string b = pretty_json(manifest_to_json(m));
  CHECK(a == b);
  CHECK(a.back() == '\n');
  // Top-level keys appear in sorted order.
  std::vector<size_t> at;
  for (const char* key : {"\"channel\"", "\"config\"", "\"expires_at\"", "\"files\"", "\"model\"", "\"platform\"",
                          "\"published_at\"", "\"requires\"", "\"rollout\"", "\"schema\"", "\"version\""})
    at.push_back(a.find(std::string("\n  ") + key));
  for (size_t i = 0; i < at.size(); ++i) CHECK(at[i] != std::string::npos);
  for (size_t i = 1; i < at.size(); ++i) CHECK(at[i - 1] < at[i]);
  // The vector lists model.tflite first; the written form sorts by path.
  Json files = manifest_to_json(m)["files"];
  CHECK(files[0]["path"] == "assets/vocab/words.txt");
  CHECK(files[1]["path"] == "labels.txt");
  CHECK(files[2]["path"] == "model.tflite");
}

TEST_CASE("the valid vectors are stored exactly in the pretty form") {
  for (const auto& name : names_with_suffix(vectors_dir() + "/valid", ".json")) {
    CAPTURE(name);
    std::string text = valid_vector(name);
    CHECK(pretty_json(parse_json_strict(text, kMaxManifestBytes, name).value()) == text);
  }
}

TEST_CASE("optional members are optional and take their documented defaults") {
  Json s = signed_of("minimal");
  s["config"].erase("features");
  s["config"].erase("metadata");
  s["config"]["outputs"][0].erase("labels");
  auto m = manifest_from_json(s);
  REQUIRE_MESSAGE(m.ok(), m.status().message());
  CHECK(m->config.features.empty());
  CHECK(m->config.metadata == Json::object());
  CHECK(m->config.outputs[0].labels.empty());
  CHECK(m->requirements.min_app_version.empty());
  CHECK(m->requirements.runtime.empty());
  CHECK_FALSE(m->rollout_percent.has_value());
}

TEST_CASE("a zstd file may be stored smaller or larger than its content and may list deltas") {
  Json s = signed_of("minimal");
  Json& f = s["files"][0];
  f["encoding"] = "zstd";
  f["url"] = zstd_url(f);
  for (uint64_t stored : {uint64_t{1}, uint64_t{0}, uint64_t{1000}}) {
    f["stored_size"] = stored;
    CHECK(manifest_from_json(s).ok());
  }
  auto m = manifest_from_json(signed_of("full"));
  REQUIRE(m.ok());
  REQUIRE(m->files[0].deltas.size() == 1);
  CHECK(m->files[0].deltas[0].stored_size == 81920);
}

TEST_CASE("every validation rule rejects its violation as corrupt and names the field") {
  const Json base = signed_of("minimal");
  REQUIRE(manifest_from_json(base).ok());
  const std::string sha = base["files"][0]["sha256"];
  std::vector<Rule> rules = {
      {"signed not an object", [](Json& s) { s = Json::array(); }, "signed: must be an object"},
      {"schema missing", [](Json& s) { s.erase("schema"); }, "signed.schema: missing"},
      {"schema unknown", [](Json& s) { s["schema"] = "modelcast/manifest/2"; }, "signed.schema: unknown schema \"modelcast/manifest/2\""},
      {"schema not a string", [](Json& s) { s["schema"] = 1; }, "signed.schema: unknown schema 1"},
      {"unknown member", [](Json& s) { s["x"] = 1; }, "signed.x: unknown field"},
      {"float anywhere", [](Json& s) { s["config"]["metadata"]["deep"] = {{"list", {1, 2.5}}}; }, "signed: /config/metadata/deep/list/1: floating-point"},
      {"unsafe integer anywhere", [](Json& s) { s["config"]["metadata"]["n"] = int64_t{1} << 53; }, "signed: /config/metadata/n: integer outside"},
      {"model not a string", [](Json& s) { s["model"] = 5; }, "signed.model: must be a string"},
      {"model empty", [](Json& s) { s["model"] = ""; }, "signed.model: must not be empty"},
      {"model with slash", [](Json& s) { s["model"] = "a/b"; }, "signed.model: \"a/b\" must not contain '/'"},
      {"channel bad", [](Json& s) { s["channel"] = "-beta"; }, "signed.channel: \"-beta\" must start with a letter or digit"},
      {"platform bad", [](Json& s) { s["platform"] = "ios 17"; }, "signed.platform: \"ios 17\" may only use"},
      {"version negative", [](Json& s) { s["version"] = -3; }, "signed.version: must not be negative"},
      {"version zero", [](Json& s) { s["version"] = 0; }, "signed.version: 0 is outside 1..9007199254740991"},
      {"version string", [](Json& s) { s["version"] = "1"; }, "signed.version: must be an integer"},
      {"version bool", [](Json& s) { s["version"] = true; }, "signed.version: must be an integer"},
      {"published_at not a timestamp", [](Json& s) { s["published_at"] = "yesterday"; }, "signed.published_at: \"yesterday\" is not a UTC timestamp"},
      {"published_at number", [](Json& s) { s["published_at"] = 1795672800; }, "signed.published_at: must be a string"},
      {"expires_at before 1970", [](Json& s) { s["expires_at"] = "1969-01-01T00:00:00Z"; }, "signed.expires_at: \"1969-01-01T00:00:00Z\" is not a UTC timestamp"},
      {"expires_at not after published_at", [](Json& s) { s["expires_at"] = s["published_at"]; }, "signed.expires_at: must be later than published_at"},
      {"files not an array", [](Json& s) { s["files"] = Json::object(); }, "signed.files: must be an array"},
      {"files empty", [](Json& s) { s["files"] = Json::array(); }, "signed.files: must name at least one file"},
      {"file not an object", [](Json& s) { s["files"][0] = "model.tflite"; }, "signed.files[0]: must be an object"},
      {"file member missing", [](Json& s) { s["files"][0].erase("stored_size"); }, "signed.files[0].stored_size: missing"},
      {"file member unknown", [](Json& s) { s["files"][0]["mode"] = 1; }, "signed.files[0].mode: unknown field"},
      {"path traversal", [](Json& s) { s["files"][0]["path"] = "a/../../b"; }, "signed.files[0].path: \"a/../../b\" must not contain '..'"},
      {"path absolute", [](Json& s) { s["files"][0]["path"] = "/etc/passwd"; }, "signed.files[0].path: \"/etc/passwd\" must be relative"},
      {"path over 1024 bytes", [](Json& s) { s["files"][0]["path"] = std::string(1025, 'a'); }, "signed.files[0].path: longer than 1024 characters"},
      {"sha256 uppercase", [](Json& s) { s["files"][0]["sha256"] = std::string(64, 'A'); }, "signed.files[0].sha256: must be 64 lowercase hex digits"},
      {"sha256 65 digits", [&](Json& s) { s["files"][0]["sha256"] = sha + "0"; }, "signed.files[0].sha256: must be 64 lowercase hex digits"},
      {"size negative", [](Json& s) { s["files"][0]["size"] = -1; }, "signed.files[0].size: must not be negative"},
      {"size float", [](Json& s) { s["files"][0]["size"] = 23.0; }, "signed: /files/0/size: floating-point"},
      {"encoding unknown", [](Json& s) { s["files"][0]["encoding"] = "br"; }, "signed.files[0].encoding: \"br\" is not \"identity\" or \"zstd\""},
      {"stored_size negative", [](Json& s) { s["files"][0]["stored_size"] = -23; }, "signed.files[0].stored_size: must not be negative"},
      {"identity stored_size differs", [](Json& s) { s["files"][0]["stored_size"] = 24; }, "signed.files[0].stored_size: must equal size for identity encoding"},
      {"url of another blob", [](Json& s) { s["files"][0]["url"] = "blobs/sha256/00/" + std::string(64, '0'); }, "signed.files[0].url: must be \"blobs/sha256/"},
      {"url relative with ..", [&](Json& s) { s["files"][0]["url"] = "../blobs/sha256/" + sha.substr(0, 2) + "/" + sha; }, "signed.files[0].url: must be"},
      {"zstd url without .zst", [](Json& s) { s["files"][0]["encoding"] = "zstd"; }, "signed.files[0].url: must be \"blobs/sha256/29/"},
      {"deltas not an array", [](Json& s) { s["files"][0]["deltas"] = Json::object(); }, "signed.files[0].deltas: must be an array"},
      {"more than 16 deltas", [&](Json& s) {
         Json d = {{"from_sha256", std::string(64, 'b')}, {"url", "x"}, {"stored_size", 1}};
         s["files"][0]["deltas"] = Json::array();
         for (int i = 0; i < 17; ++i) s["files"][0]["deltas"].push_back(d);
       }, "signed.files[0].deltas: more than 16 deltas"},
      {"delta member unknown", [](Json& s) { s["files"][0]["deltas"] = {{{"from_sha256", std::string(64, 'b')}, {"url", "x"}, {"stored_size", 1}, {"size", 2}}}; }, "signed.files[0].deltas[0].size: unknown field"},
      {"delta from_sha256 bad", [](Json& s) { s["files"][0]["deltas"] = {{{"from_sha256", "b"}, {"url", "x"}, {"stored_size", 1}}}; }, "signed.files[0].deltas[0].from_sha256: must be 64 lowercase hex digits"},
      {"delta url outside layout", [](Json& s) { s["files"][0]["deltas"] = {{{"from_sha256", std::string(64, 'b')}, {"url", "x"}, {"stored_size", 1}}}; }, "signed.files[0].deltas[0].url: must be \"deltas/sha256/29/bbbb"},
      {"delta stored_size negative", [](Json& s) { s["files"][0]["deltas"] = {{{"from_sha256", std::string(64, 'b')}, {"url", "x"}, {"stored_size", -1}}}; }, "signed.files[0].deltas[0].stored_size: must not be negative"},
      {"duplicate path", [](Json& s) { s["files"].push_back(s["files"][0]); }, "signed.files[1].path: duplicate path \"model.tflite\""},
      {"duplicate path by case", [](Json& s) { s["files"].push_back(s["files"][0]); s["files"][1]["path"] = "MODEL.tflite"; }, "signed.files[1].path: duplicate path \"MODEL.tflite\""},
      {"path used as a folder", [](Json& s) { s["files"].push_back(s["files"][0]); s["files"][1]["path"] = "Model.tflite/x"; }, "signed.files[0].path: \"model.tflite\" is also used as a folder"},
      {"config not an object", [](Json& s) { s["config"] = Json::array(); }, "signed.config: must be an object"},
      {"config inputs missing", [](Json& s) { s["config"].erase("inputs"); }, "signed.config.inputs: missing"},
      {"config member unknown", [](Json& s) { s["config"]["labels"] = Json::array(); }, "signed.config.labels: unknown field"},
      {"inputs not an array", [](Json& s) { s["config"]["inputs"] = Json::object(); }, "signed.config.inputs: must be an array"},
      {"more than 1024 tensors", [](Json& s) {
         Json& in = s["config"]["inputs"];
         for (int i = 1; i <= 1024; ++i) in.push_back({{"name", "t" + std::to_string(i)}, {"dtype", "uint8"}, {"shape", Json::array()}});
       }, "signed.config.inputs: more than 1024 tensors"},
      {"tensor member missing", [](Json& s) { s["config"]["inputs"][0].erase("shape"); }, "signed.config.inputs[0].shape: missing"},
      {"tensor name empty", [](Json& s) { s["config"]["inputs"][0]["name"] = ""; }, "signed.config.inputs[0].name: must not be empty"},
      {"tensor name with control character", [](Json& s) { s["config"]["inputs"][0]["name"] = "in\nput"; }, "signed.config.inputs[0].name: must not contain control characters"},
      {"tensor name over 256 bytes", [](Json& s) { s["config"]["inputs"][0]["name"] = std::string(257, 'n'); }, "signed.config.inputs[0].name: longer than 256 characters"},
      {"dtype unknown", [](Json& s) { s["config"]["outputs"][0]["dtype"] = "fp32"; }, "signed.config.outputs[0].dtype: unknown element type \"fp32\""},
      {"shape not an array", [](Json& s) { s["config"]["inputs"][0]["shape"] = 4; }, "signed.config.inputs[0].shape: must be an array of integers"},
      {"shape rank 17", [](Json& s) { s["config"]["inputs"][0]["shape"] = std::vector<int>(17, 1); }, "signed.config.inputs[0].shape: rank above 16"},
      {"shape dimension a string", [](Json& s) { s["config"]["inputs"][0]["shape"][0] = "N"; }, "signed.config.inputs[0].shape[0]: must be an integer (-1 for dynamic)"},
      {"shape dimension -2", [](Json& s) { s["config"]["inputs"][0]["shape"][0] = -2; }, "signed.config.inputs[0].shape[0]: -2 is not -1 or a size"},
      {"shape dimension above 2^40", [](Json& s) { s["config"]["inputs"][0]["shape"][0] = (int64_t{1} << 40) + 1; }, "signed.config.inputs[0].shape[0]: 1099511627777 is not -1 or a size"},
      {"labels on an input", [](Json& s) { s["config"]["inputs"][0]["labels"] = {"a"}; }, "signed.config.inputs[0].labels: unknown field"},
      {"labels not an array", [](Json& s) { s["config"]["outputs"][0]["labels"] = "cat,dog"; }, "signed.config.outputs[0].labels: must be an array of strings"},
      {"label not a string", [](Json& s) { s["config"]["outputs"][0]["labels"][1] = 2; }, "signed.config.outputs[0].labels[1]: must be a string"},
      {"duplicate tensor names", [](Json& s) { s["config"]["outputs"].push_back(s["config"]["outputs"][0]); }, "signed.config.outputs[1].name: duplicate tensor \"scores\""},
      {"features not an array", [](Json& s) { s["config"]["features"] = "mfcc"; }, "signed.config.features: must be an array"},
      {"feature not a name", [](Json& s) { s["config"]["features"] = {"a b"}; }, "signed.config.features[0]: \"a b\" may only use"},
      {"feature not a string", [](Json& s) { s["config"]["features"] = {1}; }, "signed.config.features[0]: must be a string"},
      {"feature duplicated", [](Json& s) { s["config"]["features"] = {"vad", "vad"}; }, "signed.config.features[1]: duplicate \"vad\""},
      {"more than 256 features", [](Json& s) {
         s["config"]["features"] = Json::array();
         for (int i = 0; i < 257; ++i) s["config"]["features"].push_back("f" + std::to_string(i));
       }, "signed.config.features: more than 256 entries"},
      {"metadata not an object", [](Json& s) { s["config"]["metadata"] = "x"; }, "signed.config.metadata: must be an object"},
      {"requires not an object", [](Json& s) { s["requires"] = Json::array(); }, "signed.requires: must be an object"},
      {"requires member unknown", [](Json& s) { s["requires"]["os"] = "14"; }, "signed.requires.os: unknown field"},
      {"requires features duplicated", [](Json& s) { s["requires"]["features"] = {"nnapi", "nnapi"}; }, "signed.requires.features[1]: duplicate \"nnapi\""},
      {"min_app_version not a version", [](Json& s) { s["requires"]["min_app_version"] = "2.0-beta"; }, "signed.requires.min_app_version: \"2.0-beta\" is not a version"},
      {"min_app_version a number", [](Json& s) { s["requires"]["min_app_version"] = 2; }, "signed.requires.min_app_version: must be a string"},
      {"runtime not a name", [](Json& s) { s["requires"]["runtime"] = "tf lite"; }, "signed.requires.runtime: \"tf lite\" may only use"},
      {"rollout not an object", [](Json& s) { s["rollout"] = 50; }, "signed.rollout: must be an object"},
      {"rollout member unknown", [](Json& s) { s["rollout"] = {{"percent", 5}, {"seed", 1}}; }, "signed.rollout.seed: unknown field"},
      {"rollout percent above 100", [](Json& s) { s["rollout"] = {{"percent", 101}}; }, "signed.rollout.percent: 101 is outside 0..100"},
      {"rollout percent negative", [](Json& s) { s["rollout"] = {{"percent", -1}}; }, "signed.rollout.percent: must not be negative"},
  };
  for (const auto& rule : rules) {
    const std::string what = rule.what;
    CAPTURE(what);
    Json s = base;
    rule.edit(s);
    auto r = manifest_from_json(s);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == StatusCode::kCorruption);
    CHECK_MESSAGE(contains(r.status().message(), rule.message), r.status().message());
  }
}

TEST_CASE("the limits themselves are accepted: 100 percent, rank 16, 2^53-1 bytes, 2^40 per dimension") {
  Json s = signed_of("minimal");
  s["rollout"] = {{"percent", 100}};
  s["config"]["inputs"][0]["shape"] = std::vector<int64_t>(16, int64_t{1} << 40);
  s["files"][0]["size"] = kMaxSafeInteger;
  s["files"][0]["stored_size"] = kMaxSafeInteger;
  s["version"] = kMaxSafeInteger;
  auto m = manifest_from_json(s);
  REQUIRE_MESSAGE(m.ok(), m.status().message());
  CHECK(m->version == static_cast<uint64_t>(kMaxSafeInteger));
  CHECK(m->rollout_percent == 100);
}

TEST_CASE("more than 10000 files are rejected") {
  Json s = signed_of("minimal");
  Json f = s["files"][0];
  s["files"] = Json::array();
  for (int i = 0; i <= 10000; ++i) s["files"].push_back(f);
  auto r = manifest_from_json(s);
  REQUIRE_FALSE(r.ok());
  CHECK(contains(r.status().message(), "signed.files: more than 10000 files"));
}

TEST_CASE("a config read on its own names its source and refuses a dimension that would wrap to -1") {
  Json c = signed_of("minimal")["config"];
  auto ok = config_from_json(c, "config.json");
  REQUIRE(ok.ok());
  CHECK(ok->outputs[0].labels.size() == 3);
  c["inputs"][0]["shape"][0] = uint64_t{18446744073709551615u};
  auto r = config_from_json(c, "config.json");
  REQUIRE_FALSE(r.ok());
  CHECK(contains(r.status().message(), "config.json.inputs[0].shape[0]: 18446744073709551615 is not -1 or a size"));
  Json f = signed_of("minimal")["config"];
  f["metadata"]["threshold"] = 0.5;
  auto fl = config_from_json(f, "config.json");
  REQUIRE_FALSE(fl.ok());
  CHECK(contains(fl.status().message(), "config.json.metadata: /threshold: floating-point"));
}

TEST_CASE("config serialisation round trips and always writes features and metadata") {
  auto c = config_from_json(signed_of("full")["config"], "c").value();
  Json j = config_to_json(c);
  auto again = config_from_json(j, "c");
  REQUIRE(again.ok());
  CHECK(config_to_json(again.value()) == j);
  ModelConfig empty;
  Json e = config_to_json(empty);
  CHECK(e["features"] == Json::array());
  CHECK(e["metadata"] == Json::object());
}

TEST_CASE("the known element types are exactly the documented ones") {
  for (const char* t : {"float16", "bfloat16", "float32", "float64", "int4", "int8", "int16", "int32", "int64", "uint4",
                        "uint8", "uint16", "uint32", "uint64", "bool", "string", "complex64", "complex128"})
    CHECK_MESSAGE(is_known_dtype(t), t);
  for (const char* t : {"float", "fp32", "Float32", "float8", "int", "", "uint128"}) CHECK_MESSAGE(!is_known_dtype(t), t);
}

TEST_CASE("the envelope refuses more than 16 signatures and malformed entries") {
  auto doc = parse_json_strict(valid_vector("minimal"), kMaxManifestBytes, "t").value();
  Json many = doc;
  for (int i = 0; i < 16; ++i) many["signatures"].push_back(doc["signatures"][0]);
  auto r = parse_signed_manifest(many.dump());
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == StatusCode::kCorruption);
  CHECK(contains(r.status().message(), "signatures: more than 16 entries"));

  Json not_array = doc;
  not_array["signatures"] = doc["signatures"][0];
  CHECK(contains(parse_signed_manifest(not_array.dump()).status().message(), "signatures: must be an array"));
  Json not_object = doc;
  not_object["signatures"][0] = "sig";
  CHECK(contains(parse_signed_manifest(not_object.dump()).status().message(), "signatures[0]: must be"));
  Json short_sig = doc;
  short_sig["signatures"][0]["sig"] = "AAAA";
  CHECK(contains(parse_signed_manifest(short_sig.dump()).status().message(), "signatures[0].sig: must be the base64 of a 64-byte"));
  Json null_signed = doc;
  null_signed["signed"] = nullptr;
  CHECK(contains(parse_signed_manifest(null_signed.dump()).status().message(), "signed: must be an object"));
}

TEST_CASE("a manifest is fresh until the second before expires_at and expired from that second on") {
  auto m = parse_signed_manifest(valid_vector("minimal")).value().manifest;
  const int64_t expires = parse_timestamp(m.expires_at, "t").value();
  CHECK(check_fresh(m, kVectorsNow).ok());
  CHECK(check_fresh(m, expires - 1).ok());
  Status at = check_fresh(m, expires);
  CHECK(at.code() == StatusCode::kExpired);
  CHECK(contains(at.message(), "manifest mobilenet v1 expired at 2099-01-01T00:00:00Z"));
  CHECK(check_fresh(m, expires + 86400).code() == StatusCode::kExpired);
}
