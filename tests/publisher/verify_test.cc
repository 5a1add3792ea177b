// `modelcast verify` on a good tree and on trees damaged the ways a bad disk, a bad
// transfer or a bad actor would damage them.
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "modelcast/fs.h"
#include "modelcast/signed_manifest.h"
#include "modelcast/signed_manifest_v2.h"
#include "modelcast/signing.h"
#include "publisher_test_util.h"

using namespace modelcast;
using namespace modelcast::test;

namespace {

// A tree with two versions of one model: a random (identity) blob and a zstd blob.
struct Published {
  TempDir dir;
  Fixture f;
  Manifest current;
  Published() : f(make_fixture(dir)) {
    write_random(dir / "model.bin", 100000, 21);
    write_text(dir / "labels.txt", std::string(30000, 'x'));
    for (int v = 0; v < 2; ++v) {
      if (v == 1) write_random(dir / "model.bin", 100000, 22);
      RunResult r = run_cli({"publish", f.tree, "--model", "clf", "--platform", "ios", "--config", f.config, "--key", f.key,
                             dir / "model.bin", dir / "labels.txt"});
      REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    }
    auto sm = parse_signed_manifest(read_text(f.tree + "/manifests/clf/stable/ios.json"));
    REQUIRE(sm.ok());
    current = sm->manifest;
  }
  const FileEntry& file(const std::string& encoding) const {
    for (const auto& e : current.files)
      if (e.encoding == encoding) return e;
    FAIL("no file with encoding " << encoding);
    return current.files[0];
  }
};

void flip_byte(const std::string& path, long offset) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  REQUIRE(f.good());
  f.seekg(offset);
  char c = 0;
  f.get(c);
  f.seekp(offset);
  f.put(static_cast<char>(c ^ 0x20));
}

void make_writable(const std::string& path) { REQUIRE(::chmod(path.c_str(), 0644) == 0); }

bool has_line(const std::string& err, const std::string& start, const std::string& part) {
  size_t pos = 0;
  while (pos < err.size()) {
    size_t end = err.find('\n', pos);
    std::string line = err.substr(pos, end - pos);
    if (line.rfind(start, 0) == 0 && line.find(part) != std::string::npos) return true;
    if (end == std::string::npos) break;
    pos = end + 1;
  }
  return false;
}

}  // namespace

TEST_CASE("verify passes a freshly published tree, with its keys or a pinned key") {
  Published p;
  RunResult r = run_cli({"verify", p.f.tree, "--json"});
  CHECK_MESSAGE(r.exit_code == 0, r.err);
  Json out = parse_stdout_json(r);
  CHECK(out["ok"] == true);
  CHECK(out["manifests"] == 5);  // current + 1.json + 2.json, and v2/ 1.json + 2.json
  CHECK(out["blobs"] == 3);      // two model versions, one shared labels blob
  CHECK(out["problems"].empty());
  CHECK(run_cli({"verify", p.f.tree, "--pubkey", p.f.pub}).exit_code == 0);
  // A fresh tree with nothing published is fine too.
  TempDir empty;
  REQUIRE(run_cli({"init", empty / "t"}).exit_code == 0);
  CHECK(run_cli({"verify", empty / "t"}).exit_code == 0);
}

TEST_CASE("verify catches a flipped byte in a blob") {
  Published p;
  SUBCASE("identity blob") {
    const FileEntry& e = p.file("identity");
    make_writable(p.f.tree + "/" + e.url);
    flip_byte(p.f.tree + "/" + e.url, 5000);
    RunResult r = run_cli({"verify", p.f.tree});
    CHECK(r.exit_code == 1);
    CHECK(has_line(r.err, "error: " + e.url, "SHA-256"));
  }
  SUBCASE("zstd blob") {
    const FileEntry& e = p.file("zstd");
    make_writable(p.f.tree + "/" + e.url);
    flip_byte(p.f.tree + "/" + e.url, static_cast<long>(e.stored_size) / 2);
    RunResult r = run_cli({"verify", p.f.tree});
    CHECK(r.exit_code == 1);
    CHECK(has_line(r.err, "error: " + e.url, ""));
  }
}

