// `modelcast refresh` and `modelcast gc` through the real binary on real trees: what they
// sign, keep, remove and commit, and the one-line refusals.
#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <ctime>
#include <set>

#include "modelcast/fs.h"
#include "modelcast/names.h"
#include "modelcast/signed_manifest.h"
#include "modelcast/signed_manifest_v2.h"
#include "modelcast/signing.h"
#include "publisher_test_util.h"

using namespace modelcast;
using namespace modelcast::test;

namespace {

SignedManifest load_manifest(const std::string& path) {
  auto sm = parse_signed_manifest(read_text(path));
  REQUIRE_MESSAGE(sm.ok(), path << ": " << sm.status().message());
  return std::move(sm).value();
}

void publish(const Fixture& f, const std::string& model, const std::string& file, int expires_in = 30) {
  RunResult r = run_cli({"publish", f.tree, "--model", model, "--platform", "android", "--config", f.config, "--key", f.key,
                         "--expires-in", std::to_string(expires_in), "--quiet", file});
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
}

bool contains(const std::vector<std::string>& v, const std::string& s) { return std::find(v.begin(), v.end(), s) != v.end(); }

bool one_error_line(const RunResult& r) { return r.err.rfind("error: ", 0) == 0 && r.err.find('\n') == r.err.size() - 1; }

}  // namespace

TEST_CASE("refresh re-signs every soon-expiring current manifest as the next version with the same content, in one commit") {
  TempDir dir;
  Fixture f = make_fixture(dir);
  write_random(dir / "a.bin", 4000, 1);
  write_random(dir / "b.bin", 4000, 2);
  publish(f, "soon", dir / "a.bin", 5);    // expires in 5 days
  publish(f, "later", dir / "b.bin", 60);  // expires in 60 days
  const SignedManifest before = load_manifest(f.tree + "/manifests/soon/stable/android.json");
  const size_t commits = count_commits(f.tree);

  RunResult r = run_cli({"refresh", f.tree, "--key", f.key, "--within", "10", "--expires-in", "45", "--json"});
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  Json out = parse_stdout_json(r);
  CHECK(out["status"] == "refreshed");
  CHECK(out["streams"] == 2);
  REQUIRE(out["refreshed"].size() == 1);
  CHECK(out["refreshed"][0]["model"] == "soon");
  CHECK(out["refreshed"][0]["previous_version"] == 1);
  CHECK(out["refreshed"][0]["version"] == 2);
  CHECK(count_commits(f.tree) == commits + 1);

  const SignedManifest after = load_manifest(f.tree + "/manifests/soon/stable/android.json");
  CHECK(after.manifest.version == 2);
  CHECK(read_text(f.tree + "/manifests/soon/stable/android/2.json") == read_text(f.tree + "/manifests/soon/stable/android.json"));
  // Same content: files (and so blob URLs), config and requirements.
  CHECK(manifest_to_json(after.manifest)["files"] == manifest_to_json(before.manifest)["files"]);
  CHECK(manifest_to_json(after.manifest)["config"] == manifest_to_json(before.manifest)["config"]);
  CHECK(manifest_to_json(after.manifest)["requires"] == manifest_to_json(before.manifest)["requires"]);
  auto expires = parse_timestamp(after.manifest.expires_at, "expires_at");
  REQUIRE(expires.ok());
  CHECK(*expires - std::time(nullptr) > 44 * 86400);
  // The untouched stream stays at version 1.
  CHECK(load_manifest(f.tree + "/manifests/later/stable/android.json").manifest.version == 1);

  CommitInfo c = read_commit(f.tree, "HEAD");
  CHECK(c.message.rfind("refresh 1 stream(s): soon 2 (stable/android)", 0) == 0);
  CHECK(contains(c.changed_paths, "manifests/soon/stable/android/2.json"));
  CHECK(contains(c.changed_paths, "manifests/soon/stable/android.json"));
  // The format 2 document of the new version says the same, with the same dates.
  CHECK(contains(c.changed_paths, "v2/manifests/soon/stable/android/2.json"));
  CHECK(contains(c.changed_paths, "v2/manifests/soon/stable/android.json"));
  auto after_v2 = parse_signed_manifest_v2(read_text(f.tree + "/v2/manifests/soon/stable/android/2.json"));
  REQUIRE(after_v2.ok());
  CHECK(after_v2->manifest.version == 2);
  CHECK(after_v2->manifest.expires_at == after.manifest.expires_at);
  CHECK(after_v2->manifest.files[0].sha256 == after.manifest.files[0].sha256);
  for (const auto& p : c.changed_paths) CHECK_MESSAGE(p.rfind("blobs/", 0) != 0, p);
  CHECK(dirty_paths(f.tree) == 0);
  RunResult v = run_cli({"verify", f.tree});
  CHECK_MESSAGE(v.exit_code == 0, v.err);

  // The diff a reviewer sees: only the version and the expiry moved.
  RunResult d = run_cli({"diff", f.tree, "--format", "markdown"});
  CHECK(d.out.find("version 1 → 2") != std::string::npos);
  CHECK(d.out.find("- files unchanged: devices download only the manifest\n") != std::string::npos);
  CHECK(d.out.find("- content unchanged: re-signed as a new version\n") != std::string::npos);
  CHECK(d.out.find("- expires: ") != std::string::npos);
}

