// `modelcast publish` through the real binary: manifests, blobs, the commit it makes,
// idempotence, bad inputs and concurrent publishers.
#include <doctest/doctest.h>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>

#include "blob_store.h"
#include "modelcast/blob_check.h"
#include "modelcast/fs.h"
#include "modelcast/names.h"
#include "modelcast/signed_manifest.h"
#include "modelcast/signing.h"
#include "publisher_test_util.h"

using namespace modelcast;
using namespace modelcast::test;

namespace {

std::vector<std::string> publish_args(const Fixture& f, const std::string& model, std::vector<std::string> files) {
  std::vector<std::string> args = {"publish", f.tree, "--model", model, "--platform", "android", "--config", f.config,
                                   "--key",   f.key,  "--json"};
  args.insert(args.end(), files.begin(), files.end());
  return args;
}

SignedManifest load_manifest(const std::string& path) {
  auto sm = parse_signed_manifest(read_text(path));
  REQUIRE_MESSAGE(sm.ok(), sm.status().message());
  return std::move(sm).value();
}

bool contains(const std::vector<std::string>& v, const std::string& s) { return std::find(v.begin(), v.end(), s) != v.end(); }

}  // namespace

TEST_CASE("publish writes signed manifests, blobs and exactly one commit naming the change") {
  TempDir dir;
  Fixture f = make_fixture(dir);
  write_random(dir / "model.dat", 300000, 1);
  write_text(dir / "labels.txt", std::string(50000, 'a'));  // compresses well
  size_t commits_before = count_commits(f.tree);

  RunResult r = run_cli(publish_args(f, "sentiment", {dir / "model.dat", dir / "labels.txt"}));
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  Json out = parse_stdout_json(r);
  CHECK(out["status"] == "published");
  CHECK(out["version"] == 1);
  CHECK(out["manifest"] == "manifests/sentiment/stable/android.json");

  SignedManifest current = load_manifest(f.tree + "/manifests/sentiment/stable/android.json");
  CHECK(read_text(f.tree + "/manifests/sentiment/stable/android.json") ==
        read_text(f.tree + "/manifests/sentiment/stable/android/1.json"));
  const Manifest& m = current.manifest;
  CHECK(m.version == 1);
  CHECK(m.channel == "stable");
  REQUIRE(m.files.size() == 2);
  auto pub = PublicKey::from_pem_file(f.pub);
  REQUIRE(pub.ok());
  CHECK(verify_signatures(current, {*pub}, 1).ok());
  auto published = parse_timestamp(m.published_at, "published_at");
  auto expires = parse_timestamp(m.expires_at, "expires_at");
  REQUIRE(published.ok());
  REQUIRE(expires.ok());
  CHECK(*expires - *published == 30 * 86400);
  CHECK(m.config.outputs[0].labels == std::vector<std::string>{"negative", "positive"});
  CHECK(m.requirements.features == std::vector<std::string>{"text"});

  for (const auto& file : m.files) {
    if (file.path == "labels.txt") {
      CHECK(file.encoding == "zstd");
      CHECK(file.stored_size < 1000);
    } else {
      CHECK(file.path == "model.dat");
      CHECK(file.encoding == "identity");  // random bytes: zstd would not save 5%
      CHECK(file.stored_size == 300000);
    }
    CHECK(check_blob(*posix_file_system(), f.tree + "/" + file.url, BlobCheck{file.encoding, file.sha256, file.size, file.stored_size}).ok());
  }

  // The signing key became part of the tree, trusted by id.
  CHECK(path_exists(f.tree + "/keys/" + f.key_id + ".pub"));
  Json settings = Json::parse(read_text(f.tree + "/modelcast.json"));
  CHECK(settings["trusted_keys"] == Json::array({f.key_id}));

  CHECK(count_commits(f.tree) == commits_before + 1);
  CommitInfo c = read_commit(f.tree, "HEAD");
  CHECK(c.id == out["commit"]);
  CHECK(c.parents == 1);
  CHECK(c.message.rfind("publish sentiment 1 (stable/android): model.dat 300.0 KB, labels.txt 50.0 KB\n", 0) == 0);
  std::vector<std::string> expected = {"index.html",
                                       "index.json",
                                       "keys/" + f.key_id + ".pub",
                                       "manifests/sentiment/stable/android.json",
                                       "manifests/sentiment/stable/android/1.json",
                                       "modelcast.json",
                                       "v2/manifests/sentiment/stable/android.json",
                                       "v2/manifests/sentiment/stable/android/1.json"};
  for (const auto& file : m.files) CHECK(contains(c.changed_paths, file.url));
  CHECK(c.changed_paths.size() == 10);  // two blobs + the eight paths above
  for (const auto& p : expected) CHECK_MESSAGE(contains(c.changed_paths, p), p);
  CHECK(dirty_paths(f.tree) == 0);

  Json index = Json::parse(read_text(f.tree + "/index.json"));
  REQUIRE(index["models"].size() == 1);
  CHECK(index["models"][0]["model"] == "sentiment");
  CHECK(index["models"][0]["current"]["version"] == 1);
  CHECK(index["models"][0]["current"]["size"] == 350000);
  CHECK(index["models"][0]["versions"].size() == 1);
  CHECK(read_text(f.tree + "/index.html").find("sentiment") != std::string::npos);
}

