// `modelcast diff` between real publish commits, and the words its text and markdown share.
#include <doctest/doctest.h>

#include "display_text.h"
#include "modelcast/utf8.h"
#include "publisher_test_util.h"

using namespace modelcast;
using namespace modelcast::test;

TEST_CASE("diff summarises versions, files, labels and requirements between commits") {
  TempDir dir;
  Fixture f = make_fixture(dir);
  write_random(dir / "model.bin", 100000, 31);
  write_text(dir / "extra.txt", "extra\n");
  auto publish = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = {"publish", f.tree, "--model", "sent", "--platform", "android", "--config", f.config,
                                     "--key",   f.key};
    args.insert(args.end(), extra.begin(), extra.end());
    RunResult r = run_cli(args);
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  };
  publish({dir / "model.bin", dir / "extra.txt"});
  write_random(dir / "model.bin", 120000, 32);
  write_text(f.config, config_json({"negative", "neutral", "positive"}));
  publish({"--min-app-version", "2.4", "--min-os", "17.0", dir / "model.bin"});

  RunResult r = run_cli({"diff", f.tree, "--json"});
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  Json d = parse_stdout_json(r);
  REQUIRE(d["manifests"].size() == 1);
  const Json& m = d["manifests"][0];
  CHECK(m["model"] == "sent");
  CHECK(m["status"] == "changed");
  CHECK(m["version"] == Json::array({1, 2}));
  CHECK(m["files"]["removed"].size() == 1);
  CHECK(m["files"]["removed"][0]["path"] == "extra.txt");
  REQUIRE(m["files"]["changed"].size() == 1);
  CHECK(m["files"]["changed"][0]["path"] == "model.bin");
  CHECK(m["files"]["changed"][0]["size"] == Json::array({100000, 120000}));
  REQUIRE(m["config"]["outputs"]["changed"].size() == 1);
  const Json& labels = m["config"]["outputs"]["changed"][0]["labels"];
  CHECK(labels["added"] == Json::array({"neutral"}));
  CHECK(labels["removed"].empty());
  CHECK(m["config"]["outputs"]["changed"][0]["shape"] == Json::array({Json::array({1, 2}), Json::array({1, 3})}));
  CHECK(m["requires"]["min_app_version"] == Json::array({"", "2.4"}));
  // A minimum OS is read from the format 2 document (format 1 only requires modelcast-format-2).
  CHECK(m["requires"]["min_os_version"] == Json::array({"", "17.0"}));
  CHECK_FALSE(m["requires"].contains("features"));
  CHECK(d["keys"]["added"].empty());

  RunResult text = run_cli({"diff", f.tree});
  REQUIRE(text.exit_code == 0);
  CHECK(text.out.find("sent (stable/android): version 1 -> 2 [changed]") != std::string::npos);
  CHECK(text.out.find("output scores label count: 2 -> 3") != std::string::npos);
  CHECK(text.out.find("output scores label 1: positive -> neutral") != std::string::npos);
  CHECK(text.out.find("output scores label 2 added: positive") != std::string::npos);
  CHECK(text.out.find("file extra.txt removed") != std::string::npos);
  CHECK(text.out.find("file model.bin changed: 100.0 KB -> 120.0 KB") != std::string::npos);
  CHECK(text.out.find("signed by key " + f.key_id) != std::string::npos);
  CHECK(text.out.find("requires min_app_version: any -> 2.4") != std::string::npos);
  CHECK(text.out.find("requires min_os_version: any -> 17.0") != std::string::npos);

  // The first publish, against the tree's init commit: the manifest and the key appear.
  RunResult first = run_cli({"diff", f.tree, "HEAD~2", "HEAD~1", "--json"});
  REQUIRE_MESSAGE(first.exit_code == 0, first.err);
  Json d1 = parse_stdout_json(first);
  REQUIRE(d1["manifests"].size() == 1);
  CHECK(d1["manifests"][0]["status"] == "added");
  CHECK(d1["manifests"][0]["version"] == Json::array({nullptr, 1}));
  CHECK(d1["keys"]["added"] == Json::array({"keys/" + f.key_id + ".pub"}));

  RunResult init_only = run_cli({"diff", f.tree, "HEAD~2"});
  CHECK(init_only.exit_code == 0);

  RunResult bad = run_cli({"diff", f.tree, "no-such-rev"});
  CHECK(bad.exit_code == 1);
  CHECK(bad.err.find("no-such-rev") != std::string::npos);
}

namespace {

RunResult publish(const Fixture& f, const std::string& model, std::vector<std::string> extra) {
  std::vector<std::string> args = {"publish", f.tree, "--model", model, "--platform", "android", "--config", f.config,
                                   "--key",   f.key,  "--quiet"};
  args.insert(args.end(), extra.begin(), extra.end());
  return run_cli(args);
}

std::string output_of(const std::vector<std::string>& args) {
  RunResult r = run_cli(args);
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  return r.out;
}

}  // namespace

