// `modelcast rollout`, `rollback`, `promote` and threshold signing through the real
// binary: the manifests they write, the commits they make, and every bad input leaving
// the tree exactly as it was.
#include <doctest/doctest.h>

#include <dirent.h>
#include <sys/stat.h>

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <map>

#include "modelcast/sha256.h"
#include "modelcast/signed_manifest.h"
#include "modelcast/signed_manifest_v2.h"
#include "modelcast/signing.h"
#include "publisher_test_util.h"

using namespace modelcast;
using namespace modelcast::test;

namespace {

// Every file of the tree outside .git, with its content hash, plus the commit count:
// equal before and after a refused command means the tree was left as it was.
void walk(const std::string& root, const std::string& rel, std::map<std::string, std::string>& out) {
  DIR* d = ::opendir((root + "/" + rel).c_str());
  if (!d) return;
  while (struct dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == ".." || (rel.empty() && name == ".git")) continue;
    std::string child = rel.empty() ? name : rel + "/" + name;
    struct stat st;
    if (::lstat((root + "/" + child).c_str(), &st) != 0) continue;
    if (S_ISDIR(st.st_mode)) walk(root, child, out);
    else out[child] = sha256_hex(read_text(root + "/" + child));
  }
  ::closedir(d);
}

std::string fingerprint(const std::string& tree) {
  std::map<std::string, std::string> files;
  walk(tree, "", files);
  std::string out = std::to_string(count_commits(tree)) + "\n";
  for (const auto& kv : files) out += kv.first + " " + kv.second + "\n";
  return out;
}

Manifest current(const Fixture& f, const std::string& channel = "stable", const std::string& platform = "android") {
  auto sm = parse_signed_manifest(read_text(f.tree + "/manifests/clf/" + channel + "/" + platform + ".json"));
  REQUIRE_MESSAGE(sm.ok(), sm.status().message());
  return sm->manifest;
}

RunResult publish(const Fixture& f, const std::string& file, std::vector<std::string> extra = {},
                  const std::string& channel = "stable") {
  std::vector<std::string> args = {"publish", f.tree, "--model", "clf", "--platform", "android", "--channel", channel,
                                   "--config", f.config, "--key", f.key, "--quiet", "--json"};
  args.insert(args.end(), extra.begin(), extra.end());
  args.push_back(file);
  return run_cli(args);
}

RunResult ops(std::vector<std::string> args) {
  args.push_back("--json");
  return run_cli(args);
}

}  // namespace

TEST_CASE("publish --rollout writes the percentage, and rollout widens and halts it as new versions of the same files") {
  TempDir dir;
  Fixture f = make_fixture(dir);
  write_random(dir / "a.bin", 20000, 1);
  write_random(dir / "b.bin", 20000, 2);
  REQUIRE(publish(f, dir / "a.bin").exit_code == 0);
  RunResult staged = publish(f, dir / "b.bin", {"--rollout", "5"});
  REQUIRE_MESSAGE(staged.exit_code == 0, staged.err);
  Manifest v2 = current(f);
  CHECK(v2.version == 2);
  REQUIRE(v2.rollout_percent.has_value());
  CHECK(*v2.rollout_percent == 5);

  RunResult widen = ops({"rollout", f.tree, "--model", "clf", "--platform", "android", "--percent", "20", "--key", f.key});
  REQUIRE_MESSAGE(widen.exit_code == 0, widen.err);
  Json out = parse_stdout_json(widen);
  CHECK(out["version"] == 3);
  CHECK(out["message"].get<std::string>().find("5% -> 20%") != std::string::npos);
  Manifest v3 = current(f);
  CHECK(v3.version == 3);
  CHECK(*v3.rollout_percent == 20);
  CHECK(v3.files[0].sha256 == v2.files[0].sha256);
  CHECK(read_commit(f.tree, "HEAD").changed_paths.size() >= 2);
  for (const auto& p : read_commit(f.tree, "HEAD").changed_paths) CHECK(p.rfind("blobs/", 0) != 0);

  RunResult halt = ops({"rollout", f.tree, "--model", "clf", "--platform", "android", "--halt", "--key", f.key});
  REQUIRE_MESSAGE(halt.exit_code == 0, halt.err);
  CHECK(parse_stdout_json(halt)["message"].get<std::string>().rfind("halt clf 4", 0) == 0);
  CHECK(*current(f).rollout_percent == 0);

  RunResult full = ops({"rollout", f.tree, "--model", "clf", "--platform", "android", "--percent", "100", "--key", f.key});
  REQUIRE(full.exit_code == 0);
  CHECK_FALSE(current(f).rollout_percent.has_value());
  RunResult same = ops({"rollout", f.tree, "--model", "clf", "--platform", "android", "--percent", "100", "--key", f.key});
  CHECK(parse_stdout_json(same)["status"] == "unchanged");
  RunResult verify = run_cli({"verify", f.tree});
  CHECK_MESSAGE(verify.exit_code == 0, verify.err);
}