TEST_CASE("publishing the same files and config again prints unchanged and commits nothing") {
  TempDir dir;
  Fixture f = make_fixture(dir);
  write_random(dir / "model.bin", 4096, 2);
  REQUIRE(run_cli(publish_args(f, "m", {dir / "model.bin"})).exit_code == 0);
  std::string head = read_commit(f.tree, "HEAD").id;
  std::string manifest = read_text(f.tree + "/manifests/m/stable/android.json");

  RunResult again = run_cli(publish_args(f, "m", {dir / "model.bin"}));
  REQUIRE_MESSAGE(again.exit_code == 0, again.err);
  Json out = parse_stdout_json(again);
  CHECK(out["status"] == "unchanged");
  CHECK(out["version"] == 1);
  CHECK(read_commit(f.tree, "HEAD").id == head);
  CHECK(read_text(f.tree + "/manifests/m/stable/android.json") == manifest);
  CHECK_FALSE(path_exists(f.tree + "/manifests/m/stable/android/2.json"));

  std::vector<std::string> human = publish_args(f, "m", {dir / "model.bin"});
  human.erase(std::find(human.begin(), human.end(), "--json"));
  RunResult text = run_cli(human);
  CHECK(text.exit_code == 0);
  CHECK(text.out.rfind("unchanged", 0) == 0);

  // A config change alone is a new version.
  write_text(f.config, config_json({"negative", "neutral", "positive"}));
  write_random(dir / "model.bin", 4096, 2);
  RunResult changed = run_cli(publish_args(f, "m", {dir / "model.bin"}));
  REQUIRE(changed.exit_code == 0);
  CHECK(parse_stdout_json(changed)["version"] == 2);
  CHECK(read_commit(f.tree, "HEAD").message.rfind("publish m 2 (stable/android): config changed\n", 0) == 0);
}

TEST_CASE("unchanged content is re-signed with a later expiry only when it expires within --refresh-within") {
  TempDir dir;
  Fixture f = make_fixture(dir);
  write_random(dir / "model.bin", 4096, 3);
  std::vector<std::string> args = publish_args(f, "m", {dir / "model.bin"});
  args.insert(args.end(), {"--expires-in", "10"});
  REQUIRE(run_cli(args).exit_code == 0);
  std::string first_expiry = load_manifest(f.tree + "/manifests/m/stable/android.json").manifest.expires_at;

  // Ten days left, refresh asked below that: nothing to do.
  std::vector<std::string> early = args;
  early.insert(early.end(), {"--refresh-within", "5"});
  RunResult not_yet = run_cli(early);
  REQUIRE_MESSAGE(not_yet.exit_code == 0, not_yet.err);
  CHECK(parse_stdout_json(not_yet)["status"] == "unchanged");

  // Expiring within the window: version 2, same files, a later expiry, a commit saying so.
  std::vector<std::string> due = publish_args(f, "m", {dir / "model.bin"});
  due.insert(due.end(), {"--expires-in", "30", "--refresh-within", "20"});
  RunResult refreshed = run_cli(due);
  REQUIRE_MESSAGE(refreshed.exit_code == 0, refreshed.err);
  Json out = parse_stdout_json(refreshed);
  CHECK(out["status"] == "refreshed");
  CHECK(out["version"] == 2);
  CHECK(out["blobs_created"].empty());
  SignedManifest v2 = load_manifest(f.tree + "/manifests/m/stable/android.json");
  SignedManifest v1 = load_manifest(f.tree + "/manifests/m/stable/android/1.json");
  CHECK(v2.manifest.version == 2);
  CHECK(v2.manifest.expires_at > first_expiry);
  CHECK(v2.manifest.files[0].sha256 == v1.manifest.files[0].sha256);
  CHECK(read_commit(f.tree, "HEAD").message.find("refresh, expires " + v2.manifest.expires_at) != std::string::npos);
}

