// make_vectors: writes the golden vectors of manifests/FORMAT.md into manifests/vectors.
//
//   make_vectors [DIR]          regenerate DIR (default: the source tree's manifests/vectors)
//   make_vectors --check [DIR]  exit 1 when the files in DIR differ from what would be written
//   --verbose                   also print each invalid vector's verdict
//
// Everything is deterministic: the TEST keys come from fixed seeds, Ed25519 signatures are
// deterministic, JSON is written by pretty_json. Each vector is judged by the library before
// it is written (valid ones must verify; invalid ones must fail with the expected code and
// message), so a committed expectation is always one the reader really reaches.
#include <dirent.h>

#include <cctype>
#include <cstdio>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "modelcast/encoding.h"
#include "modelcast/fs.h"
#include "modelcast/names.h"
#include "modelcast/sha256.h"
#include "modelcast/signed_manifest.h"
#include "modelcast/signed_manifest_v2.h"

using namespace modelcast;

namespace {

// The instant every vector is judged at (valid ones are fresh, expired ones are not).
constexpr const char* kJudgeAt = "2027-01-01T00:00:00Z";

const char* const kKeyBanner =
    "TEST KEY ONLY: published in the modelcast repository for the golden vectors in\n"
    "manifests/vectors. Anyone can sign with it. Never trust it outside tests.\n";

// PKCS#8 DER of an Ed25519 private key is a fixed 16-byte prefix plus the 32-byte seed.
std::string pem_from_seed(const std::string& label) {
  Digest seed;
  {
    Sha256 h;
    h.update(label);
    seed = h.finish();
  }
  std::string der = *hex_decode("302e020100300506032b657004220420");
  der.append(reinterpret_cast<const char*>(seed.data()), seed.size());
  std::string b64 = base64_encode(der);
  return "-----BEGIN PRIVATE KEY-----\n" + b64 + "\n-----END PRIVATE KEY-----\n";
}

PrivateKey key_from_label(const std::string& label) {
  auto key = PrivateKey::from_pem(pem_from_seed(label), label);
  if (!key.ok()) {
    std::fprintf(stderr, "error: %s\n", key.status().message().c_str());
    std::exit(1);
  }
  return key.value();
}

std::string envelope_text(const Json& signed_json, const Json& signatures) {
  return pretty_json(Json{{"signed", signed_json}, {"signatures", signatures}});
}

// Signs the canonical bytes; for a `signed` that has no canonical form (floats) the
// signature is over its compact dump, which no reader will ever get far enough to check.
Json signatures_by(const Json& signed_json, const std::vector<const PrivateKey*>& keys) {
  auto canon = canonical_json(signed_json);
  std::string message = canon.ok() ? canon.value() : signed_json.dump();
  Json sigs = Json::array();
  for (const auto* k : keys) sigs.push_back({{"keyid", k->public_key().key_id()}, {"sig", base64_encode(k->sign(message))}});
  return sigs;
}

std::string file_sha(const std::string& content) { return sha256_hex(content); }

Json identity_file(const std::string& path, const std::string& content) {
  std::string sha = file_sha(content);
  return {{"path", path},  {"sha256", sha},          {"size", content.size()},
          {"url", blob_url(sha, false)}, {"encoding", "identity"}, {"stored_size", content.size()}};
}

// The smallest manifest a publisher writes: one TFLite file, one input, one labelled output.
Json base_signed() {
  return {
      {"schema", kManifestSchema},
      {"model", "mobilenet"},
      {"channel", "stable"},
      {"platform", "android"},
      {"version", 1},
      {"published_at", "2026-11-26T06:00:00Z"},
      {"expires_at", "2099-01-01T00:00:00Z"},
      {"files", Json::array({identity_file("model.tflite", "modelcast test model v1")})},
      {"config",
       {{"inputs", Json::array({{{"name", "input"}, {"dtype", "uint8"}, {"shape", {1, 224, 224, 3}}}})},
        {"outputs",
         Json::array({{{"name", "scores"}, {"dtype", "float32"}, {"shape", {1, 3}}, {"labels", {"cat", "dog", "other"}}}})},
        {"features", Json::array()},
        {"metadata", Json::object()}}},
      {"requires", Json::object()},
  };
}

struct Expect {
  std::string code;
  std::string message;
  // What the JSON Schema alone says: "reject", "accept", or "" when the bytes are not
  // something a generic JSON parser reads the same way (skip the schema check).
  std::string schema;
  std::string why;
};

// Which reader judges a vector, and the folder it goes to ("" or "v2/").
enum class Format { kV1, kV2 };

class Writer {
 public:
  Writer(std::string dir, bool check, bool verbose) : dir_(std::move(dir)), check_(check), verbose_(verbose) {}

  void file(const std::string& rel, const std::string& bytes) {
    if (!files_.emplace(rel, bytes).second) fail(rel + ": written twice");
  }

  void valid(const std::string& name, const std::string& text, const std::vector<PublicKey>& trusted,
             Format format = Format::kV1) {
    const std::string dir = folder(format) + "valid/";
    Status s = judge(text, trusted, format);
    if (!s.ok()) fail(dir + name + ".json does not verify: " + s.message());
    auto parsed = parse_json_strict(text, kMaxManifestBytes, name);
    file(dir + name + ".json", text);
    file(dir + name + ".canonical", canonical_json(parsed->at("signed")).value());
  }

  void invalid(const std::string& name, const std::string& text, const Expect& e, const std::vector<PublicKey>& trusted,
               Format format = Format::kV1) {
    const std::string dir = folder(format) + "invalid/";
    Status s = judge(text, trusted, format);
    if (s.ok()) fail(dir + name + ".json is accepted");
    if (status_code_name(s.code()) != e.code || s.message().find(e.message) == std::string::npos)
      fail(dir + name + ".json fails with " + status_code_name(s.code()) + " \"" + s.message() + "\", expected " +
           e.code + " \"" + e.message + "\"");
    if (verbose_) std::fprintf(stderr, "%-34s %s: %s\n", name.c_str(), status_code_name(s.code()), s.message().c_str());
    Json expect = {{"code", e.code}, {"message", e.message}, {"why", e.why}};
    if (!e.schema.empty()) expect["schema"] = e.schema;
    file(dir + name + ".json", text);
    file(dir + name + ".expect", pretty_json(expect));
  }