TEST_CASE("a partial rollout names the last release every device had as its fallback, by the hash of its document") {
  TempDir dir;
  Fixture f = make_fixture(dir);
  const std::string v2_root = f.tree + "/v2/manifests/clf/stable/android";
  auto fallback_of = [&](uint64_t version) -> Json {
    Json doc = Json::parse(read_text(v2_root + "/" + std::to_string(version) + ".json"));
    const Json& s = doc["signed"];
    return s.contains("rollout") && s["rollout"].contains("fallback") ? s["rollout"]["fallback"] : Json();
  };
  auto vouches_for = [&](const Json& fallback, uint64_t version) {
    return fallback.is_object() && fallback["version"] == version &&
           fallback["sha256"] == sha256_hex(read_text(v2_root + "/" + std::to_string(version) + ".json"));
  };
  auto rollout = [&](const std::string& percent) {
    RunResult r = ops({"rollout", f.tree, "--model", "clf", "--platform", "android", "--percent", percent, "--key", f.key});
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  };
  for (int seed = 1; seed <= 4; ++seed) write_random(dir / ("m" + std::to_string(seed) + ".bin"), 20000, seed);

  REQUIRE(publish(f, dir / "m1.bin", {"--rollout", "10"}).exit_code == 0);  // v1: nothing before it
  CHECK(fallback_of(1).is_null());
  rollout("100");                                                              // v2: everyone
  REQUIRE(publish(f, dir / "m2.bin", {"--rollout", "10"}).exit_code == 0);  // v3
  CHECK(vouches_for(fallback_of(3), 2));
  rollout("50");                                                               // v4: still v2 for the others
  CHECK(vouches_for(fallback_of(4), 2));
  REQUIRE(publish(f, dir / "m3.bin", {"--rollout", "5"}).exit_code == 0);   // v5 replaces a partial release
  CHECK(vouches_for(fallback_of(5), 2));
  REQUIRE(ops({"rollout", f.tree, "--model", "clf", "--platform", "android", "--halt", "--key", f.key}).exit_code == 0);
  CHECK(vouches_for(fallback_of(6), 2));  // v6: halted, new devices get v2
  rollout("100");                         // v7
  CHECK(fallback_of(7).is_null());
  rollout("30");                          // v8: the same content, narrowed again
  CHECK(vouches_for(fallback_of(8), 7));
  // The format 1 document never carries it (format 1 readers refuse unknown members).
  CHECK_FALSE(Json::parse(read_text(f.tree + "/manifests/clf/stable/android/8.json"))["signed"]["rollout"].contains("fallback"));
  RunResult verify = run_cli({"verify", f.tree});
  CHECK_MESSAGE(verify.exit_code == 0, verify.err);
}