TEST_CASE("verify catches a deleted blob and reports orphans without failing") {
  Published p;
  const FileEntry& e = p.file("identity");
  REQUIRE(::unlink((p.f.tree + "/" + e.url).c_str()) == 0);
  RunResult r = run_cli({"verify", p.f.tree, "--json"});
  CHECK(r.exit_code == 1);
  CHECK(has_line(r.err, "error: " + e.url, "missing"));
  CHECK(parse_stdout_json(r)["problems"].size() == 1);

  Published q;
  std::string orphan = "blobs/sha256/ab/" + std::string(64, 'a');
  REQUIRE(make_dirs(q.f.tree + "/blobs/sha256/ab").ok());
  write_text(q.f.tree + "/" + orphan, "left by a crash");
  RunResult o = run_cli({"verify", q.f.tree, "--json"});
  CHECK(o.exit_code == 0);
  CHECK(parse_stdout_json(o)["orphans"] == Json::array({orphan}));
  CHECK(has_line(o.err, "warning: orphaned blob " + orphan, ""));
}

TEST_CASE("verify catches a hand-edited manifest and a key it does not trust") {
  Published p;
  std::string path = p.f.tree + "/manifests/clf/stable/ios.json";
  std::string text = read_text(path);
  size_t pos = text.find("\"negative\"");
  REQUIRE(pos != std::string::npos);
  text.replace(pos, 10, "\"positivo\"");
  write_text(path, text);
  RunResult r = run_cli({"verify", p.f.tree});
  CHECK(r.exit_code == 1);
  CHECK(has_line(r.err, "error: manifests/clf/stable/ios.json", "signature"));

  Published q;
  TempDir other;
  REQUIRE(run_cli({"keygen", "--out", other / "k.pem"}).exit_code == 0);
  RunResult pinned = run_cli({"verify", q.f.tree, "--pubkey", other / "k.pem.pub"});
  CHECK(pinned.exit_code == 1);
  CHECK(has_line(pinned.err, "error: manifests/clf/stable/ios/1.json", "no signature by a trusted key"));
}

TEST_CASE("verify --json reports a manifest of invalid UTF-8 as a problem instead of aborting") {
  Published p;
  write_text(p.f.tree + "/manifests/clf/stable/ios.json", std::string("{\"signed\":{\"model\":\"\xff\x00\"},\"signatures\":[]}"));
  RunResult r = run_cli({"verify", p.f.tree, "--json"});
  CHECK(r.exit_code == 1);
  Json out = parse_stdout_json(r);
  CHECK(out["ok"] == false);
  REQUIRE(out["problems"].size() >= 1);
  CHECK(out["problems"][0].get<std::string>().find("manifests/clf/stable/ios.json") != std::string::npos);
}

TEST_CASE("verify catches a version going down and a versioned file that lies") {
  Published p;
  std::string dir = p.f.tree + "/manifests/clf/stable/ios";
  SUBCASE("current replaced by an older version") {
    write_text(p.f.tree + "/manifests/clf/stable/ios.json", read_text(dir + "/1.json"));
    RunResult r = run_cli({"verify", p.f.tree});
    CHECK(r.exit_code == 1);
    CHECK(has_line(r.err, "error: manifests/clf/stable/ios.json", "version went down"));
  }
  SUBCASE("a versioned file holding another version") {
    write_text(dir + "/2.json", read_text(dir + "/1.json"));
    RunResult r = run_cli({"verify", p.f.tree});
    CHECK(r.exit_code == 1);
    CHECK(has_line(r.err, "error: manifests/clf/stable/ios/2.json", "stored as version 2"));
  }
  SUBCASE("the newest versioned file removed") {
    REQUIRE(::unlink((dir + "/2.json").c_str()) == 0);
    RunResult r = run_cli({"verify", p.f.tree});
    CHECK(r.exit_code == 1);
    CHECK(has_line(r.err, "error: manifests/clf/stable/ios.json", "no versioned copy"));
  }
}

TEST_CASE("verify catches a version going down in git history even when the tree looks consistent") {
  Published p;
  std::string dir = p.f.tree + "/manifests/clf/stable/ios";
  // A rollback by hand: the old manifest back as current, the newer versioned file gone,
  // committed. On disk everything agrees; only history shows version 2 -> 1.
  write_text(p.f.tree + "/manifests/clf/stable/ios.json", read_text(dir + "/1.json"));
  REQUIRE(::unlink((dir + "/2.json").c_str()) == 0);
  std::string git = "git -C '" + p.f.tree + "' -c user.name=t -c user.email=t@example.com ";
  REQUIRE(std::system((git + "add -A >/dev/null").c_str()) == 0);
  REQUIRE(std::system((git + "commit -q -m rollback").c_str()) == 0);
  std::string rollback = read_commit(p.f.tree, "HEAD").id;
  RunResult r = run_cli({"verify", p.f.tree});
  CHECK(r.exit_code == 1);
  CHECK(has_line(r.err, "error: manifests/clf/stable/ios.json", "version went down in commit " + rollback.substr(0, 12)));
  CHECK(has_line(r.err, "error: manifests/clf/stable/ios.json", "2 -> 1"));
}