  int finish() {
    std::set<std::string> on_disk = list_dir("valid");
    for (const char* sub : {"invalid", "v2/valid", "v2/invalid"})
      for (const auto& f : list_dir(sub)) on_disk.insert(f);
    int differences = 0;
    for (const auto& [rel, bytes] : files_) {
      std::string path = dir_ + "/" + rel;
      on_disk.erase(rel);
      if (check_) {
        auto current = read_file(path, 4 << 20);
        if (!current.ok() || current.value() != bytes) {
          std::fprintf(stderr, "stale: %s\n", path.c_str());
          ++differences;
        }
        continue;
      }
      Status s = make_dirs(parent_dir(path));
      if (s.ok()) s = write_file_atomic(path, bytes);
      if (!s.ok()) fail(s.message());
    }
    for (const auto& rel : on_disk) {
      std::string path = dir_ + "/" + rel;
      if (check_) {
        std::fprintf(stderr, "not generated: %s\n", path.c_str());
        ++differences;
      } else {
        std::remove(path.c_str());
      }
    }
    if (check_ && differences) {
      std::fprintf(stderr, "error: %d vector file(s) differ; run make_vectors to regenerate\n", differences);
      return 1;
    }
    std::fprintf(stderr, "%s %zu files in %s\n", check_ ? "checked" : "wrote", files_.size(), dir_.c_str());
    return 0;
  }

  [[noreturn]] static void fail(const std::string& message) {
    std::fprintf(stderr, "error: %s\n", message.c_str());
    std::exit(1);
  }

 private:
  static std::string folder(Format format) { return format == Format::kV2 ? "v2/" : ""; }

  // Parse, verify (threshold 1), check freshness at kJudgeAt: what a device does.
  static Status judge(const std::string& text, const std::vector<PublicKey>& trusted, Format format) {
    const int64_t now = parse_timestamp(kJudgeAt, "now").value();
    if (format == Format::kV2) {
      auto parsed = parse_signed_manifest_v2(text);
      if (!parsed.ok()) return parsed.status();
      MC_RETURN_IF_ERROR(verify_signatures(parsed.value(), trusted, 1));
      return check_fresh(parsed->manifest, now);
    }
    auto parsed = parse_signed_manifest(text);
    if (!parsed.ok()) return parsed.status();
    MC_RETURN_IF_ERROR(verify_signatures(parsed.value(), trusted, 1));
    return check_fresh(parsed->manifest, now);
  }

  std::set<std::string> list_dir(const std::string& sub) {
    std::set<std::string> out;
    DIR* d = opendir((dir_ + "/" + sub).c_str());
    if (!d) return out;
    while (dirent* e = readdir(d)) {
      std::string n = e->d_name;
      if (n != "." && n != "..") out.insert(sub + "/" + n);
    }
    closedir(d);
    return out;
  }

