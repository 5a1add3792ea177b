// The crash walk of a publish: a real tree (libgit2 needs real files) behind a
// PowerLossFileSystem. For every write, fsync, rename, link and removal our code makes while
// publishing version 2, the power is cut just before it and everything a disk could lose is
// dropped. Right after the cut, `verify` may name only files the interrupted publish left
// uncommitted (nothing corrupt, nothing foreign); the restart (the next command's recovery,
// which finishes an interrupted version and commits it) must leave a tree that verifies
// clean, every committed version intact (its manifest on disk is the committed one and its
// blobs check out), and publishing again must work.
// libgit2's own writes (refs, index, small objects) are fsynced by libgit2 and not walked.
#include <doctest/doctest.h>

#include <cstdio>
#include <filesystem>

#include "git_repo.h"
#include "locked_tree.h"
#include "modelcast/blob_check.h"
#include "modelcast/signed_manifest.h"
#include "power_loss_file_system.h"
#include "publish.h"
#include "publisher_test_util.h"
#include "tree.h"
#include "verify.h"

using namespace modelcast;
using namespace modelcast::test;

namespace {

PublishOptions publish_options(const Fixture& f, const std::string& work) {
  PublishOptions o;
  o.tree = f.tree;
  o.model = "sentiment";
  o.platform = "android-arm64";
  o.config_path = f.config;
  o.key_paths = {f.key};
  o.files = {work + "/model.dat", work + "/labels.txt"};
  o.show_progress = false;
  o.wait_for_lock = false;
  return o;
}

// Every version the last commit holds: its manifest on disk is the committed text, and
// each blob it names checks out.
void check_committed_versions(const std::string& tree) {
  auto repo = GitRepo::open(tree);
  REQUIRE(repo.ok());
  auto head = repo->head();
  REQUIRE(head.ok());
  for (uint64_t v = 1; v <= 2; ++v) {
    std::string rel = TreeLayout::versioned_manifest("sentiment", "stable", "android-arm64", v);
    auto id = repo->blob_at(*head, rel);
    REQUIRE(id.ok());
    if (id->empty()) continue;
    auto committed = repo->read_blob(*id, kMaxManifestBytes);
    REQUIRE(committed.ok());
    CHECK(read_text(tree + "/" + rel) == *committed);
    auto parsed = parse_signed_manifest(*committed);
    REQUIRE(parsed.ok());
    for (const auto& file : parsed->manifest.files) {
      Status s = check_blob(*posix_file_system(), tree + "/" + file.url,
                            BlobCheck{file.encoding, file.sha256, file.size, file.stored_size});
      CHECK_MESSAGE(s.ok(), s.message());
    }
  }
}

// With `uncommitted_allowed`, problems that only say a file awaits the next command's
// commit are accepted.
void check_verifies(const std::string& tree, bool uncommitted_allowed = false) {
  VerifyOptions vo;
  vo.tree = tree;
  auto report = verify_tree(vo);
  REQUIRE(report.ok());
  std::string problems;
  for (const auto& p : report->problems)
    if (!uncommitted_allowed || p.find(": not committed; the next publish, refresh or gc commits it") == std::string::npos)
      problems += p + "\n";
  CHECK_MESSAGE(problems.empty(), problems);
}

}  // namespace

