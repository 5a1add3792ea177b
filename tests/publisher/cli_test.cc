// `modelcast init`, `keygen` and the usage contract, through the real binary.
#include <doctest/doctest.h>
#include <sys/stat.h>

#include "modelcast/fs.h"
#include "modelcast/sha256.h"
#include "modelcast/signing.h"
#include "publisher_test_util.h"

using namespace modelcast;
using namespace modelcast::test;

namespace {
bool one_error_line(const std::string& err) {
  return err.rfind("error: ", 0) == 0 && err.find('\n') == err.size() - 1;
}
}  // namespace

TEST_CASE("init creates a committed tree with settings, cache headers and an empty catalog") {
  TempDir dir;
  std::string tree = dir / "site";
  RunResult r = run_cli({"init", tree, "--base-url", "https://cdn.example.com/models/", "--json"});
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  Json out = parse_stdout_json(r);
  CHECK(out["status"] == "created");

  Json settings = Json::parse(read_text(tree + "/modelcast.json"));
  CHECK(settings["schema"] == "modelcast/tree/1");
  CHECK(settings["base_url"] == "https://cdn.example.com/models/");
  CHECK(settings["trusted_keys"].empty());
  CHECK(settings["defaults"]["channel"] == "stable");
  CHECK(settings["defaults"]["expires_in_days"] == 30);

  std::string headers = read_text(tree + "/_headers");
  CHECK(headers.find("/blobs/*\n  Cache-Control: public, max-age=31536000, immutable") != std::string::npos);
  CHECK(headers.find("/manifests/*\n  Cache-Control: public, max-age=60") != std::string::npos);

  CHECK(read_text(tree + "/.gitattributes").find("\n* -text\n") != std::string::npos);

  Json index = Json::parse(read_text(tree + "/index.json"));
  CHECK(index["schema"] == "modelcast/index/2");
  CHECK(index["models"].empty());
  CHECK(read_text(tree + "/index.html").find("Nothing published yet") != std::string::npos);

  CommitInfo head = read_commit(tree, "HEAD");
  CHECK(head.id == out["commit"]);
  CHECK(head.parents == 0);
  CHECK(head.message == "init modelcast tree");
  std::vector<std::string> expected = {".gitattributes", ".nojekyll", "_headers", "index.html", "index.json", "modelcast.json"};
  CHECK(head.changed_paths == expected);
  CHECK(read_commit(tree, "refs/heads/main").id == head.id);
  CHECK(dirty_paths(tree) == 0);
}

TEST_CASE("init refuses an existing tree, a non-empty folder and a file") {
  TempDir dir;
  std::string tree = dir / "tree";
  REQUIRE(run_cli({"init", tree}).exit_code == 0);
  std::string before = read_commit(tree, "HEAD").id;

  RunResult again = run_cli({"init", tree});
  CHECK(again.exit_code == 1);
  CHECK(one_error_line(again.err));
  CHECK(again.err.find("already a modelcast tree") != std::string::npos);
  CHECK(read_commit(tree, "HEAD").id == before);

  std::string busy = dir / "busy";
  REQUIRE(make_dirs(busy).ok());
  write_text(busy + "/notes.txt", "keep me");
  RunResult non_empty = run_cli({"init", busy});
  CHECK(non_empty.exit_code == 1);
  CHECK(non_empty.err.find("not empty") != std::string::npos);
  CHECK(read_text(busy + "/notes.txt") == "keep me");

  write_text(dir / "plain", "x");
  CHECK(run_cli({"init", dir / "plain"}).exit_code == 1);
}