  std::string dir_;
  bool check_;
  bool verbose_;
  std::map<std::string, std::string> files_;
};

std::string replace_once(std::string text, const std::string& from, const std::string& to) {
  auto pos = text.find(from);
  if (pos == std::string::npos) Writer::fail("generator: \"" + from + "\" not found");
  return text.replace(pos, from.size(), to);
}

// ---- format 2 (manifests/vectors/v2) ----------------------------------------------------

Json v2_blob(const std::string& sha, const std::string& encoding, uint64_t stored_size) {
  return {{"encoding", encoding}, {"stored_size", stored_size}, {"url", blob_url_for(sha, encoding)}};
}

Json v2_part(const std::string& bytes) {
  std::string sha = sha256_hex(bytes);
  return {{"sha256", sha}, {"size", bytes.size()}, {"url", part_url(sha)}};
}

Json v2_delta(const std::string& from_content, const std::string& target_sha, const std::string& encoding,
              const std::string& delta_bytes) {
  std::string from = sha256_hex(from_content);
  return {{"from_sha256", from},
          {"encoding", encoding},
          {"stored_size", delta_bytes.size()},
          {"sha256", sha256_hex(delta_bytes)},
          {"url", delta_url(from, target_sha, encoding)}};
}

// The smallest format 2 document: base_signed() with one identity blob.
Json v2_base_signed() {
  Json s = base_signed();
  s["schema"] = kManifestSchemaV2;
  const std::string content = "modelcast test model v1";
  const std::string sha = sha256_hex(content);
  s["files"] = Json::array({{{"path", "model.tflite"},
                             {"sha256", sha},
                             {"size", content.size()},
                             {"blobs", Json::array({v2_blob(sha, "identity", content.size())})}}});
  return s;
}

// A format 2 file entry with one identity blob of `content` at `path`.
Json v2_identity_file(const std::string& path, const std::string& content) {
  const std::string sha = sha256_hex(content);
  return {{"path", path}, {"sha256", sha}, {"size", content.size()}, {"blobs", Json::array({v2_blob(sha, "identity", content.size())})}};
}

// A Core ML package published as a folder: every file under mnist.mlpackage/.
Json v2_folder_files() {
  return Json::array({v2_identity_file("mnist.mlpackage/Data/com.apple.CoreML/FeatureDescriptions.json", "{}"),
                      v2_identity_file("mnist.mlpackage/Data/com.apple.CoreML/mnist.mlmodel", "a Core ML model"),
                      v2_identity_file("mnist.mlpackage/Manifest.json", "{\"fileFormatVersion\": \"1.0.0\"}")});
}

// A 3 GB file stored as a zstd blob in three parts plus an xform blob behind a URL.
Json v2_parts_file() {
  const std::string sha = sha256_hex("modelcast test model v7 (3 GB of weights)");
  Json parts = Json::array({v2_part("part one"), v2_part("part two"), v2_part("part three")});
  parts[0]["size"] = 1000000000;
  parts[1]["size"] = 1000000000;
  parts[2]["size"] = 600000000;
  return {{"path", "model.onnx"},
          {"sha256", sha},
          {"size", 3000000000},
          {"blobs", Json::array({{{"encoding", "xform"}, {"stored_size", 2500000000}, {"url", blob_url_for(sha, "xform")}},
                                 {{"encoding", "zstd"}, {"stored_size", 2600000000}, {"parts", parts}}})}};
}

void write_format2_vectors(Writer& w, const PrivateKey* tk, const std::vector<PublicKey>& trusted) {
  auto text = [&](const Json& s) { return envelope_text(s, signatures_by(s, {tk})); };
  auto valid = [&](const std::string& name, const Json& s) { w.valid(name, text(s), trusted, Format::kV2); };
  auto bad = [&](const std::string& name, const std::function<void(Json&)>& change, const Expect& e) {
    Json s = v2_base_signed();
    change(s);
    w.invalid(name, text(s), e, trusted, Format::kV2);
  };
  // Changes the parts file of the "parts" vector.
  auto bad_parts = [&](const std::string& name, const std::function<void(Json&)>& change, const Expect& e) {
    bad(name, [&](Json& s) {
      s["files"] = Json::array({v2_parts_file()});
      change(s["files"][0]);
    }, e);
  };
  const std::string v1 = "modelcast test model v1", v5 = "modelcast test model v5", v6 = "modelcast test model v6";
  const std::string sha = sha256_hex(v1);

  // ---- valid ----
  valid("minimal", v2_base_signed());
  {
    Json s = v2_base_signed();
    s["version"] = 7;
    Json labels = s["files"][0];
    labels["path"] = "labels.txt";
    s["files"] = Json::array({labels, v2_parts_file()});
    valid("parts", s);
  }
  {
    Json s = v2_base_signed();
    s["version"] = 7;
    Json& f = s["files"][0];
    f["blobs"] = Json::array({v2_blob(sha, "xform", 20), v2_blob(sha, "zstd", 21), v2_blob(sha, "identity", v1.size())});
    f["deltas"] = Json::array({v2_delta(v6, sha, "xform", "xform delta from v6"),
                               v2_delta(v6, sha, "zstd-patch", "zstd patch from v6"),
                               v2_delta(v5, sha, "zstd-patch", "zstd patch from v5")});
    valid("deltas", s);
  }
  {
    // Entries of encodings a reader does not know are skipped whatever they hold; they
    // are still signed (and still free of floats).
    Json s = v2_base_signed();
    Json& f = s["files"][0];
    f["blobs"] = Json::array({{{"encoding", "brotli"}, {"stored_size", 19}, {"url", "blobs/elsewhere.br"}, {"quality", 11}},
                              f["blobs"][0]});
    f["deltas"] = Json::array({{{"encoding", "bsdiff"}, {"from", "anything"}}, v2_delta(v5, sha, "xform", "xform delta from v5")});
    valid("unknown-encodings", s);
  }
  {
    // A document is valid even when a file has no blob this reader can use: installing it
    // is what fails (unsupported-feature), before anything is downloaded.
    Json s = v2_base_signed();
    s["files"][0]["blobs"] = Json::array({{{"encoding", "zstd-dictionary"}, {"stored_size", 12}, {"dictionary", "dicts/1"}}});
    valid("no-known-blob", s);
  }
  {
    Json s = v2_base_signed();
    s["version"] = 12;
    s["rollout"] = {{"percent", 10}, {"fallback", {{"version", 11}, {"sha256", sha256_hex("the bytes of 11.json")}}}};
    valid("rollout-fallback", s);
    s["rollout"] = {{"percent", 0}};
    valid("rollout-halt", s);
  }
  {
    Json s = v2_base_signed();
    s["platform"] = "ios";
    s["requires"] = {{"min_os_version", "17.0"}};
    valid("min-os", s);
    s["files"] = v2_folder_files();
    valid("folder", s);
  }

  // ---- invalid ----
  bad("schema-1", [](Json& s) { s["schema"] = kManifestSchema; },
      {"corrupt", "signed.schema: unknown schema \"modelcast/manifest/1\" (this reader knows \"modelcast/manifest/2\")", "reject",
       "a format 1 document where format 2 is expected"});
  // A folder's paths pass the same rules as format 1's (shared code, pinned here too).
  bad("path-parent", [](Json& s) { s["files"][0]["path"] = "mnist.mlpackage/../../x"; },
      {"corrupt", "signed.files[0].path: \"mnist.mlpackage/../../x\" must not contain '..'", "reject", "a folder path escaping"});
  bad("path-absolute", [](Json& s) { s["files"][0]["path"] = "/mnist.mlpackage/Manifest.json"; },
      {"corrupt", "must be relative", "reject", "an absolute folder path"});
  bad("path-duplicate-case", [](Json& s) {
    s["files"] = v2_folder_files();
    s["files"].push_back(v2_identity_file("MNIST.mlpackage/manifest.json", "another"));
  }, {"corrupt", "signed.files[3].path: duplicate path \"MNIST.mlpackage/manifest.json\"", "accept",
      "paths of one folder that collide on a case-insensitive file system"});
  bad("path-file-and-folder", [](Json& s) {
    s["files"] = v2_folder_files();
    s["files"].push_back(v2_identity_file("mnist.mlpackage/Data", "a file where a folder is"));
  }, {"corrupt", "\"mnist.mlpackage/Data\" is also used as a folder", "accept", "a file that is also a folder of another"});
  bad("requires-bad-os-version", [](Json& s) { s["requires"]["min_os_version"] = "17.x"; },
      {"corrupt", "signed.requires.min_os_version: \"17.x\" is not a version", "reject", "an OS version that is not numbers"});
  bad("file-v1-members", [](Json& s) { s["files"][0]["url"] = s["files"][0]["blobs"][0]["url"]; },
      {"corrupt", "signed.files[0].url: unknown field", "reject", "a format 1 member in a format 2 file entry"});
  bad("blobs-missing", [](Json& s) { s["files"][0].erase("blobs"); }, {"corrupt", "signed.files[0].blobs: missing", "reject", "no blobs"});
  bad("blobs-empty", [](Json& s) { s["files"][0]["blobs"] = Json::array(); },
      {"corrupt", "signed.files[0].blobs: must have 1 to 4 entries", "reject", "no way to get the content"});
  bad("blobs-five", [&](Json& s) {
    for (int i = 0; i < 4; ++i) s["files"][0]["blobs"].push_back(v2_blob(sha, "identity", v1.size()));
  }, {"corrupt", "signed.files[0].blobs: must have 1 to 4 entries", "reject", "five blobs"});
  bad("blob-missing-encoding", [](Json& s) { s["files"][0]["blobs"][0].erase("encoding"); },
      {"corrupt", "signed.files[0].blobs[0].encoding: missing", "reject", "a blob that does not say its encoding cannot be skipped"});
  bad("blob-encoding-not-string", [](Json& s) { s["files"][0]["blobs"][0]["encoding"] = 1; },
      {"corrupt", "signed.files[0].blobs[0].encoding: must be a string", "reject", "encoding 1"});
  bad("blob-bad-url", [&](Json& s) { s["files"][0]["blobs"][0] = v2_blob(sha, "xform", 20); s["files"][0]["blobs"][0]["url"] = blob_url_for(sha, "zstd"); },
      {"corrupt", "signed.files[0].blobs[0].url: must be \"blobs/sha256/", "reject", "an xform blob at the .zst URL"});
  bad("blob-url-other-content", [&](Json& s) { s["files"][0]["blobs"][0]["url"] = blob_url_for(std::string(64, 'a'), "identity"); },
      {"corrupt", "signed.files[0].blobs[0].url: must be \"blobs/sha256/", "accept", "a URL naming another content than sha256"});
  bad("blob-identity-stored-size", [](Json& s) { s["files"][0]["blobs"][0]["stored_size"] = 22; },
      {"corrupt", "signed.files[0].blobs[0].stored_size: must equal size for identity encoding", "accept", "identity blob of another size"});
  bad("blob-unknown-member", [](Json& s) { s["files"][0]["blobs"][0]["mirror"] = "https://evil.example/m"; },
      {"corrupt", "signed.files[0].blobs[0].mirror: unknown field", "reject", "a known encoding with a member the format does not define"});
  bad("blob-float-in-unknown-entry", [](Json& s) { s["files"][0]["blobs"].push_back({{"encoding", "future"}, {"ratio", 0.5}}); },
      {"corrupt", "/files/0/blobs/1/ratio: floating-point", "reject", "skipped entries are signed too: no floats"});
  bad_parts("blob-url-and-parts", [](Json& f) { f["blobs"][1]["url"] = blob_url_for(f["sha256"], "zstd"); },
            {"corrupt", "signed.files[0].blobs[1]: must have exactly one of url and parts", "reject", "both a URL and parts"});
  bad_parts("blob-neither-url-nor-parts", [](Json& f) { f["blobs"][1].erase("parts"); },
            {"corrupt", "signed.files[0].blobs[1]: must have exactly one of url and parts", "reject", "no location at all"});
  bad_parts("parts-not-summing", [](Json& f) { f["blobs"][1]["stored_size"] = 2600000001; },
            {"corrupt", "signed.files[0].blobs[1].parts: part sizes sum to 2600000000, not stored_size 2600000001", "accept",
             "parts one byte short of the blob"});
  bad_parts("parts-one", [](Json& f) {
    f["blobs"][1]["parts"] = Json::array({f["blobs"][1]["parts"][0]});
    f["blobs"][1]["stored_size"] = 1000000000;
  }, {"corrupt", "signed.files[0].blobs[1].parts: 1 parts is outside 2..10000", "reject", "a single part is just a blob"});
  bad_parts("part-bad-url", [](Json& f) { f["blobs"][1]["parts"][1]["url"] = "parts/sha256/00/" + f["blobs"][1]["parts"][1]["sha256"].get<std::string>(); },
            {"corrupt", "signed.files[0].blobs[1].parts[1].url: must be \"parts/sha256/", "accept", "a part URL under the wrong shard"});
  bad_parts("part-url-absolute", [](Json& f) { f["blobs"][1]["parts"][0]["url"] = "https://evil.example/part"; },
            {"corrupt", "signed.files[0].blobs[1].parts[0].url: must be \"parts/sha256/", "reject", "a part on another host"});
  bad_parts("part-size-zero", [](Json& f) {
    f["blobs"][1]["parts"][2]["size"] = 0;
    f["blobs"][1]["stored_size"] = 2000000000;
  }, {"corrupt", "signed.files[0].blobs[1].parts[2].size: 0 is outside 1..9007199254740991", "reject", "an empty part"});
  bad("delta-bad-url", [&](Json& s) {
    Json d = v2_delta(v5, sha, "xform", "delta");
    d["url"] = delta_url(sha256_hex(v5), sha, "zstd-patch");
    s["files"][0]["deltas"] = Json::array({d});
  }, {"corrupt", "signed.files[0].deltas[0].url: must be \"deltas/sha256/", "reject", "an xform delta at the .zstpatch URL"});
  bad("delta-url-shard-by-base", [&](Json& s) {
    Json d = v2_delta(v5, sha, "zstd-patch", "delta");
    std::string from = sha256_hex(v5);
    d["url"] = "deltas/sha256/" + from.substr(0, 2) + "/" + from + "-" + sha + ".zstpatch";
    s["files"][0]["deltas"] = Json::array({d});
  }, {"corrupt", "signed.files[0].deltas[0].url: must be \"deltas/sha256/", "accept", "sharded by the base, not the target"});
  bad("delta-missing-sha256", [&](Json& s) {
    Json d = v2_delta(v5, sha, "zstd-patch", "delta");
    d.erase("sha256");
    s["files"][0]["deltas"] = Json::array({d});
  }, {"corrupt", "signed.files[0].deltas[0].sha256: missing", "reject", "a delta a device cannot check before applying"});
  bad("delta-from-itself", [&](Json& s) { s["files"][0]["deltas"] = Json::array({v2_delta(v1, sha, "zstd-patch", "delta")}); },
      {"corrupt", "signed.files[0].deltas[0].from_sha256: must differ from the file's sha256", "accept", "a delta from the content to itself"});
  bad("deltas-seventeen", [&](Json& s) {
    for (int i = 0; i < 17; ++i) s["files"][0]["deltas"].push_back(v2_delta("v" + std::to_string(i), sha, "zstd-patch", "d"));
  }, {"corrupt", "signed.files[0].deltas: more than 16 deltas", "reject", "17 deltas"});
  bad("fallback-not-below", [](Json& s) { s["rollout"] = {{"percent", 5}, {"fallback", {{"version", 1}, {"sha256", std::string(64, 'c')}}}}; },
      {"corrupt", "signed.rollout.fallback.version: 1 is not below this version 1", "accept", "a fallback that is not an earlier version"});
  bad("fallback-bad-sha256", [](Json& s) {
    s["version"] = 3;
    s["rollout"] = {{"percent", 5}, {"fallback", {{"version", 2}, {"sha256", "latest"}}}};
  }, {"corrupt", "signed.rollout.fallback.sha256: must be 64 lowercase hex digits", "reject", "a fallback not pinned by hash"});
  bad("fallback-unknown-member", [](Json& s) {
    s["version"] = 3;
    s["rollout"] = {{"percent", 5}, {"fallback", {{"version", 2}, {"sha256", std::string(64, 'c')}, {"url", "x"}}}};
  }, {"corrupt", "signed.rollout.fallback.url: unknown field", "reject", "a fallback with a free-form URL"});
}

}  // namespace