TEST_CASE("a second version commits only the new blob and manifests; the old blob is not re-added") {
  TempDir dir;
  Fixture f = make_fixture(dir);
  write_random(dir / "model.bin", 200000, 3);
  write_text(dir / "vocab.txt", std::string(20000, 'v'));
  REQUIRE(run_cli(publish_args(f, "nlp", {dir / "model.bin", dir / "vocab.txt"})).exit_code == 0);
  SignedManifest v1 = load_manifest(f.tree + "/manifests/nlp/stable/android.json");

  write_random(dir / "model.bin", 210000, 4);
  RunResult r = run_cli(publish_args(f, "nlp", {dir / "model.bin", dir / "vocab.txt"}));
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  Json out = parse_stdout_json(r);
  CHECK(out["version"] == 2);
  CHECK(out["previous_version"] == 1);
  CHECK(out["blobs_created"].size() == 1);
  CommitInfo c = read_commit(f.tree, "HEAD");
  CHECK(c.message.rfind("publish nlp 2 (stable/android): model.bin 200.0 KB -> 210.0 KB\n", 0) == 0);
  SignedManifest v2 = load_manifest(f.tree + "/manifests/nlp/stable/android/2.json");
  std::vector<std::string> expected_blobs;
  for (const auto& file : v2.manifest.files)
    if (file.path == "model.bin") expected_blobs.push_back(file.url);
  std::vector<std::string> expected = {expected_blobs[0],
                                       "index.html",
                                       "index.json",
                                       "manifests/nlp/stable/android.json",
                                       "manifests/nlp/stable/android/2.json",
                                       "v2/manifests/nlp/stable/android.json",
                                       "v2/manifests/nlp/stable/android/2.json"};
  std::sort(expected.begin(), expected.end());
  CHECK(c.changed_paths == expected);
  CHECK(path_exists(f.tree + "/manifests/nlp/stable/android/1.json"));
  CHECK(dirty_paths(f.tree) == 0);
}

TEST_CASE("publish places files under --path-prefix or PATH=FILE, never outside the model") {
  TempDir dir;
  Fixture f = make_fixture(dir);
  write_random(dir / "weights.dat", 1000, 5);
  write_text(dir / "en.txt", "hello\n");
  std::vector<std::string> args = publish_args(f, "multi", {dir / "weights.dat", "assets/labels/en.txt=" + (dir / "en.txt")});
  args.push_back("--path-prefix");
  args.push_back("weights");
  RunResult r = run_cli(args);
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  SignedManifest m = load_manifest(f.tree + "/manifests/multi/stable/android.json");
  std::vector<std::string> paths;
  for (const auto& file : m.manifest.files) paths.push_back(file.path);
  CHECK(paths == std::vector<std::string>{"assets/labels/en.txt", "weights/weights.dat"});

  for (std::string bad : {"../escape.txt=", "a/../../b=", "/abs=", "a//b="}) {
    RunResult e = run_cli(publish_args(f, "multi", {bad + (dir / "en.txt")}));
    CHECK_MESSAGE(e.exit_code == 2, bad);
    CHECK(e.err.rfind("error: ", 0) == 0);
  }
}