TEST_CASE("diff reads format 2: download sizes of parts and deltas, the rollout and its fallback") {
  TempDir dir;
  Fixture f = make_fixture(dir);
  set_file_limit(f.tree, 100000);
  // big.bin is over the limit (parts); small.bin changes only its tail, so version 2 has a
  // delta from version 1 (a base stored in parts gets none).
  write_random(dir / "big.bin", 250000, 3);
  write_random(dir / "small.bin", 60000, 4);
  REQUIRE(publish(f, "big", {dir / "big.bin", dir / "small.bin"}).exit_code == 0);
  std::string bytes = read_text(dir / "small.bin");
  for (size_t i = bytes.size() - 1000; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i * 7);
  write_text(dir / "small.bin", bytes);
  write_random(dir / "big.bin", 250000, 5);
  RunResult p2 = publish(f, "big", {"--rollout", "20", dir / "big.bin", dir / "small.bin"});
  REQUIRE_MESSAGE(p2.exit_code == 0, p2.err);

  Json d = parse_stdout_json(run_cli({"diff", f.tree, "--json"}));
  REQUIRE(d["manifests"].size() == 1);
  const Json& m = d["manifests"][0];
  REQUIRE(m["downloads"].size() == 2);
  const Json& big = m["downloads"][0];
  CHECK(big["path"] == "big.bin");
  CHECK(big["blob"]["parts"] == 3);
  const Json& small = m["downloads"][1];
  CHECK(small["path"] == "small.bin");
  CHECK(small["blob"]["parts"] == 0);
  REQUIRE(!small["deltas"].empty());
  CHECK(small["deltas"][0]["from_version"] == 1);
  CHECK(small["deltas"][0]["stored_size"].get<uint64_t>() < 10000);
  CHECK(m["rollout"] == Json::array({nullptr, 20}));
  CHECK(m["rollout_fallback"][1]["version"] == 1);
  CHECK(m["signers"] == Json::array({f.key_id}));
  CHECK(m["new_signers"].empty());
  CHECK(d["warnings"].empty());

  const std::string text = output_of({"diff", f.tree});
  CHECK(text.find("  download big.bin: 250.0 KB full (identity blob in 3 parts)\n") != std::string::npos);
  CHECK(text.find("  download small.bin: 60.0 KB full (identity blob); delta: ") != std::string::npos);
  CHECK(text.find(" from version 1 (") != std::string::npos);
  CHECK(text.find("  rollout: everyone -> 20%\n") != std::string::npos);
  CHECK(text.find("  rollout fallback: version 1, for devices outside the rollout with an older model or none (sha256 ") !=
        std::string::npos);
  const std::string md = output_of({"diff", f.tree, "--format", "markdown"});
  CHECK(md.find("- rollout: everyone → 20%\n") != std::string::npos);
  CHECK(md.find("- download `big.bin`: 250.0 KB full (`identity` blob in 3 parts)\n") != std::string::npos);

  // A refresh says what it is in both formats.
  RunResult rollout = run_cli({"rollout", f.tree, "--model", "big", "--platform", "android", "--percent", "20", "--key", f.key});
  CHECK(rollout.exit_code == 0);
  RunResult refresh = run_cli({"refresh", f.tree, "--key", f.key, "--within", "3650"});
  REQUIRE_MESSAGE(refresh.exit_code == 0, refresh.err);
  const std::string refreshed = output_of({"diff", f.tree});
  CHECK(refreshed.find("  files unchanged: devices download only the manifest\n") != std::string::npos);
  CHECK(refreshed.find("  content unchanged: re-signed as a new version\n") != std::string::npos);
  CHECK(refreshed.find("  rollout: 20% of devices, as before\n") != std::string::npos);
}

TEST_CASE("diff warns first about a key the tree did not trust before, and names every signer") {
  TempDir dir;
  Fixture f = make_fixture(dir);
  write_random(dir / "m.bin", 3000, 1);
  REQUIRE(publish(f, "m", {dir / "m.bin"}).exit_code == 0);
  const std::string other = dir / "other.pem";
  RunResult keygen = run_cli({"keygen", "--out", other});
  REQUIRE(keygen.exit_code == 0);
  const std::string other_id = keygen.out.substr(0, 64);
  write_random(dir / "m.bin", 3000, 2);
  RunResult p = run_cli({"publish", f.tree, "--model", "m", "--platform", "android", "--config", f.config, "--key", other,
                         "--trust-new-key", "--quiet", dir / "m.bin"});
  REQUIRE_MESSAGE(p.exit_code == 0, p.err);

  Json d = parse_stdout_json(run_cli({"diff", f.tree, "--json"}));
  CHECK(d["manifests"][0]["new_signers"] == Json::array({other_id}));
  CHECK(d["trusted_keys"]["added"] == Json::array({other_id}));
  const std::string md = output_of({"diff", f.tree, "--format", "markdown"});
  const size_t warning = md.find("> [!WARNING]\n> - **Signing:** `m` `stable/android` version 2 is signed by key `" + other_id +
                                 "`, which the tree did not trust before this change");
  CHECK(warning != std::string::npos);
  CHECK(warning < md.find("#### "));
  CHECK(md.find("the tree now trusts key `" + other_id + "`") != std::string::npos);
  CHECK(md.find("- signed by key `" + other_id + "`") != std::string::npos);
  const std::string text = output_of({"diff", f.tree});
  CHECK(text.find("warning: m (stable/android) version 2 is signed by key " + other_id) < text.find("m (stable/android): version"));

  // The key the tree already trusted raises no warning.
  write_random(dir / "m.bin", 3000, 3);
  REQUIRE(publish(f, "m", {dir / "m.bin"}).exit_code == 0);
  CHECK(output_of({"diff", f.tree, "--format", "markdown"}).find("WARNING") == std::string::npos);
}