TEST_CASE("verify catches a version whose format 1 and format 2 documents describe different releases") {
  Published p;
  const std::string dir1 = p.f.tree + "/manifests/clf/stable/ios", dir2 = p.f.tree + "/v2/manifests/clf/stable/ios";
  PrivateKey key = PrivateKey::from_pem_file(p.f.key).value();
  const std::string git = "git -C '" + p.f.tree + "' -c user.name=t -c user.email=t@example.com ";
  // Version N by hand, as someone holding the key would write it: format 2 from version 2,
  // format 1 from version 2 with the files of `files_from`; both current, committed.
  auto forge = [&](uint64_t version, uint64_t files_from) {
    ManifestV2 m2 = parse_signed_manifest_v2(read_text(dir2 + "/2.json")).value().manifest;
    Manifest m1 = parse_signed_manifest(read_text(dir1 + "/2.json")).value().manifest;
    m1.files = parse_signed_manifest(read_text(dir1 + "/" + std::to_string(files_from) + ".json")).value().manifest.files;
    m1.version = m2.version = version;
    const std::string text1 = sign_manifest(m1, {&key}).value(), text2 = sign_manifest_v2(m2, {&key}).value();
    write_text(dir1 + "/" + std::to_string(version) + ".json", text1);
    write_text(dir1 + ".json", text1);
    write_text(dir2 + "/" + std::to_string(version) + ".json", text2);
    write_text(dir2 + ".json", text2);
    REQUIRE(std::system((git + "add -A >/dev/null").c_str()) == 0);
    REQUIRE(std::system((git + "commit -q -m forged").c_str()) == 0);
  };
  forge(3, 2);  // both documents name version 2's files: they agree
  RunResult agree = run_cli({"verify", p.f.tree});
  CHECK_MESSAGE(agree.exit_code == 0, agree.err);
  forge(4, 1);  // format 1 names version 1's model file, format 2 version 2's
  RunResult r = run_cli({"verify", p.f.tree});
  CHECK(r.exit_code == 1);
  CHECK_MESSAGE(has_line(r.err, "error: manifests/clf/stable/ios/4.json and v2/manifests/clf/stable/ios/4.json",
                         "disagree on files, although both are version 4"),
                r.err);
}

TEST_CASE("verify waits for a publish in progress instead of reporting its half-written state") {
  Published p;
  auto lock = FileLock::acquire(p.f.tree + "/.git/modelcast/lock", false);
  REQUIRE(lock.ok());
  // What a publish holding the lock has written so far: version 3, not yet current.
  std::string dir = p.f.tree + "/manifests/clf/stable/ios";
  write_text(dir + "/3.json", read_text(dir + "/2.json"));
  Child c = spawn_cli({"verify", p.f.tree}, p.dir / "verify");
  ::usleep(300 * 1000);
  int status = 0;
  CHECK(::waitpid(c.pid, &status, WNOHANG) == 0);
  REQUIRE(::unlink((dir + "/3.json").c_str()) == 0);  // the "publish" rolls back and leaves
  { FileLock released = std::move(lock.value()); }
  RunResult r = wait_cli(c);
  CHECK_MESSAGE(r.exit_code == 0, r.err);
}

TEST_CASE("a checkout with core.autocrlf=true keeps every blob byte for byte") {
  TempDir dir;
  Fixture f = make_fixture(dir);
  // Too short for zstd to save 5%: stored as is, and git would take it for text.
  write_text(dir / "labels.txt", "cat\ndog\nbird\n");
  RunResult r = run_cli({"publish", f.tree, "--model", "clf", "--platform", "ios", "--config", f.config, "--key", f.key,
                         dir / "labels.txt"});
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  const std::string checkout = dir / "checkout";
  REQUIRE(std::system(("git clone -q -c core.autocrlf=true '" + f.tree + "' '" + checkout + "'").c_str()) == 0);
  auto sm = parse_signed_manifest(read_text(f.tree + "/manifests/clf/stable/ios.json"));
  REQUIRE(sm.ok());
  REQUIRE(sm->manifest.files.size() == 1);
  const FileEntry& labels = sm->manifest.files[0];
  CHECK(labels.encoding == "identity");
  CHECK(read_text(checkout + "/" + labels.url) == "cat\ndog\nbird\n");
  CHECK(read_text(checkout + "/manifests/clf/stable/ios.json") == read_text(f.tree + "/manifests/clf/stable/ios.json"));
  RunResult v = run_cli({"verify", checkout});
  CHECK_MESSAGE(v.exit_code == 0, v.err);
}