TEST_CASE("a rollout percentage outside 0..100 fails with one line and leaves the tree as it was") {
  TempDir dir;
  Fixture f = make_fixture(dir);
  write_random(dir / "a.bin", 5000, 1);
  REQUIRE(publish(f, dir / "a.bin").exit_code == 0);
  const std::string before = fingerprint(f.tree);
  for (const char* bad : {"101", "-1"}) {
    RunResult r = ops({"rollout", f.tree, "--model", "clf", "--platform", "android", "--percent", bad, "--key", f.key});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("outside 0..100") != std::string::npos);
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    RunResult p = publish(f, dir / "a.bin", {"--rollout", bad});
    CHECK(p.exit_code == 2);
    CHECK(p.err.find("--rollout") != std::string::npos);
  }
  RunResult neither = ops({"rollout", f.tree, "--model", "clf", "--platform", "android", "--key", f.key});
  CHECK(neither.exit_code == 2);
  CHECK(fingerprint(f.tree) == before);
}

TEST_CASE("rollback republishes an old version's files as the next version in one commit that says rollback") {
  TempDir dir;
  Fixture f = make_fixture(dir);
  write_random(dir / "a.bin", 20000, 1);
  write_random(dir / "b.bin", 20000, 2);
  REQUIRE(publish(f, dir / "a.bin").exit_code == 0);
  REQUIRE(publish(f, dir / "b.bin", {"--rollout", "10"}).exit_code == 0);
  auto sm1 = parse_signed_manifest(read_text(f.tree + "/manifests/clf/stable/android/1.json"));
  REQUIRE(sm1.ok());
  const size_t commits = count_commits(f.tree);

  RunResult r = ops({"rollback", f.tree, "--model", "clf", "--platform", "android", "--to-version", "1", "--key", f.key});
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  Manifest v3 = current(f);
  CHECK(v3.version == 3);
  CHECK_FALSE(v3.rollout_percent.has_value());
  REQUIRE(v3.files.size() == 1);
  CHECK(v3.files[0].sha256 == sm1->manifest.files[0].sha256);
  CHECK(v3.files[0].url == sm1->manifest.files[0].url);
  CHECK(count_commits(f.tree) == commits + 1);
  CommitInfo c = read_commit(f.tree, "HEAD");
  CHECK(c.message.rfind("rollback clf 3 (stable/android): back to the content of version 1", 0) == 0);
  for (const auto& p : c.changed_paths) CHECK(p.rfind("blobs/", 0) != 0);
  CHECK(run_cli({"verify", f.tree}).exit_code == 0);
}

TEST_CASE("rollback to a version that does not exist, is current, or lost its blobs fails with one line, tree unchanged") {
  TempDir dir;
  Fixture f = make_fixture(dir);
  write_random(dir / "a.bin", 20000, 1);
  write_random(dir / "b.bin", 20000, 2);
  REQUIRE(publish(f, dir / "a.bin").exit_code == 0);
  REQUIRE(publish(f, dir / "b.bin").exit_code == 0);
  // Garbage collection removed version 1's blob (as `modelcast gc` would).
  const std::string blob = f.tree + "/" + parse_signed_manifest(read_text(f.tree + "/manifests/clf/stable/android/1.json"))
                                              ->manifest.files[0]
                                              .url;
  REQUIRE(::unlink(blob.c_str()) == 0);
  // Committed, as `modelcast gc` would (an uncommitted deletion is refused as a human edit).
  const std::string git = "git -C " + f.tree + " -c user.name=t -c user.email=t@t ";
  REQUIRE(std::system((git + "add -A >/dev/null && " + git + "commit -qm gc >/dev/null").c_str()) == 0);
  const std::string before = fingerprint(f.tree);
  struct Case {
    const char* version;
    const char* says;
  } cases[] = {{"7", "version 7 does not exist"}, {"2", "is the current version"}, {"1", "garbage-collected"}};
  for (const auto& c : cases) {
    CAPTURE(c.version);
    RunResult r = ops({"rollback", f.tree, "--model", "clf", "--platform", "android", "--to-version", c.version, "--key", f.key});
    CHECK(r.exit_code != 0);
    CHECK(r.err.find(c.says) != std::string::npos);
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    // --json: the same error, as one object on stdout.
    Json out = parse_stdout_json(r);
    CHECK(out["error"]["exit_code"] == r.exit_code);
    CHECK(out["error"]["message"].get<std::string>().find(c.says) != std::string::npos);
  }
  CHECK(fingerprint(f.tree) == before);
}