TEST_CASE("refresh with nothing to refresh exits 0 and says so, committing nothing") {
  TempDir dir;
  Fixture f = make_fixture(dir);
  write_random(dir / "a.bin", 4000, 3);
  publish(f, "m", dir / "a.bin", 30);
  const size_t commits = count_commits(f.tree);
  RunResult r = run_cli({"refresh", f.tree, "--key", f.key, "--within", "7"});
  CHECK_MESSAGE(r.exit_code == 0, r.err);
  CHECK(r.out == "nothing to refresh: none of 1 current manifest(s) expires within 7 days\n");
  CHECK(count_commits(f.tree) == commits);
}

TEST_CASE("refresh refuses a key the tree does not trust, and bad usage, with one line") {
  TempDir dir;
  Fixture f = make_fixture(dir);
  write_random(dir / "a.bin", 4000, 4);
  publish(f, "m", dir / "a.bin", 2);
  REQUIRE(run_cli({"keygen", "--out", dir / "other.pem"}).exit_code == 0);
  const std::string head = read_commit(f.tree, "HEAD").id;
  RunResult r = run_cli({"refresh", f.tree, "--key", dir / "other.pem"});
  CHECK(r.exit_code == 1);
  CHECK(one_error_line(r));
  CHECK(r.err.find("is not trusted by") != std::string::npos);
  CHECK(read_commit(f.tree, "HEAD").id == head);
  CHECK(!path_exists(f.tree + "/manifests/m/stable/android/2.json"));

  RunResult bad = run_cli({"refresh", f.tree, "--key", f.key, "--within", "-1"});
  CHECK(bad.exit_code == 2);
  CHECK(one_error_line(bad));
  RunResult missing = run_cli({"refresh", f.tree});
  CHECK(missing.exit_code == 2);
}