TEST_CASE("a power cut at any write, fsync or rename of a publish leaves a tree that verifies, committed versions intact") {
  // The starting point, copied for every crash point: a tree with version 1 committed.
  TempDir template_dir;
  Fixture f = make_fixture(template_dir);
  write_random(template_dir / "model.dat", 200 * 1000, 1);
  write_text(template_dir / "labels.txt", std::string(20000, 'x'));
  {
    auto first = publish(publish_options(f, template_dir.path()));
    REQUIRE_MESSAGE(first.ok(), first.status().message());
  }
  write_random(template_dir / "model.dat", 200 * 1000, 2);  // version 2's content

  int64_t points = 0, after_commit = 0, recovery_commits = 0;
  for (int64_t n = 0;; ++n) {
    CAPTURE(n);
    TempDir work;
    std::filesystem::copy(template_dir.path(), work.path(),
                          std::filesystem::copy_options::recursive | std::filesystem::copy_options::copy_symlinks |
                              std::filesystem::copy_options::overwrite_existing);
    Fixture wf = f;
    wf.tree = work / "tree";
    wf.key = work / "signing.pem";
    wf.config = work / "config.json";
    auto fs = std::make_shared<testing::PowerLossFileSystem>(posix_file_system(), work / "trash");
    PublishOptions o = publish_options(wf, work.path());
    o.file_system = fs;
    fs->crash_before(n);
    auto crashed_publish = publish(o);
    if (!fs->crashed()) {  // ran to its end before point n: every point walked
      CHECK_MESSAGE(crashed_publish.ok(), crashed_publish.status().message());
      points = n;
      break;
    }
    // A point after the commit (removing temporaries) fails only the cleanup.
    if (crashed_publish.ok()) ++after_commit;
    REQUIRE(fs->power_loss().ok());
    check_verifies(wf.tree, /*uncommitted_allowed=*/true);
    check_committed_versions(wf.tree);

    // The restart: the next command's recovery.
    {
      auto recovered = LockedTree::open(wf.tree, false, "publish");
      REQUIRE_MESSAGE(recovered.ok(), recovered.status().message());
      if (!recovered->recovered_commit().empty()) ++recovery_commits;
    }
    check_verifies(wf.tree);
    check_committed_versions(wf.tree);
    // The publisher restarts: publishing again completes the new content, as version 2 or,
    // when the crash left version 2's manifest on disk uncommitted, as version 3 (which
    // commits version 2 along with it).
    o.file_system = nullptr;
    auto again = publish(o);
    REQUIRE_MESSAGE(again.ok(), again.status().message());
    if (again->unchanged) {
      CHECK(again->version == 2);
    } else {
      CHECK((again->version == 2 || again->version == 3));
    }
    check_verifies(wf.tree);
    check_committed_versions(wf.tree);
  }
  MESSAGE("publish crash walk: " << points << " crash points walked (" << after_commit << " after the commit, "
                                 << recovery_commits << " restarts committed what the crash left)");
  std::printf("publish crash walk: %lld crash points walked (%lld after the commit, %lld recovery commits)\n",
              static_cast<long long>(points), static_cast<long long>(after_commit),
              static_cast<long long>(recovery_commits));
  CHECK(points > 20);
}

TEST_CASE("recovery finishes a version whose current manifest a power cut lost, so verify passes") {
  TempDir dir;
  Fixture f = make_fixture(dir);
  write_text(dir / "labels.txt", std::string(20000, 'x'));
  write_random(dir / "model.dat", 50000, 3);
  auto first = publish(publish_options(f, dir.path()));
  REQUIRE_MESSAGE(first.ok(), first.status().message());
  // What a cut between the two manifest writes leaves: version 2's immutable file, signed
  // and journalled, while the current manifest still says version 1.
  auto v1 = parse_signed_manifest(read_text(f.tree + "/" + first->manifest_path));
  REQUIRE(v1.ok());
  Manifest m = v1->manifest;
  m.version = 2;
  auto key = PrivateKey::from_pem_file(f.key);
  REQUIRE(key.ok());
  auto signed_text = sign_manifest(m, {&key.value()});
  REQUIRE(signed_text.ok());
  const std::string v2_rel = TreeLayout::versioned_manifest("sentiment", "stable", "android-arm64", 2);
  write_text(f.tree + "/" + v2_rel, *signed_text);
  write_text(f.tree + "/.git/modelcast/journal", v2_rel + "\n" + first->manifest_path + "\n");

  {
    auto recovered = LockedTree::open(f.tree, false, "publish");
    REQUIRE_MESSAGE(recovered.ok(), recovered.status().message());
    CHECK(!recovered->recovered_commit().empty());
  }  // releases the tree lock verify takes
  CHECK(read_text(f.tree + "/" + first->manifest_path) == *signed_text);
  check_verifies(f.tree);
  check_committed_versions(f.tree);
}