TEST_CASE("promote makes the newest beta version the next stable one with the same blobs and no new blob committed") {
  TempDir dir;
  Fixture f = make_fixture(dir);
  write_random(dir / "a.bin", 20000, 1);
  write_random(dir / "b.bin", 20000, 2);
  REQUIRE(publish(f, dir / "a.bin").exit_code == 0);
  REQUIRE(publish(f, dir / "a.bin", {}, "beta").exit_code == 0);
  REQUIRE(publish(f, dir / "b.bin", {}, "beta").exit_code == 0);
  Manifest beta = current(f, "beta");

  RunResult r = ops({"promote", f.tree, "--model", "clf", "--platform", "android", "--from", "beta", "--to", "stable",
                     "--key", f.key});
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  Manifest stable = current(f);
  CHECK(stable.version == 2);
  CHECK(stable.channel == "stable");
  CHECK(stable.files[0].sha256 == beta.files[0].sha256);
  CHECK(stable.files[0].url == beta.files[0].url);
  CommitInfo c = read_commit(f.tree, "HEAD");
  CHECK(c.message.rfind("promote clf 2 (stable/android): beta version 2", 0) == 0);
  for (const auto& p : c.changed_paths) CHECK(p.rfind("blobs/", 0) != 0);
  RunResult again = ops({"promote", f.tree, "--model", "clf", "--platform", "android", "--from", "beta", "--to", "stable",
                         "--key", f.key});
  CHECK(parse_stdout_json(again)["status"] == "unchanged");
  CHECK(run_cli({"verify", f.tree}).exit_code == 0);
}

TEST_CASE("promote between streams of different platforms, or from an empty channel, fails with one line, tree unchanged") {
  TempDir dir;
  Fixture f = make_fixture(dir);
  write_random(dir / "a.bin", 5000, 1);
  REQUIRE(publish(f, dir / "a.bin", {}, "beta").exit_code == 0);
  const std::string before = fingerprint(f.tree);
  RunResult cross = ops({"promote", f.tree, "--model", "clf", "--platform", "android", "--from", "beta", "--to",
                         "stable/ios", "--key", f.key});
  CHECK(cross.exit_code == 2);
  CHECK(cross.err.find("different platforms") != std::string::npos);
  CHECK(std::count(cross.err.begin(), cross.err.end(), '\n') == 1);
  RunResult empty = ops({"promote", f.tree, "--model", "clf", "--platform", "android", "--from", "nightly", "--to", "stable",
                         "--key", f.key});
  CHECK(empty.exit_code == 1);
  CHECK(empty.err.find("nothing to promote") != std::string::npos);
  CHECK(fingerprint(f.tree) == before);
}

TEST_CASE("publish --key K1 --key K2 signs with both keys, and the same key twice is refused") {
  TempDir dir;
  Fixture f = make_fixture(dir);
  const std::string second = dir / "second.pem";
  REQUIRE(run_cli({"keygen", "--out", second}).exit_code == 0);
  write_random(dir / "a.bin", 5000, 1);
  RunResult r = publish(f, dir / "a.bin", {"--key", second});
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  auto sm = parse_signed_manifest(read_text(f.tree + "/manifests/clf/stable/android.json"));
  REQUIRE(sm.ok());
  CHECK(sm->signatures.size() == 2);
  std::vector<PublicKey> both = {PublicKey::from_pem_file(f.pub).value(), PublicKey::from_pem_file(second + ".pub").value()};
  CHECK(verify_signatures(*sm, both, 2).ok());
  write_random(dir / "b.bin", 5000, 2);
  RunResult twice = publish(f, dir / "b.bin", {"--key", f.key});
  CHECK(twice.exit_code == 1);
  CHECK(twice.err.find("the same key is given twice") != std::string::npos);
  // Threshold signing on the fleet commands too.
  RunResult rollout = ops({"rollout", f.tree, "--model", "clf", "--platform", "android", "--percent", "50", "--key", f.key,
                           "--key", second});
  REQUIRE_MESSAGE(rollout.exit_code == 0, rollout.err);
  auto sm2 = parse_signed_manifest(read_text(f.tree + "/manifests/clf/stable/android.json"));
  CHECK(verify_signatures(*sm2, both, 2).ok());
}