TEST_CASE("keygen writes a 0600 private key and a public key whose id it prints") {
  TempDir dir;
  std::string key = dir / "release.pem";
  RunResult r = run_cli({"keygen", "--out", key, "--json"});
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  Json out = parse_stdout_json(r);
  struct stat st;
  REQUIRE(::stat(key.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  auto priv = PrivateKey::from_pem_file(key);
  auto pub = PublicKey::from_pem_file(key + ".pub");
  REQUIRE(priv.ok());
  REQUIRE(pub.ok());
  CHECK(pub->raw() == priv->public_key().raw());
  // The key id is the hex SHA-256 of the raw 32-byte public key (FORMAT.md).
  REQUIRE(pub->raw().size() == 32);
  CHECK(out["keyid"] == sha256_hex(pub->raw()));
  CHECK(out["public_key"] == key + ".pub");

  RunResult plain = run_cli({"keygen", "--out", dir / "other.pem"});
  REQUIRE(plain.exit_code == 0);
  CHECK(plain.out.size() == 65);  // 64 hex digits and a newline
}

TEST_CASE("keygen never overwrites a key or its public half") {
  TempDir dir;
  std::string key = dir / "k.pem";
  REQUIRE(run_cli({"keygen", "--out", key}).exit_code == 0);
  std::string original = read_text(key);
  RunResult again = run_cli({"keygen", "--out", key});
  CHECK(again.exit_code == 1);
  CHECK(one_error_line(again.err));
  CHECK(again.err.find("refusing to overwrite") != std::string::npos);
  CHECK(read_text(key) == original);

  // Only the .pub exists: still refused, and no private key is left behind.
  std::string lone = dir / "lone.pem";
  write_text(lone + ".pub", "not mine");
  CHECK(run_cli({"keygen", "--out", lone}).exit_code == 1);
  CHECK_FALSE(path_exists(lone));
  CHECK(read_text(lone + ".pub") == "not mine");
}

TEST_CASE("usage errors exit 2 with one error line; --help exits 0") {
  CHECK(run_cli({}).exit_code == 2);
  CHECK(run_cli({"frobnicate"}).exit_code == 2);
  RunResult missing = run_cli({"keygen"});
  CHECK(missing.exit_code == 2);
  CHECK(one_error_line(missing.err));
  RunResult help = run_cli({"publish", "--help"});
  CHECK(help.exit_code == 0);
  CHECK(help.out.find("--no-wait") != std::string::npos);
  for (const char* cmd : {"init", "keygen", "verify", "diff"}) CHECK(run_cli({cmd, "--help"}).exit_code == 0);
}

TEST_CASE("an unknown command is named, with the closest command; --version prints the version") {
  RunResult typo = run_cli({"publsh", "site"});
  CHECK(typo.exit_code == 2);
  CHECK(one_error_line(typo.err));
  CHECK(typo.err.find("unknown command 'publsh' (did you mean 'publish'?)") != std::string::npos);
  RunResult far = run_cli({"frobnicate"});
  CHECK(far.exit_code == 2);
  CHECK(far.err.find("unknown command 'frobnicate'; the commands are ") != std::string::npos);
  CHECK(far.err.find("did you mean") == std::string::npos);
  // A terminal escape typed as a command is shown escaped, not sent to the terminal.
  RunResult hostile = run_cli({"\x1b]0;owned\x07"});
  CHECK(hostile.err.find('\x1b') == std::string::npos);
  CHECK(hostile.err.find("\\x1b") != std::string::npos);

  RunResult version = run_cli({"--version"});
  CHECK(version.exit_code == 0);
  CHECK(version.out == std::string("modelcast ") + MODELCAST_TEST_VERSION + "\n");
}

TEST_CASE("with --json an error is also one JSON object on stdout, usage and failure alike") {
  TempDir dir;
  RunResult usage = run_cli({"verify", "--json"});  // TREE missing
  CHECK(usage.exit_code == 2);
  Json u = parse_stdout_json(usage);
  CHECK(u["error"]["kind"] == "usage");
  CHECK(u["error"]["exit_code"] == 2);
  CHECK(usage.err.rfind("error: ", 0) == 0);

  RunResult failure = run_cli({"verify", dir / "no-tree", "--json"});
  CHECK(failure.exit_code == 1);
  Json f = parse_stdout_json(failure);
  CHECK(f["error"]["kind"] == "failure");
  CHECK(f["error"]["exit_code"] == 1);
  CHECK(f["error"]["message"].get<std::string>().find("not a modelcast tree") != std::string::npos);

  RunResult typo = run_cli({"verfy", "--json"});
  CHECK(typo.exit_code == 2);
  CHECK(parse_stdout_json(typo)["error"]["message"].get<std::string>().find("did you mean 'verify'") != std::string::npos);
}