TEST_CASE("publish refuses bad names, bad files and bad configs with one error line") {
  TempDir dir;
  Fixture f = make_fixture(dir);
  write_random(dir / "model.bin", 1000, 6);
  std::string head = read_commit(f.tree, "HEAD").id;
  auto run = [&](std::vector<std::string> args) {
    RunResult r = run_cli(args);
    CHECK(r.err.rfind("error: ", 0) == 0);
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    return r;
  };
  auto args_with = [&](const std::string& flag, const std::string& value) {
    std::vector<std::string> a = publish_args(f, "m", {dir / "model.bin"});
    auto it = std::find(a.begin(), a.end(), flag);
    if (it != a.end()) *(it + 1) = value;
    else {
      a.push_back(flag);
      a.push_back(value);
    }
    return a;
  };

  // Names that would become paths: usage errors (2).
  CHECK(run(args_with("--model", "../evil")).exit_code == 2);
  CHECK(run(args_with("--model", "a/b")).exit_code == 2);
  CHECK(run(args_with("--platform", std::string("andr\x01oid"))).exit_code == 2);
  CHECK(run(args_with("--channel", "..")).exit_code == 2);
  CHECK(run(args_with("--channel", std::string("beta\n"))).exit_code == 2);
  CHECK(run(args_with("--min-app-version", "1.x")).exit_code == 2);
  CHECK(run(args_with("--features", "ok,../bad")).exit_code == 2);
  CHECK(run(args_with("--expires-in", "0")).exit_code == 2);
  RunResult bad_file = run(publish_args(f, "m", {std::string("we\x7fird=") + (dir / "model.bin")}));
  CHECK(bad_file.exit_code == 2);

  // Files and configs that do not work: failures (1) naming what and where.
  RunResult no_config = run(args_with("--config", dir / "missing.json"));
  CHECK(no_config.exit_code == 1);
  CHECK(no_config.err.find("missing.json") != std::string::npos);

  write_text(dir / "broken.json", R"({"inputs": [}")");
  RunResult broken = run(args_with("--config", dir / "broken.json"));
  CHECK(broken.exit_code == 1);
  CHECK(broken.err.find("broken.json") != std::string::npos);

  write_text(dir / "float.json", R"({"inputs": [{"name": "x", "dtype": "float32", "shape": [1, 2.5]}], "outputs": []})");
  RunResult float_shape = run(args_with("--config", dir / "float.json"));
  CHECK(float_shape.exit_code == 1);
  CHECK(float_shape.err.find("shape[1]") != std::string::npos);

  write_text(dir / "float_meta.json", R"({"inputs": [], "outputs": [], "metadata": {"threshold": 0.5}})");
  RunResult float_meta = run(args_with("--config", dir / "float_meta.json"));
  CHECK(float_meta.exit_code == 1);
  CHECK(float_meta.err.find("metadata") != std::string::npos);

  write_text(dir / "dup.json", R"({"inputs": [], "inputs": [], "outputs": []})");
  CHECK(run(args_with("--config", dir / "dup.json")).exit_code == 1);

  RunResult no_file = run(publish_args(f, "m", {dir / "nope.bin"}));
  CHECK(no_file.exit_code == 1);
  CHECK(no_file.err.find("nope.bin") != std::string::npos);

  RunResult no_key = run(args_with("--key", dir / "nokey.pem"));
  CHECK(no_key.exit_code == 1);
  CHECK(no_key.err.find("nokey.pem") != std::string::npos);

  std::vector<std::string> not_tree = publish_args(f, "m", {dir / "model.bin"});
  not_tree[1] = dir.path();
  RunResult nt = run(not_tree);
  CHECK(nt.exit_code == 1);
  CHECK(nt.err.find("not a modelcast tree") != std::string::npos);

  CHECK(read_commit(f.tree, "HEAD").id == head);
  CHECK_FALSE(path_exists(f.tree + "/manifests/m"));
}