TEST_CASE("diff: a renamed label is one line, an added output lists its labels") {
  TempDir dir;
  Fixture f = make_fixture(dir);
  write_random(dir / "m.bin", 3000, 1);
  REQUIRE(publish(f, "m", {dir / "m.bin"}).exit_code == 0);
  Json cfg = Json::parse(config_json({"negative", "wolf"}));
  cfg["outputs"].push_back({{"name", "kind"}, {"dtype", "float32"}, {"shape", {1, 2}}, {"labels", {"spam", "ham"}}});
  write_text(f.config, cfg.dump());
  RunResult p = publish(f, "m", {dir / "m.bin"});
  REQUIRE_MESSAGE(p.exit_code == 0, p.err);
  const std::string md = output_of({"diff", f.tree, "--format", "markdown"});
  CHECK(md.find("- output `scores` label 1: `positive` → `wolf`\n") != std::string::npos);
  CHECK(md.find("labels added") == std::string::npos);
  CHECK(md.find("labels removed") == std::string::npos);
  CHECK(md.find("- output `kind` added: `float32` `[1,2]`, 2 labels: `spam`, `ham`\n") != std::string::npos);
  const std::string text = output_of({"diff", f.tree});
  CHECK(text.find("  output scores label 1: positive -> wolf\n") != std::string::npos);
  CHECK(text.find("  output kind added: float32 [1,2], 2 labels: spam, ham\n") != std::string::npos);
}

TEST_CASE("diff shows control and bidirectional characters of labels escaped, and cuts long values between characters") {
  TempDir dir;
  Fixture f = make_fixture(dir);
  write_random(dir / "m.bin", 3000, 1);
  REQUIRE(publish(f, "m", {dir / "m.bin"}).exit_code == 0);
  const std::string hostile = "\x1b]0;owned\x07\x1b[2J";
  const std::string bidi = "abc\xe2\x80\xae" "cba";  // U+202E RIGHT-TO-LEFT OVERRIDE
  std::string long_label;
  for (int i = 0; i < 119; ++i) long_label += "\xc3\xa9";  // é: 238 bytes, cut at byte 120 would split one
  write_text(f.config, config_json({hostile, bidi}));
  REQUIRE(publish(f, "m", {dir / "m.bin"}).exit_code == 0);
  Json cfg = Json::parse(config_json({hostile, bidi}));
  cfg["metadata"]["note"] = "x" + long_label;
  write_text(f.config, cfg.dump());
  REQUIRE(publish(f, "m", {dir / "m.bin"}).exit_code == 0);

  for (const char* rev : {"HEAD~2", "HEAD~1"}) {
    for (const char* format : {"text", "markdown"}) {
      CAPTURE(rev);
      CAPTURE(format);
      const std::string out = output_of({"diff", f.tree, rev, "--format", format});
      CHECK(out.find('\x1b') == std::string::npos);
      CHECK(out.find('\x07') == std::string::npos);
      CHECK(out.find("\xe2\x80\xae") == std::string::npos);
      CHECK(is_valid_utf8(out));
      if (std::string(rev) == "HEAD~2") {
        CHECK(out.find("\\x1b]0;owned\\x07\\x1b[2J") != std::string::npos);
        CHECK(out.find("abc\\u{202E}cba") != std::string::npos);
      } else {
        CHECK(out.find("...") != std::string::npos);
      }
    }
  }
}

TEST_CASE("display_text escapes what a terminal or a bidi algorithm would act on, and nothing else") {
  CHECK(display_text("cat") == "cat");
  CHECK(display_text("chat noir é 猫 😀") == "chat noir é 猫 😀");
  CHECK(display_text("\x1b]0;owned\x07\x1b[2J") == "\\x1b]0;owned\\x07\\x1b[2J");
  CHECK(display_text("a\nb\tc\x7f") == "a\\x0ab\\x09c\\x7f");
  CHECK(display_text("\xc2\x9b" "31m") == "\\u{009B}31m");  // C1 CSI
  CHECK(display_text("\xe2\x81\xa6x\xe2\x81\xa9") == "\\u{2066}x\\u{2069}");
  CHECK(display_text("\xff\xfe") == "\\xff\\xfe");
  CHECK(truncate_utf8("abc", 3) == "abc");
  CHECK(truncate_utf8("ab\xc3\xa9", 3) == "ab...");
  CHECK(truncate_utf8("\xf0\x9f\x98\x80\xf0\x9f\x98\x80", 5) == "\xf0\x9f\x98\x80...");
}