TEST_CASE("rollout, rollback and promote of a file stored as parts write both formats under one version number") {
  TempDir dir;
  Fixture f = make_fixture(dir);
  set_file_limit(f.tree, 100000);
  write_random(dir / "big.bin", 350000, 1);  // incompressible: 4 parts
  write_random(dir / "small.bin", 20000, 2);
  REQUIRE(publish(f, dir / "big.bin").exit_code == 0);
  REQUIRE(publish(f, dir / "small.bin").exit_code == 0);
  auto doc_v2 = [&](const std::string& channel, uint64_t version) {
    auto sm = parse_signed_manifest_v2(
        read_text(f.tree + "/v2/manifests/clf/" + channel + "/android/" + std::to_string(version) + ".json"));
    REQUIRE_MESSAGE(sm.ok(), sm.status().message());
    return sm->manifest;
  };
  auto doc_v1 = [&](const std::string& channel, uint64_t version) {
    auto sm = parse_signed_manifest(
        read_text(f.tree + "/manifests/clf/" + channel + "/android/" + std::to_string(version) + ".json"));
    REQUIRE_MESSAGE(sm.ok(), sm.status().message());
    return sm->manifest;
  };
  auto requires_format2 = [](const Manifest& m) {
    const auto& fs = m.requirements.features;
    return std::find(fs.begin(), fs.end(), "modelcast-format-2") != fs.end();
  };
  // Both current documents name the newest version, and are copies of its versioned files.
  auto check_current = [&](const std::string& channel, uint64_t version) {
    const std::string v1 = f.tree + "/manifests/clf/" + channel + "/android";
    const std::string v2 = f.tree + "/v2/manifests/clf/" + channel + "/android";
    CHECK(read_text(v1 + ".json") == read_text(v1 + "/" + std::to_string(version) + ".json"));
    CHECK(read_text(v2 + ".json") == read_text(v2 + "/" + std::to_string(version) + ".json"));
  };
  const std::vector<BlobPart> parts = doc_v2("stable", 1).files.at(0).blobs.at(0).parts;
  REQUIRE(parts.size() == 4);

  RunResult roll = ops({"rollout", f.tree, "--model", "clf", "--platform", "android", "--percent", "30", "--key", f.key});
  REQUIRE_MESSAGE(roll.exit_code == 0, roll.err);
  REQUIRE(doc_v2("stable", 3).rollout.has_value());
  CHECK(doc_v2("stable", 3).rollout->percent == 30);
  CHECK(doc_v1("stable", 3).rollout_percent == 30);
  check_current("stable", 3);

  RunResult back = ops({"rollback", f.tree, "--model", "clf", "--platform", "android", "--to-version", "1", "--key", f.key});
  REQUIRE_MESSAGE(back.exit_code == 0, back.err);
  ManifestV2 v4 = doc_v2("stable", 4);
  CHECK(v4.version == 4);
  CHECK_FALSE(v4.rollout.has_value());
  REQUIRE(v4.files.size() == 1);
  CHECK(v4.files[0].blobs.at(0).url.empty());
  CHECK(v4.files[0].blobs.at(0).parts.size() == parts.size());
  CHECK(v4.files[0].blobs.at(0).parts.back().sha256 == parts.back().sha256);
  CHECK(v4.requirements.features == doc_v2("stable", 1).requirements.features);
  CHECK(requires_format2(doc_v1("stable", 4)));  // format 1 readers are refused cleanly
  CHECK_FALSE(requires_format2(doc_v1("stable", 3)));
  check_current("stable", 4);

  RunResult promote = ops({"promote", f.tree, "--model", "clf", "--platform", "android", "--from", "stable", "--to", "beta",
                           "--rollout", "10", "--key", f.key});
  REQUIRE_MESSAGE(promote.exit_code == 0, promote.err);
  ManifestV2 beta = doc_v2("beta", 1);
  CHECK(beta.channel == "beta");
  CHECK(beta.files.at(0).blobs.at(0).parts.size() == parts.size());
  REQUIRE(beta.rollout.has_value());
  CHECK(beta.rollout->percent == 10);
  CHECK(requires_format2(doc_v1("beta", 1)));
  check_current("beta", 1);
  for (const auto& p : read_commit(f.tree, "HEAD").changed_paths) CHECK(p.rfind("parts/", 0) != 0);
  CHECK(dirty_paths(f.tree) == 0);
  RunResult verify = run_cli({"verify", f.tree});
  CHECK_MESSAGE(verify.exit_code == 0, std::string(verify.out + verify.err));
}