TEST_CASE("gc keeps the newest versions and everything they name, removes the rest in one commit, and verify passes") {
  TempDir dir;
  Fixture f = make_fixture(dir);
  // Six versions of "m", each with its own blob, plus a shared labels file; "n" has one.
  write_text(dir / "labels.txt", std::string(20000, 'l'));
  std::vector<std::string> blob_of_version = {""};
  for (uint32_t v = 1; v <= 6; ++v) {
    write_random(dir / "m.bin", 30000, 100 + v);
    RunResult r = run_cli({"publish", f.tree, "--model", "m", "--platform", "android", "--config", f.config, "--key", f.key,
                           "--quiet", "--json", dir / "m.bin", dir / "labels.txt"});
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    const Json out = parse_stdout_json(r);
    for (const auto& file : out["files"])
      if (file["path"] == "m.bin") blob_of_version.push_back(file["url"].get<std::string>());
  }
  write_random(dir / "n.bin", 3000, 99);
  publish(f, "n", dir / "n.bin");
  const size_t commits = count_commits(f.tree);

  SUBCASE("a dry run reports and changes nothing") {
    RunResult r = run_cli({"gc", f.tree, "--keep", "2", "--grace", "0", "--dry-run", "--json"});
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    Json out = parse_stdout_json(r);
    CHECK(out["status"] == "dry-run");
    CHECK(out["manifests_removed"] == 8);  // versions 1-4, in both formats
    CHECK(out["files_removed"] == 4);
    CHECK(count_commits(f.tree) == commits);
    CHECK(path_exists(f.tree + "/manifests/m/stable/android/1.json"));
  }
  SUBCASE("versions within the grace period are kept whatever --keep says") {
    RunResult r = run_cli({"gc", f.tree, "--keep", "1", "--grace", "7", "--json"});
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    CHECK(parse_stdout_json(r)["status"] == "nothing-to-remove");
    CHECK(count_commits(f.tree) == commits);
  }
  SUBCASE("gc removes old versions and their blobs") {
    RunResult r = run_cli({"gc", f.tree, "--keep", "2", "--grace", "0", "--json"});
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    Json out = parse_stdout_json(r);
    CHECK(out["status"] == "removed");
    CHECK(out["manifests_removed"] == 8);  // versions 1-4, in both formats
    CHECK(out["files_removed"] == 4);
    CHECK(out["bytes_freed"].get<uint64_t>() >= 4 * 30000);
    CHECK(count_commits(f.tree) == commits + 1);
    for (int v = 1; v <= 4; ++v) {
      CHECK(!path_exists(f.tree + "/manifests/m/stable/android/" + std::to_string(v) + ".json"));
      CHECK(!path_exists(f.tree + "/" + blob_of_version[v]));
    }
    for (int v = 5; v <= 6; ++v) {
      CHECK(path_exists(f.tree + "/manifests/m/stable/android/" + std::to_string(v) + ".json"));
      CHECK(path_exists(f.tree + "/" + blob_of_version[v]));
    }
    // The shared labels blob is named by kept versions; n's only version is its newest.
    const SignedManifest current = load_manifest(f.tree + "/manifests/m/stable/android.json");
    for (const auto& file : current.manifest.files) CHECK(path_exists(f.tree + "/" + file.url));
    CHECK(path_exists(f.tree + "/manifests/n/stable/android/1.json"));
    CommitInfo c = read_commit(f.tree, "HEAD");
    CHECK(c.message.rfind("gc: remove 8 manifest(s), 4 blob file(s)", 0) == 0);
    for (int v = 1; v <= 4; ++v) CHECK(!path_exists(f.tree + "/v2/manifests/m/stable/android/" + std::to_string(v) + ".json"));
    CHECK(path_exists(f.tree + "/v2/manifests/m/stable/android/6.json"));
    CHECK(contains(c.changed_paths, blob_of_version[1]));
    CHECK(contains(c.changed_paths, "index.json"));
    CHECK(dirty_paths(f.tree) == 0);
    RunResult v = run_cli({"verify", f.tree, "--json"});
    CHECK_MESSAGE(v.exit_code == 0, v.err);
    CHECK(parse_stdout_json(v)["orphans"].empty());
    // A second gc finds nothing more.
    RunResult again = run_cli({"gc", f.tree, "--keep", "2", "--grace", "0"});
    CHECK(again.out.rfind("nothing to remove", 0) == 0);
  }
}

TEST_CASE("gc removes orphaned blobs a crashed publish left, and refuses bad options with one line") {
  TempDir dir;
  Fixture f = make_fixture(dir);
  write_random(dir / "m.bin", 3000, 5);
  publish(f, "m", dir / "m.bin");
  const std::string orphan = "blobs/sha256/ab/ab" + std::string(62, 'a') + ".zst";
  REQUIRE(make_dirs(f.tree + "/blobs/sha256/ab").ok());
  write_text(f.tree + "/" + orphan, "left by a crash");
  RunResult r = run_cli({"gc", f.tree, "--grace", "0", "--json"});
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  CHECK(parse_stdout_json(r)["removed"] == Json::array({orphan}));
  CHECK(!path_exists(f.tree + "/" + orphan));
  CHECK(!path_exists(f.tree + "/blobs/sha256/ab"));
  CHECK(dirty_paths(f.tree) == 0);

  RunResult bad = run_cli({"gc", f.tree, "--keep", "0"});
  CHECK(bad.exit_code == 2);
  CHECK(one_error_line(bad));
}