TEST_CASE("verify reports a tree without .gitattributes, and the next publish adds it") {
  Published p;
  // Committed as a tree made before init wrote the file would be.
  auto git = [&](const std::string& args) {
    return std::system(("git -C '" + p.f.tree + "' -c user.name=t -c user.email=t@example.com " + args).c_str());
  };
  REQUIRE(git("rm -q .gitattributes") == 0);
  REQUIRE(git("commit -qm 'no attributes'") == 0);
  RunResult r = run_cli({"verify", p.f.tree});
  CHECK(r.exit_code == 1);
  CHECK(has_line(r.err, "error: .gitattributes", "core.autocrlf"));
  write_text(p.f.tree + "/.gitattributes", "*.json text\n");
  REQUIRE(git("add .gitattributes") == 0);
  REQUIRE(git("commit -qm 'other attributes'") == 0);
  r = run_cli({"verify", p.f.tree});
  CHECK(r.exit_code == 1);
  CHECK(has_line(r.err, "error: .gitattributes", "* -text"));

  REQUIRE(git("rm -q .gitattributes") == 0);
  REQUIRE(git("commit -qm 'no attributes'") == 0);
  write_random(p.dir / "model.bin", 100000, 23);
  r = run_cli({"publish", p.f.tree, "--model", "clf", "--platform", "ios", "--config", p.f.config, "--key", p.f.key,
               p.dir / "model.bin"});
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  CHECK(read_text(p.f.tree + "/.gitattributes").find("\n* -text\n") != std::string::npos);
  CHECK(run_cli({"verify", p.f.tree}).exit_code == 0);
  CHECK(dirty_paths(p.f.tree) == 0);
}

TEST_CASE("verify refuses a blob that is a FIFO or a symlink, without hanging") {
  Published p;
  const FileEntry& e = p.file("identity");
  const std::string blob = p.f.tree + "/" + e.url;
  const std::string copy = p.dir / "blob-copy";
  REQUIRE(std::rename(blob.c_str(), copy.c_str()) == 0);
  // A symlink to the right bytes: static hosts (GitHub Pages, S3 sync) do not serve links.
  REQUIRE(::symlink(copy.c_str(), blob.c_str()) == 0);
  RunResult r = run_cli({"verify", p.f.tree});
  CHECK(r.exit_code == 1);
  CHECK(has_line(r.err, "error: " + e.url, "symlink"));
  // A FIFO would block a reader until a writer comes, while verify holds the tree lock.
  REQUIRE(::unlink(blob.c_str()) == 0);
  REQUIRE(::mkfifo(blob.c_str(), 0644) == 0);
  r = run_cli({"verify", p.f.tree});
  CHECK(r.exit_code == 1);
  CHECK(has_line(r.err, "error: " + e.url, "not a regular file"));
  // A stray symlink nobody names is refused too (it would be pushed and not served).
  REQUIRE(::unlink(blob.c_str()) == 0);
  REQUIRE(std::rename(copy.c_str(), blob.c_str()) == 0);
  const std::string stray = p.f.tree + "/blobs/sha256/" + e.sha256.substr(0, 2) + "/stray";
  REQUIRE(::symlink(blob.c_str(), stray.c_str()) == 0);
  r = run_cli({"verify", p.f.tree});
  CHECK(r.exit_code == 1);
  CHECK(has_line(r.err, "error: blobs/sha256/" + e.sha256.substr(0, 2) + "/stray", "symlink"));
}

TEST_CASE("publish refuses a FIFO given as a FILE, without hanging") {
  TempDir dir;
  Fixture f = make_fixture(dir);
  REQUIRE(::mkfifo((dir / "model.bin").c_str(), 0644) == 0);
  RunResult r = run_cli({"publish", f.tree, "--model", "clf", "--platform", "ios", "--config", f.config, "--key", f.key,
                         dir / "model.bin"});
  CHECK(r.exit_code != 0);
  CHECK(r.err.find("not a regular file") != std::string::npos);
  CHECK(count_commits(f.tree) == 1);
}