TEST_CASE("two publishes at once both land, one after the other") {
  TempDir dir;
  Fixture f = make_fixture(dir);
  write_random(dir / "a.bin", 3 << 20, 7);
  write_random(dir / "b.bin", 3 << 20, 8);
  size_t before = count_commits(f.tree);
  // Hold the tree lock so both publishers start while it is taken and must wait.
  REQUIRE(make_dirs(f.tree + "/.git/modelcast").ok());
  auto lock = FileLock::acquire(f.tree + "/.git/modelcast/lock", false);
  REQUIRE(lock.ok());
  Child a = spawn_cli(publish_args(f, "alpha", {dir / "a.bin"}), dir / "a");
  Child b = spawn_cli(publish_args(f, "alpha", {dir / "b.bin"}), dir / "b");
  ::usleep(500 * 1000);
  int status = 0;
  CHECK(::waitpid(a.pid, &status, WNOHANG) == 0);  // still waiting
  CHECK(::waitpid(b.pid, &status, WNOHANG) == 0);
  { FileLock released = std::move(lock.value()); }
  RunResult ra = wait_cli(a), rb = wait_cli(b);
  REQUIRE_MESSAGE(ra.exit_code == 0, ra.err);
  REQUIRE_MESSAGE(rb.exit_code == 0, rb.err);
  CHECK(ra.err.find("waiting for another modelcast command") != std::string::npos);
  CHECK(rb.err.find("waiting for another modelcast command") != std::string::npos);
  std::vector<int> versions = {parse_stdout_json(ra)["version"].get<int>(), parse_stdout_json(rb)["version"].get<int>()};
  std::sort(versions.begin(), versions.end());
  CHECK(versions == std::vector<int>{1, 2});
  CHECK(count_commits(f.tree) == before + 2);
  CHECK(dirty_paths(f.tree) == 0);
  RunResult v = run_cli({"verify", f.tree});
  CHECK_MESSAGE(v.exit_code == 0, v.err);
}

TEST_CASE("publish --no-wait fails clearly while another publisher holds the lock") {
  TempDir dir;
  Fixture f = make_fixture(dir);
  write_random(dir / "m.bin", 100, 9);
  REQUIRE(make_dirs(f.tree + "/.git/modelcast").ok());
  auto lock = FileLock::acquire(f.tree + "/.git/modelcast/lock", false);
  REQUIRE(lock.ok());
  std::vector<std::string> args = publish_args(f, "m", {dir / "m.bin"});
  args.push_back("--no-wait");
  RunResult r = run_cli(args);
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("holds the tree lock") != std::string::npos);
  CHECK_FALSE(path_exists(f.tree + "/manifests/m"));
}

TEST_CASE("the catalog page escapes what it shows and keeps every version") {
  TempDir dir;
  Fixture f = make_fixture(dir);
  for (int i = 0; i < 3; ++i) {
    write_random(dir / "m.bin", 1000 + i, 10 + i);
    REQUIRE(run_cli(publish_args(f, "cat", {dir / "m.bin"})).exit_code == 0);
  }
  Json index = Json::parse(read_text(f.tree + "/index.json"));
  REQUIRE(index["models"].size() == 1);
  const Json& versions = index["models"][0]["versions"];
  REQUIRE(versions.size() == 3);
  CHECK(versions[0]["version"] == 3);  // newest first
  CHECK(versions[2]["manifest"] == "manifests/cat/stable/android/1.json");
  std::string html = read_text(f.tree + "/index.html");
  CHECK(html.find("3 version(s)") != std::string::npos);
  CHECK(html.find("{{") == std::string::npos);
}