int main(int argc, char** argv) {
  bool check = false, verbose = false;
  std::string dir = MODELCAST_VECTORS_DIR;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--check") check = true;
    else if (a == "--verbose") verbose = true;
    else if (a == "--help" || a == "-h") {
      std::printf("usage: make_vectors [--check] [--verbose] [DIR]\n");
      return 0;
    } else dir = a;
  }

  const PrivateKey test_key = key_from_label("modelcast TEST key 1: never trust outside tests");
  const PrivateKey other_key = key_from_label("modelcast TEST key 2: untrusted by the vectors");
  const std::vector<PublicKey> trusted = {test_key.public_key()};
  const PrivateKey* tk = &test_key;

  Writer w(dir, check, verbose);
  w.file("test-key.pem", kKeyBanner + test_key.to_pem());
  w.file("test-key.pub", kKeyBanner + test_key.public_key().to_pem());
  w.file("test-key.keyid", test_key.public_key().key_id() + "\n");

  auto signed_text = [&](const Json& s, std::vector<const PrivateKey*> keys) {
    return envelope_text(s, signatures_by(s, keys));
  };

  // ---- valid -------------------------------------------------------------------------
  w.valid("minimal", signed_text(base_signed(), {tk}), trusted);

  {
    Json s = base_signed();
    s["model"] = "speech-commands";
    s["channel"] = "beta";
    s["platform"] = "ios-arm64";
    s["version"] = 42;
    std::string model_v42 = "modelcast test model v42 (tflite bytes)";
    std::string model_v41 = "modelcast test model v41 (tflite bytes)";
    std::string sha = file_sha(model_v42), from = file_sha(model_v41);
    Json zstd_file = {{"path", "model.tflite"},
                      {"sha256", sha},
                      {"size", 4718592},
                      {"url", blob_url(sha, true)},
                      {"encoding", "zstd"},
                      {"stored_size", 3932160},
                      {"deltas", Json::array({{{"from_sha256", from},
                                               {"url", "deltas/sha256/" + sha.substr(0, 2) + "/" + from + "-" + sha + ".zstpatch"},
                                               {"stored_size", 81920}}})}};
    s["files"] = Json::array({zstd_file, identity_file("labels.txt", "yes\nno\nup\ndown\n"),
                              identity_file("assets/vocab/words.txt", "a\nb\n")});
    s["config"] = {
        {"inputs", Json::array({{{"name", "audio"}, {"dtype", "int16"}, {"shape", {1, -1}}},
                                {{"name", "sample_rate"}, {"dtype", "int32"}, {"shape", Json::array()}}})},
        {"outputs", Json::array({{{"name", "logits"}, {"dtype", "float32"}, {"shape", {1, 4}}, {"labels", {"yes", "no", "up", "down"}}},
                                 {{"name", "embedding"}, {"dtype", "float16"}, {"shape", {1, 128}}}})},
        {"features", {"mfcc", "vad"}},
        {"metadata", {{"author", "ml-team"}, {"quantized", true}, {"mean", {127, 127, 127}}, {"notes", nullptr},
                      {"training", {{"epochs", 30}, {"dataset", "speech_commands_v2"}}}}}};
    s["requires"] = {{"features", {"mfcc", "vad"}}, {"min_app_version", "2.10.1"}, {"runtime", "tflite"}};
    s["rollout"] = {{"percent", 25}};
    w.valid("full", signed_text(s, {tk}), trusted);
  }
  {
    // RFC 8785 corner cases: U+1F600 (UTF-16 D83D DE00) sorts before U+E000, though its
    // code point is larger; escapes are the minimal JSON ones; U+007F and U+2028 stay raw.
    Json s = base_signed();
    s["config"]["metadata"] = {{"\xF0\x9F\x98\x80", "emoji key"},
                               {"\xEE\x80\x80", "private-use key"},
                               {"\xC3\xA9", "e-acute"},
                               {"Z", "upper"},
                               {"a", "lower"},
                               {"10", "ten"},
                               {"9", "nine"},
                               {"", "empty key"},
                               {"escapes", "quote\" backslash\\ slash/ nl\n cr\r tab\t bs\b ff\f nul\x01 \x1f del\x7f ls\xE2\x80\xA8 <b>"},
                               {"integers", {0, -1, 9007199254740991, -9007199254740991}}};
    s["config"]["outputs"][0]["labels"] = {"chat \xF0\x9F\x90\x88", "chien", "\xE2\x80\x94"};
    w.valid("unicode", signed_text(s, {tk}), trusted);
  }
  {
    Json s = base_signed();
    s["version"] = kMaxSafeInteger;
    s["platform"] = "linux-x86_64";
    Json f = identity_file("weights/part-0001.bin", "x");
    f["size"] = kMaxSafeInteger;
    f["stored_size"] = kMaxSafeInteger;
    s["files"] = Json::array({f});
    s["config"] = {{"inputs", Json::array({{{"name", "x"}, {"dtype", "bool"}, {"shape", {-1, int64_t{1} << 40}}}})},
                   {"outputs", Json::array()}};
    s["requires"] = {{"runtime", "onnx"}};
    s["rollout"] = {{"percent", 0}};
    w.valid("limits", signed_text(s, {tk}), trusted);
  }
  {
    Json s = base_signed();
    s["version"] = 2;
    w.valid("two-signatures", signed_text(s, {tk, &other_key}), trusted);
    // The untrusted signature comes first: a reader must look past it.
    w.valid("untrusted-signature-first", signed_text(s, {&other_key, tk}), trusted);
  }

  // ---- invalid: signatures -----------------------------------------------------------
  const Json base = base_signed();
  const std::string base_text = signed_text(base, {tk});
  {
    Json sigs = signatures_by(base, {tk});
    std::string raw = *base64_decode(sigs[0]["sig"].get<std::string>());
    raw[10] = static_cast<char>(raw[10] ^ 0x01);
    sigs[0]["sig"] = base64_encode(raw);
    w.invalid("bad-signature", envelope_text(base, sigs),
              {"signature", "signature does not match", "accept", "one bit of the signature flipped"}, trusted);
  }
  {
    Json sigs = signatures_by(base, {tk});
    Json changed = base;
    changed["version"] = 2;
    w.invalid("tampered-version", envelope_text(changed, sigs),
              {"signature", "signature does not match", "accept", "version raised after signing"}, trusted);
    changed = base;
    changed["config"]["outputs"][0]["labels"][1] = "wolf";
    w.invalid("tampered-label", envelope_text(changed, sigs),
              {"signature", "signature does not match", "accept", "a label changed after signing"}, trusted);
  }
  w.invalid("untrusted-key", signed_text(base, {&other_key}),
            {"signature", "no signature by a trusted key", "accept", "signed only by a key the device does not pin"}, trusted);
  {
    // The trusted key id, but the signature was made by another key.
    Json sigs = signatures_by(base, {&other_key});
    sigs[0]["keyid"] = test_key.public_key().key_id();
    w.invalid("keyid-mismatch", envelope_text(base, sigs),
              {"signature", "signature does not match", "accept", "trusted key id on a signature by another key"}, trusted);
  }
  w.invalid("unsigned-no-signatures", pretty_json(Json{{"signed", base}}),
            {"signature", "signatures: missing", "reject", "no signatures member"}, trusted);
  w.invalid("unsigned-empty-signatures", envelope_text(base, Json::array()),
            {"signature", "signatures: empty", "reject", "signatures is []"}, trusted);
  {
    Json sigs = signatures_by(base, {tk});
    sigs[0]["sig"] = sigs[0]["sig"].get<std::string>().substr(0, 86);
    w.invalid("signature-not-base64", envelope_text(base, sigs),
              {"corrupt", "signatures[0].sig: must be the base64", "reject", "padding removed"}, trusted);
    sigs = signatures_by(base, {tk});
    sigs[0]["keyid"] = test_key.public_key().key_id().substr(0, 63) + "G";
    w.invalid("keyid-not-hex", envelope_text(base, sigs),
              {"corrupt", "signatures[0].keyid: must be 64 lowercase hex", "reject", "key id with an uppercase non-hex digit"}, trusted);
    sigs = signatures_by(base, {tk});
    sigs[0]["scheme"] = "ed25519";
    w.invalid("signature-extra-field", envelope_text(base, sigs),
              {"corrupt", "signatures[0]: must be", "reject", "signature entry with a third member"}, trusted);
  }

  // ---- invalid: envelope and document ------------------------------------------------
  w.invalid("unknown-envelope-field", pretty_json(Json{{"signed", base}, {"signatures", signatures_by(base, {tk})}, {"note", "x"}}),
            {"corrupt", "note: unknown field in the envelope", "reject", "envelope member other than signed and signatures"}, trusted);
  w.invalid("missing-signed", pretty_json(Json{{"signatures", signatures_by(base, {tk})}}),
            {"corrupt", "signed: missing", "reject", "no signed member"}, trusted);
  w.invalid("envelope-not-object", "[]\n", {"corrupt", "manifest: must be a JSON object", "reject", "top level is an array"}, trusted);
  w.invalid("duplicate-key", replace_once(base_text, "\"version\": 1\n", "\"version\": 1,\n    \"version\": 7\n"),
            {"corrupt", "duplicate key \"version\"", "", "version given twice (readers disagree which one wins)"}, trusted);
  w.invalid("duplicate-key-nested", replace_once(base_text, "\"encoding\": \"identity\",", "\"encoding\": \"identity\",\n        \"encoding\": \"zstd\","),
            {"corrupt", "duplicate key \"encoding\"", "", "a file entry names its encoding twice"}, trusted);
  {
    std::string big = base_text;
    big.insert(big.size() - 2, std::string(kMaxManifestBytes - big.size() + 1, ' '));
    w.invalid("oversized", big, {"corrupt", "exceeds the limit of 1048576", "accept", "1 MiB + 1 byte (whitespace padding)"}, trusted);
  }
  {
    Json s = base;
    Json deep = "bottom";
    for (int i = 0; i < 70; ++i) deep = Json::array({deep});
    s["config"]["metadata"] = {{"deep", deep}};
    w.invalid("deep-nesting", signed_text(s, {tk}), {"corrupt", "nesting deeper than 64", "accept", "70 nested arrays in metadata"}, trusted);
  }
  w.invalid("invalid-utf8", replace_once(base_text, "\"dog\"", "\"d\xFFg\""),
            {"corrupt", "ill-formed UTF-8", "", "a label holding the byte 0xFF"}, trusted);
  w.invalid("lone-surrogate", replace_once(base_text, "\"dog\"", "\"d\\ud800g\""),
            {"corrupt", "invalid JSON", "", "a label holding an unpaired UTF-16 surrogate escape"}, trusted);
  w.invalid("trailing-garbage", base_text + "{}\n", {"corrupt", "invalid JSON", "", "a second JSON value after the envelope"}, trusted);

  // ---- invalid: signed fields --------------------------------------------------------
  // Each is correctly signed by the trusted key, so only the named rule can reject it.
  auto bad = [&](const std::string& name, const std::function<void(Json&)>& edit, Expect e) {
    Json s = base;
    edit(s);
    w.invalid(name, signed_text(s, {tk}), e, trusted);
  };
  auto bad_file = [&](const std::string& name, const std::function<void(Json&)>& edit, Expect e) {
    bad(name, [&](Json& s) { edit(s["files"][0]); }, std::move(e));
  };
  auto set_text = [&](const std::string& name, const std::string& from, const std::string& to, Expect e) {
    w.invalid(name, replace_once(base_text, from, to), e, trusted);
  };

  bad("unknown-schema", [](Json& s) { s["schema"] = "modelcast/manifest/2"; },
      {"corrupt", "signed.schema: unknown schema \"modelcast/manifest/2\"", "reject", "a future schema this reader does not know"});
  for (const char* field : {"schema", "model", "channel", "platform", "version", "published_at", "expires_at", "files", "config", "requires"}) {
    bad(std::string("missing-") + field, [&](Json& s) { s.erase(field); },
        {"corrupt", std::string("signed.") + field + ": missing", "reject", std::string("no ") + field});
  }
  bad("unknown-field", [](Json& s) { s["priority"] = 1; }, {"corrupt", "signed.priority: unknown field", "reject", "a member the format does not define"});
  bad_file("unknown-file-field", [](Json& f) { f["mode"] = 493; },
           {"corrupt", "signed.files[0].mode: unknown field", "reject", "a file entry with an executable mode"});
  set_text("float-version", "\"version\": 1\n", "\"version\": 1.0\n",
           {"corrupt", "signed: /version: floating-point numbers are not allowed", "accept", "1.0 is an integer to JSON Schema but not to modelcast"});
  bad("float-version-fraction", [](Json& s) { s["version"] = 1.5; },
      {"corrupt", "signed: /version: floating-point numbers are not allowed", "reject", "version 1.5"});
  bad("float-in-shape", [](Json& s) { s["config"]["inputs"][0]["shape"][1] = 224.5; },
      {"corrupt", "/config/inputs/0/shape/1: floating-point", "reject", "a tensor dimension 224.5"});
  bad("float-in-metadata", [](Json& s) { s["config"]["metadata"]["threshold"] = 0.5; },
      {"corrupt", "/config/metadata/threshold: floating-point", "reject", "a score threshold written as 0.5"});
  set_text("float-exponent", "\"version\": 1\n", "\"version\": 1e2\n",
           {"corrupt", "/version: floating-point", "accept", "100 written with an exponent"});
  bad("string-version", [](Json& s) { s["version"] = "2"; }, {"corrupt", "signed.version: must be an integer", "reject", "version as a string"});
  bad("version-zero", [](Json& s) { s["version"] = 0; }, {"corrupt", "signed.version: 0 is outside 1..9007199254740991", "reject", "versions start at 1"});
  bad("version-unsafe-integer", [](Json& s) { s["version"] = kMaxSafeInteger + 1; },
      {"corrupt", "signed: /version: integer outside", "reject", "2^53 cannot be read exactly by every JSON reader"});
  bad("model-traversal", [](Json& s) { s["model"] = "../evil"; }, {"corrupt", "signed.model: \"../evil\" must not contain '/'", "reject", "a model name that climbs out of the tree"});
  bad("channel-bad-start", [](Json& s) { s["channel"] = ".hidden"; }, {"corrupt", "signed.channel: \".hidden\" must start with a letter or digit", "reject", "a dot-file channel"});
  bad("platform-too-long", [](Json& s) { s["platform"] = std::string(65, 'a'); }, {"corrupt", "signed.platform: longer than 64", "reject", "65-character platform"});
  bad("timestamp-not-leap-year", [](Json& s) { s["published_at"] = "2026-02-29T00:00:00Z"; },
      {"corrupt", "signed.published_at: \"2026-02-29T00:00:00Z\" is not a UTC timestamp", "accept", "2026 is not a leap year"});
  bad("timestamp-with-offset", [](Json& s) { s["expires_at"] = "2099-01-01T00:00:00+00:00"; },
      {"corrupt", "signed.expires_at: \"2099-01-01T00:00:00+00:00\" is not a UTC timestamp", "reject", "an offset instead of Z"});
  bad("timestamp-fraction", [](Json& s) { s["published_at"] = "2026-11-26T06:00:00.5Z"; },
      {"corrupt", "signed.published_at", "reject", "fractional seconds"});
  bad("expires-before-published", [](Json& s) { s["expires_at"] = "2026-11-26T06:00:00Z"; },
      {"corrupt", "signed.expires_at: must be later than published_at", "accept", "expires_at equal to published_at"});
  bad("expired", [](Json& s) { s["published_at"] = "2000-01-01T00:00:00Z"; s["expires_at"] = "2000-02-01T00:00:00Z"; },
      {"expired", "expired at 2000-02-01T00:00:00Z", "accept", "a manifest an attacker replays after it ran out (freeze attack)"});

  bad("files-empty", [](Json& s) { s["files"] = Json::array(); }, {"corrupt", "signed.files: must name at least one file", "reject", "no files"});
  bad_file("path-parent", [](Json& f) { f["path"] = "../x"; }, {"corrupt", "signed.files[0].path: \"../x\" must not contain '..'", "reject", "../x"});
  bad_file("path-absolute", [](Json& f) { f["path"] = "/etc/passwd"; },
           {"corrupt", "signed.files[0].path: \"/etc/passwd\" must be relative", "reject", "/etc/passwd"});
  bad_file("path-inner-parent", [](Json& f) { f["path"] = "a/../../b"; },
           {"corrupt", "signed.files[0].path: \"a/../../b\" must not contain '..'", "reject", "a/../../b"});
  bad_file("path-dot-segment", [](Json& f) { f["path"] = "./model.tflite"; },
           {"corrupt", "signed.files[0].path: \"./model.tflite\" has an empty or '.' segment", "reject", "./model.tflite"});
  bad_file("path-empty-segment", [](Json& f) { f["path"] = "a//b"; }, {"corrupt", "has an empty or '.' segment", "reject", "a//b"});
  bad_file("path-backslash", [](Json& f) { f["path"] = "..\\windows\\x"; },
           {"corrupt", "signed.files[0].path: \"..\\windows\\x\" may only use", "reject", "a Windows-style traversal"});
  bad_file("path-nul", [](Json& f) { f["path"] = std::string("model.tflite\0.txt", 17); },
           {"corrupt", "signed.files[0].path: must not contain control characters", "reject", "an embedded NUL"});
  bad_file("path-too-deep", [](Json& f) { f["path"] = "a/b/c/d/e/f/g/h/i"; }, {"corrupt", "deeper than 8 folders", "reject", "nine segments"});
  bad_file("path-too-long", [](Json& f) { f["path"] = std::string(200, 'a') + "/" + std::string(60, 'b'); },
           {"corrupt", "longer than 255 characters", "reject", "261 characters"});
  bad("path-duplicate", [](Json& s) { s["files"].push_back(identity_file("model.tflite", "another")); },
      {"corrupt", "signed.files[1].path: duplicate path \"model.tflite\"", "accept", "two entries for model.tflite"});
  bad("path-duplicate-case", [](Json& s) { s["files"].push_back(identity_file("Model.TFLite", "another")); },
      {"corrupt", "signed.files[1].path: duplicate path \"Model.TFLite\"", "accept", "paths that collide on a case-insensitive file system"});
  bad("path-file-and-folder", [](Json& s) { s["files"].push_back(identity_file("model.tflite/extra", "another")); },
      {"corrupt", "signed.files[0].path: \"model.tflite\" is also used as a folder", "accept", "a path that is also a folder of another"});
  bad_file("sha256-not-hex", [](Json& f) { f["sha256"] = std::string(63, 'a') + "g"; },
           {"corrupt", "signed.files[0].sha256: must be 64 lowercase hex digits", "reject", "a 'g' in the digest"});
  bad_file("sha256-uppercase", [](Json& f) {
    std::string s = f["sha256"];
    for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    f["sha256"] = s;
  }, {"corrupt", "signed.files[0].sha256: must be 64 lowercase hex digits", "reject", "uppercase hex"});
  bad_file("sha256-short", [](Json& f) { f["sha256"] = f["sha256"].get<std::string>().substr(0, 40); },
           {"corrupt", "signed.files[0].sha256: must be 64 lowercase hex digits", "reject", "a SHA-1-length digest"});
  bad_file("url-other-blob", [](Json& f) { f["url"] = blob_url(std::string(64, 'a'), false); },
           {"corrupt", "signed.files[0].url: must be \"blobs/sha256/", "accept", "a URL naming another blob than sha256"});
  bad_file("url-absolute", [](Json& f) { f["url"] = "https://evil.example/model.tflite"; },
           {"corrupt", "signed.files[0].url: must be \"blobs/sha256/", "reject", "an absolute URL to another host"});
  bad_file("url-zstd-suffix-on-identity", [](Json& f) { f["url"] = f["url"].get<std::string>() + ".zst"; },
           {"corrupt", "signed.files[0].url: must be", "reject", ".zst on an identity file"});
  bad_file("encoding-unknown", [](Json& f) { f["encoding"] = "gzip"; },
           {"corrupt", "signed.files[0].encoding: \"gzip\" is not \"identity\" or \"zstd\"", "reject", "gzip"});
  bad_file("size-negative", [](Json& f) { f["size"] = -1; }, {"corrupt", "signed.files[0].size: must not be negative", "reject", "-1"});
  bad_file("size-huge", [](Json& f) { f["size"] = kMaxSafeInteger + 1; f["stored_size"] = kMaxSafeInteger + 1; },
           {"corrupt", "/files/0/size: integer outside", "reject", "2^53"});
  set_text("size-beyond-uint64", "\"size\": 23,", "\"size\": 18446744073709551616,",
           {"corrupt", "/files/0/size: floating-point", "reject", "2^64 (a JSON parser reads it as a double)"});
  bad_file("size-string", [](Json& f) { f["size"] = "23"; }, {"corrupt", "signed.files[0].size: must be an integer", "reject", "a string size"});
  bad_file("identity-stored-size-mismatch", [](Json& f) { f["stored_size"] = 22; },
           {"corrupt", "signed.files[0].stored_size: must equal size for identity encoding", "accept", "identity file whose stored size differs"});
  bad_file("delta-bad-url", [](Json& f) {
    std::string sha = f["sha256"];
    f["encoding"] = "zstd";
    f["url"] = blob_url(sha, true);
    f["deltas"] = Json::array({{{"from_sha256", std::string(64, 'b')}, {"url", "deltas/x.zstpatch"}, {"stored_size", 10}}});
  }, {"corrupt", "signed.files[0].deltas[0].url: must be \"deltas/sha256/", "reject", "a delta URL outside the layout"});

  bad("config-unknown-dtype", [](Json& s) { s["config"]["inputs"][0]["dtype"] = "float8"; },
      {"corrupt", "signed.config.inputs[0].dtype: unknown element type \"float8\"", "reject", "float8"});
  bad("config-duplicate-tensor", [](Json& s) { s["config"]["outputs"].push_back(s["config"]["outputs"][0]); },
      {"corrupt", "signed.config.outputs[1].name: duplicate tensor \"scores\"", "accept", "two outputs named scores"});
  bad("config-labels-on-input", [](Json& s) { s["config"]["inputs"][0]["labels"] = {"x"}; },
      {"corrupt", "signed.config.inputs[0].labels: unknown field", "reject", "labels belong to outputs"});
  bad("config-shape-below-minus-one", [](Json& s) { s["config"]["inputs"][0]["shape"][0] = -2; },
      {"corrupt", "signed.config.inputs[0].shape[0]: -2 is not -1 or a size", "reject", "-2"});
  bad("config-rank-17", [](Json& s) { s["config"]["inputs"][0]["shape"] = std::vector<int>(17, 1); },
      {"corrupt", "signed.config.inputs[0].shape: rank above 16", "reject", "17 dimensions"});
  bad("config-feature-duplicate", [](Json& s) { s["config"]["features"] = {"mfcc", "mfcc"}; },
      {"corrupt", "signed.config.features[1]: duplicate \"mfcc\"", "reject", "a feature listed twice"});
  bad("config-metadata-not-object", [](Json& s) { s["config"]["metadata"] = Json::array(); },
      {"corrupt", "signed.config.metadata: must be an object", "reject", "metadata as an array"});
  bad("config-missing-outputs", [](Json& s) { s["config"].erase("outputs"); }, {"corrupt", "signed.config.outputs: missing", "reject", "no outputs"});
  bad("requires-bad-app-version", [](Json& s) { s["requires"]["min_app_version"] = "2.x"; },
      {"corrupt", "signed.requires.min_app_version: \"2.x\" is not a version", "reject", "2.x"});
  bad("requires-unknown-field", [](Json& s) { s["requires"]["max_app_version"] = "3"; },
      {"corrupt", "signed.requires.max_app_version: unknown field", "reject", "a requirement the format does not define"});
  bad("requires-min-os", [](Json& s) { s["requires"]["min_os_version"] = "17.0"; },
      {"corrupt", "signed.requires.min_os_version: unknown field", "reject",
       "a minimum OS is format 2 only; its format 1 document requires modelcast-format-2 instead"});
  bad("rollout-over-100", [](Json& s) { s["rollout"] = {{"percent", 101}}; },
      {"corrupt", "signed.rollout.percent: 101 is outside 0..100", "reject", "101 percent"});
  bad("rollout-missing-percent", [](Json& s) { s["rollout"] = Json::object(); },
      {"corrupt", "signed.rollout.percent: missing", "reject", "rollout without percent"});

  write_format2_vectors(w, tk, trusted);
  return w.finish();
}