TEST_CASE("a --key the tree does not trust is refused by every signing command before anything is written") {
  TempDir dir;
  Fixture f = make_fixture(dir);
  write_random(dir / "a.bin", 5000, 1);
  // A tree that trusts no key yet trusts the signer of its first publish, and says so.
  RunResult first = publish(f, dir / "a.bin", {}, "beta");
  REQUIRE(first.exit_code == 0);
  CHECK(first.err.find("now trusts key " + f.key_id + " (the tree's first key)") != std::string::npos);
  REQUIRE(publish(f, dir / "a.bin").exit_code == 0);
  const std::string other = dir / "other.pem";
  REQUIRE(run_cli({"keygen", "--out", other}).exit_code == 0);
  write_random(dir / "b.bin", 5000, 2);
  const std::string before = fingerprint(f.tree);
  auto refused = [&](const RunResult& r) {
    CHECK(r.exit_code == 1);
    CHECK_MESSAGE(std::count(r.err.begin(), r.err.end(), '\n') == 1, r.err);
    CHECK_MESSAGE(r.err.find("is not trusted by") != std::string::npos, r.err);
    CHECK(r.err.find("modelcast key add") != std::string::npos);
    CHECK(fingerprint(f.tree) == before);
  };
  const std::vector<std::string> stream = {"--model", "clf", "--platform", "android"};
  auto with = [&](std::vector<std::string> args, const std::vector<std::string>& tail) {
    args.insert(args.end(), tail.begin(), tail.end());
    return args;
  };
  const std::vector<std::string> publish_other = with({"publish", f.tree, "--config", f.config, "--key", other, "--quiet"},
                                                      with(stream, {dir / "b.bin"}));
  RunResult p = run_cli(publish_other);
  refused(p);
  CHECK(p.err.find("--trust-new-key") != std::string::npos);
  refused(run_cli(with({"rollout", f.tree, "--percent", "20", "--key", other}, stream)));
  refused(run_cli(with({"rollback", f.tree, "--to-version", "1", "--key", other}, stream)));
  refused(run_cli(with({"promote", f.tree, "--from", "beta", "--to", "stable", "--key", other}, stream)));
  // A trusted key beside it does not make it trusted: devices would check every signature.
  refused(run_cli(with({"rollout", f.tree, "--percent", "20", "--key", f.key, "--key", other}, stream)));

  // Said explicitly, the new key is trusted (and named on stderr).
  RunResult trusted = run_cli(with(publish_other, {"--trust-new-key"}));
  REQUIRE_MESSAGE(trusted.exit_code == 0, trusted.err);
  const std::string other_id = PublicKey::from_pem_file(other + ".pub").value().key_id();
  CHECK(trusted.err.find("now trusts key " + other_id) != std::string::npos);
  const Json settings = Json::parse(read_text(f.tree + "/modelcast.json"));
  CHECK(settings.at("trusted_keys") == Json::array({f.key_id, other_id}));
  CHECK(read_text(f.tree + "/keys/" + other_id + ".pub") == read_text(other + ".pub"));
  RunResult verify = run_cli({"verify", f.tree});
  CHECK_MESSAGE(verify.exit_code == 0, std::string(verify.out + verify.err));
}