TEST_CASE("files a publish left without a journal are committed only by `modelcast recover`, after a dry run") {
  TempDir dir;
  Fixture f = make_fixture(dir);
  write_random(dir / "m.bin", 5000, 61);
  REQUIRE(run_cli(publish_args(f, "crash", {dir / "m.bin"})).exit_code == 0);
  SignedManifest v1 = load_manifest(f.tree + "/manifests/crash/stable/android/1.json");
  // As if an older publisher (no journal) died between writing the files and committing:
  // the branch is back at the init commit while version 1's files stay on disk.
  std::string init_commit = read_commit(f.tree, "HEAD~1").id;
  REQUIRE(std::system(("git -C '" + f.tree + "' update-ref refs/heads/main " + init_commit).c_str()) == 0);

  write_random(dir / "m.bin", 6000, 62);
  RunResult refused = run_cli(publish_args(f, "crash", {dir / "m.bin"}));
  CHECK(refused.exit_code == 1);
  CHECK(refused.err.find("manifests/crash/stable/android/1.json (added)") != std::string::npos);
  CHECK(refused.err.find("`modelcast recover " + f.tree + " --dry-run`") != std::string::npos);
  CHECK(read_commit(f.tree, "HEAD").id == init_commit);

  RunResult dry = run_cli({"recover", f.tree, "--dry-run", "--json"});
  REQUIRE_MESSAGE(dry.exit_code == 0, dry.err);
  Json plan = parse_stdout_json(dry);
  CHECK(plan["status"] == "dry-run");
  CHECK(plan["journal"] == false);
  CHECK(contains(plan["files"].get<std::vector<std::string>>(), "manifests/crash/stable/android/1.json (added)"));
  CHECK(contains(plan["files"].get<std::vector<std::string>>(), v1.manifest.files[0].url + " (added)"));
  CHECK(read_commit(f.tree, "HEAD").id == init_commit);
  RunResult rec = run_cli({"recover", f.tree});
  REQUIRE_MESSAGE(rec.exit_code == 0, rec.err);
  CHECK(rec.out.find("committed manifests/crash/stable/android/1.json (added)") != std::string::npos);

  RunResult r = run_cli(publish_args(f, "crash", {dir / "m.bin"}));
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  CHECK(parse_stdout_json(r)["version"] == 2);
  // Version 1's files got a commit of their own, before version 2's.
  CommitInfo recovered = read_commit(f.tree, "HEAD~1");
  CHECK(recovered.message.rfind("recover: ", 0) == 0);
  CHECK(read_commit(f.tree, "HEAD~2").id == init_commit);
  CHECK(contains(recovered.changed_paths, "manifests/crash/stable/android/1.json"));
  CHECK(contains(recovered.changed_paths, v1.manifest.files[0].url));
  CHECK(contains(recovered.changed_paths, "keys/" + f.key_id + ".pub"));
  CommitInfo c = read_commit(f.tree, "HEAD");
  CHECK(c.parents == 1);
  CHECK(contains(c.changed_paths, "manifests/crash/stable/android/2.json"));
  CHECK(dirty_paths(f.tree) == 0);
  RunResult v = run_cli({"verify", f.tree});
  CHECK_MESSAGE(v.exit_code == 0, v.err);
}

TEST_CASE("publish shows progress on stderr for files over a few MB, and --quiet silences it") {
  TempDir dir;
  Fixture f = make_fixture(dir);
  write_random(dir / "big.bin", 9 << 20, 71);
  write_text(dir / "small.txt", "small");
  RunResult r = run_cli(publish_args(f, "p", {dir / "big.bin", dir / "small.txt"}));
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  CHECK(r.err.find("big.bin (sha256 + zstd): ") != std::string::npos);
  CHECK(r.err.find("done in") != std::string::npos);
  CHECK(r.err.find("small.txt") == std::string::npos);
  parse_stdout_json(r);  // progress never reaches stdout

  write_random(dir / "big.bin", 9 << 20, 72);
  std::vector<std::string> quiet = publish_args(f, "p", {dir / "big.bin"});
  quiet.push_back("--quiet");
  RunResult q = run_cli(quiet);
  REQUIRE(q.exit_code == 0);
  CHECK(q.err.empty());
}

TEST_CASE("publish refuses a private key kept inside the tree, and names a key file others can read") {
  TempDir dir;
  Fixture f = make_fixture(dir);
  write_text(dir / "labels.txt", "cat\ndog\n");
  const std::string inside = f.tree + "/keys/signing.pem";
  write_text(inside, read_text(f.key));
  ::chmod(inside.c_str(), 0600);
  RunResult r = run_cli({"publish", f.tree, "--model", "clf", "--platform", "ios", "--config", f.config, "--key", inside,
                         dir / "labels.txt"});
  CHECK(r.exit_code != 0);
  CHECK(r.err.find("inside the tree and would be published") != std::string::npos);
  CHECK(count_commits(f.tree) == 1);
  REQUIRE(::unlink(inside.c_str()) == 0);

  REQUIRE(::chmod(f.key.c_str(), 0644) == 0);
  r = run_cli({"publish", f.tree, "--model", "clf", "--platform", "ios", "--config", f.config, "--key", f.key,
               dir / "labels.txt"});
  CHECK_MESSAGE(r.exit_code == 0, r.err);
  CHECK(r.err.find("warning: --key " + f.key + ": readable by others (mode 0644); chmod 600 it") != std::string::npos);
  REQUIRE(::chmod(f.key.c_str(), 0600) == 0);
  write_text(dir / "labels.txt", "cat\ndog\nbird\n");
  r = run_cli({"publish", f.tree, "--model", "clf", "--platform", "ios", "--config", f.config, "--key", f.key,
               dir / "labels.txt"});
  CHECK_MESSAGE(r.exit_code == 0, r.err);
  CHECK(r.err.find("readable by others") == std::string::npos);
}