TEST_CASE("gc refuses files under blobs/, parts/ or deltas/ that no publisher stored, and removes nothing") {
  TempDir dir;
  Fixture f = make_fixture(dir);
  write_random(dir / "m.bin", 3000, 5);
  publish(f, "m", dir / "m.bin");
  write_random(dir / "m.bin", 3000, 6);
  publish(f, "m", dir / "m.bin");
  const std::string orphan = "blobs/sha256/ab/ab" + std::string(62, 'a');
  REQUIRE(make_dirs(f.tree + "/blobs/sha256/aa").ok());
  REQUIRE(make_dirs(f.tree + "/blobs/sha256/ab").ok());
  write_text(f.tree + "/" + orphan, "left by a crash");
  // Notes, a blob name in the wrong folder, a delta name with a stray suffix.
  const std::vector<std::string> strays = {"blobs/sha256/aa/NOTES.txt", "blobs/sha256/aa/ab" + std::string(62, 'a'),
                                           "deltas/sha256/aa/" + std::string(64, 'b') + "-aa" + std::string(62, 'c') + ".zstpatch.bak"};
  REQUIRE(make_dirs(f.tree + "/deltas/sha256/aa").ok());
  for (const auto& rel : strays) write_text(f.tree + "/" + rel, "mine");
  const std::string head = read_commit(f.tree, "HEAD").id;
  for (const char* dry : {"--dry-run", "--json"}) {
    RunResult r = run_cli({"gc", f.tree, "--keep", "1", "--grace", "0", dry});
    CHECK(r.exit_code == 1);
    CHECK(one_error_line(r));
    for (const auto& rel : strays) CHECK_MESSAGE(r.err.find(rel) != std::string::npos, r.err);
    CHECK(r.err.find(orphan) == std::string::npos);
  }
  for (const auto& rel : strays) CHECK(read_text(f.tree + "/" + rel) == "mine");
  CHECK(path_exists(f.tree + "/" + orphan));
  CHECK(path_exists(f.tree + "/manifests/m/stable/android/1.json"));
  CHECK(read_commit(f.tree, "HEAD").id == head);

  // Moved away, gc runs: the orphan and version 1 go.
  for (const auto& rel : strays) REQUIRE(::unlink((f.tree + "/" + rel).c_str()) == 0);
  RunResult r = run_cli({"gc", f.tree, "--keep", "1", "--grace", "0", "--json"});
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  CHECK(!path_exists(f.tree + "/" + orphan));
  CHECK(!path_exists(f.tree + "/manifests/m/stable/android/1.json"));
}

namespace {

SignedManifestV2 load_v2(const std::string& path) {
  auto sm = parse_signed_manifest_v2(read_text(path));
  REQUIRE_MESSAGE(sm.ok(), path << ": " << sm.status().message());
  return std::move(sm).value();
}

}  // namespace

TEST_CASE("refresh re-signs the format 2 document with the format 1 one, and gc removes old versions of both") {
  TempDir dir;
  Fixture f = make_fixture(dir);
  for (uint32_t v = 1; v <= 4; ++v) {
    write_random(dir / "m.bin", 5000, 200 + v);
    publish(f, "m", dir / "m.bin", 2);  // writes the format 2 document beside the format 1 one
    REQUIRE(path_exists(f.tree + "/v2/manifests/m/stable/android/" + std::to_string(v) + ".json"));
  }
  auto pub = PublicKey::from_pem_file(f.pub);
  REQUIRE(pub.ok());

  RunResult r = run_cli({"refresh", f.tree, "--key", f.key, "--within", "7", "--json"});
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  CHECK(parse_stdout_json(r)["refreshed"][0]["version"] == 5);
  const SignedManifestV2 v5 = load_v2(f.tree + "/v2/manifests/m/stable/android.json");
  CHECK(verify_signatures(v5, {*pub}, 1).ok());
  CHECK(v5.manifest.version == 5);
  CHECK(read_text(f.tree + "/v2/manifests/m/stable/android/5.json") == read_text(f.tree + "/v2/manifests/m/stable/android.json"));
  CHECK(manifest_v2_to_json(v5.manifest)["files"] ==
        manifest_v2_to_json(load_v2(f.tree + "/v2/manifests/m/stable/android/4.json").manifest)["files"]);
  CHECK(load_manifest(f.tree + "/manifests/m/stable/android.json").manifest.version == 5);
  CommitInfo c = read_commit(f.tree, "HEAD");
  CHECK(contains(c.changed_paths, "v2/manifests/m/stable/android/5.json"));
  CHECK(dirty_paths(f.tree) == 0);

  RunResult g = run_cli({"gc", f.tree, "--keep", "2", "--grace", "0", "--json"});
  REQUIRE_MESSAGE(g.exit_code == 0, g.err);
  Json out = parse_stdout_json(g);
  CHECK(out["manifests_removed"] == 6);  // versions 1 to 3, in both formats
  CHECK(out["files_removed"] == 3);      // the blobs of versions 1 to 3; 4 and 5 share one
  for (int v = 1; v <= 3; ++v) {
    CHECK(!path_exists(f.tree + "/v2/manifests/m/stable/android/" + std::to_string(v) + ".json"));
    CHECK(!path_exists(f.tree + "/manifests/m/stable/android/" + std::to_string(v) + ".json"));
  }
  CHECK(path_exists(f.tree + "/v2/manifests/m/stable/android/4.json"));
  for (const auto& file : v5.manifest.files) CHECK(path_exists(f.tree + "/" + file.blobs[0].url));
  RunResult v = run_cli({"verify", f.tree});
  CHECK_MESSAGE(v.exit_code == 0, v.err);
  CHECK(dirty_paths(f.tree) == 0);
}
