// The file-system seam itself: the POSIX and in-memory implementations agree on the calls
// both sides make, reads refuse what is not a regular file (without blocking on a FIFO),
// and the power-loss wrapper drops exactly what a disk could lose.
#include <doctest/doctest.h>
#include <sys/stat.h>

#include "modelcast/file_system.h"
#include "modelcast/mem_file_system.h"
#include "power_loss_file_system.h"
#include "temp_dir.h"

using namespace modelcast;
using modelcast::testing::PowerLossFileSystem;
using modelcast::testing::TempDir;

namespace {

Status write(FileSystem& fs, const std::string& path, const std::string& data, bool sync) {
  MC_ASSIGN_OR_RETURN(auto f, fs.open_writable(path, WriteMode::kTruncate));
  MC_RETURN_IF_ERROR(f->append(data.data(), data.size()));
  if (sync) MC_RETURN_IF_ERROR(f->sync());
  return f->close();
}

std::string read(FileSystem& fs, const std::string& path) {
  auto text = fs.read_file(path, 1 << 20);
  return text.ok() ? *text : "<" + text.status().message() + ">";
}

// The same script on either implementation.
void exercise(FileSystem& fs, const std::string& root) {
  REQUIRE(fs.make_dirs(root + "/a/b").ok());
  REQUIRE(write(fs, root + "/a/b/f", "hello", true).ok());
  CHECK(read(fs, root + "/a/b/f") == "hello");
  CHECK(fs.write_new_file(root + "/a/b/f", "again").code() == StatusCode::kExists);
  REQUIRE(fs.write_file_atomic(root + "/a/g", "atomic").ok());
  CHECK(read(fs, root + "/a/g") == "atomic");
  REQUIRE(fs.link(root + "/a/b/f", root + "/a/h").ok());
  CHECK(fs.lstat(root + "/a/h")->links == 2);
  CHECK(fs.lstat(root + "/a/h")->inode == fs.lstat(root + "/a/b/f")->inode);
  CHECK(fs.link(root + "/a/b/f", root + "/a/h").code() == StatusCode::kExists);
  REQUIRE(fs.symlink("b/f", root + "/a/s").ok());
  CHECK(*fs.read_link(root + "/a/s") == "b/f");
  CHECK(fs.lstat(root + "/a/s")->type == FileType::kSymlink);
  CHECK(fs.stat(root + "/a/s")->type == FileType::kRegular);
  CHECK(read(fs, root + "/a/s") == "hello");
  // A symlink is refused where the caller asks for the file itself, and never written through.
  CHECK(fs.open_readable(root + "/a/s", false).status().code() == StatusCode::kInvalidArgument);
  CHECK(!fs.open_writable(root + "/a/s", WriteMode::kTruncate).ok());
  CHECK(read(fs, root + "/a/b/f") == "hello");
  CHECK(fs.open_readable(root + "/a/b").status().code() == StatusCode::kInvalidArgument);
  REQUIRE(fs.rename(root + "/a/g", root + "/a/b/f").ok());
  CHECK(read(fs, root + "/a/b/f") == "atomic");
  CHECK(fs.lstat(root + "/a/h")->links == 1);  // the old f lost its second name
  CHECK(*fs.list_dir(root + "/a") == std::vector<std::string>{"b", "h", "s"});
  CHECK(fs.list_dir(root + "/nope").status().code() == StatusCode::kNotFound);
  CHECK(fs.read_file(root + "/a/b/f", 3).status().code() == StatusCode::kCorruption);
  REQUIRE(fs.truncate(root + "/a/h", 2).ok());
  CHECK(read(fs, root + "/a/h") == "he");
  REQUIRE(fs.remove_all(root + "/a").ok());
  CHECK(!fs.exists(root + "/a"));
  CHECK(fs.remove_all(root + "/a").ok());
  {
    auto held = fs.lock(root + "/lock", false);
    REQUIRE(held.ok());
    CHECK(fs.lock(root + "/lock", false).status().code() == StatusCode::kBusy);
    CHECK(fs.lock_shared(root + "/lock", false).status().code() == StatusCode::kBusy);
  }
  // Shared holders coexist and keep an exclusive one out until the last lets go.
  auto reader1 = fs.lock_shared(root + "/lock", false);
  auto reader2 = fs.lock_shared(root + "/lock", false);
  REQUIRE(reader1.ok());
  REQUIRE(reader2.ok());
  CHECK(fs.lock(root + "/lock", false).status().code() == StatusCode::kBusy);
  *reader1 = FileLock();
  CHECK(fs.lock(root + "/lock", false).status().code() == StatusCode::kBusy);
  *reader2 = FileLock();
  CHECK(fs.lock(root + "/lock", false).ok());
  // A lock file is never opened through a symlink.
  REQUIRE(fs.symlink(root + "/lock", root + "/link-to-lock").ok());
  CHECK(!fs.lock_shared(root + "/link-to-lock", false).ok());
}

}  // namespace

TEST_CASE("the POSIX and the in-memory file systems behave alike") {
  TempDir dir;
  exercise(*posix_file_system(), dir.path());
  MemFileSystem mem;
  exercise(mem, "/root");
}

TEST_CASE("reading a FIFO is refused at once instead of waiting for a writer") {
  TempDir dir;
  REQUIRE(::mkfifo((dir / "fifo").c_str(), 0644) == 0);
  auto opened = posix_file_system()->open_readable(dir / "fifo");
  CHECK(opened.status().code() == StatusCode::kInvalidArgument);
  CHECK(opened.status().message().find("not a regular file") != std::string::npos);
}

TEST_CASE("a power cut drops unsynced bytes and unsynced folder entries, and keeps what was synced") {
  auto mem = std::make_shared<MemFileSystem>();
  PowerLossFileSystem fs(mem, "/trash");
  REQUIRE(fs.make_dirs("/d").ok());
  REQUIRE(write(fs, "/d/kept", "synced", true).ok());
  REQUIRE(fs.sync_dir("/d").ok());
  REQUIRE(write(fs, "/d/old", "old", true).ok());
  REQUIRE(fs.sync_dir("/d").ok());

  // Entry synced, data not: the file is there, empty.
  REQUIRE(write(fs, "/d/empty", "lost", false).ok());
  REQUIRE(fs.sync_dir("/d").ok());
  // Appended after the last sync: cut back to the synced length.
  {
    auto f = fs.open_writable("/d/kept", WriteMode::kAppend);
    REQUIRE(f.ok());
    REQUIRE((*f)->append("+more", 5).ok());
  }
  // A rename and a removal whose folder was not synced come undone.
  REQUIRE(fs.write_file_atomic("/d/other", "x").ok());  // synced entirely: stays
  // Synced data, entry not synced: the file vanishes.
  REQUIRE(write(fs, "/d/new", "data", true).ok());
  REQUIRE(write(fs, "/d/tmp", "replacement", true).ok());
  REQUIRE(fs.rename("/d/tmp", "/d/old").ok());
  REQUIRE(fs.remove_all("/d/other").ok());
  CHECK(read(fs, "/d/old") == "replacement");

  REQUIRE(fs.power_loss().ok());
  CHECK(!mem->exists("/d/new"));
  CHECK(read(*mem, "/d/empty") == "");
  CHECK(read(*mem, "/d/kept") == "synced");
  CHECK(read(*mem, "/d/old") == "old");
  CHECK(!mem->exists("/d/tmp"));
  CHECK(read(*mem, "/d/other") == "x");
  CHECK(*mem->list_dir("/trash") == std::vector<std::string>{});
}

TEST_CASE("a crash point fails that call and every later one, until the power comes back") {
  auto mem = std::make_shared<MemFileSystem>();
  PowerLossFileSystem fs(mem, "/trash");
  fs.crash_before(2);
  CHECK(fs.make_dirs("/d").ok());
  CHECK(write(fs, "/d/a", "x", false).code() == StatusCode::kIOError);  // create ok, append is point 2
  CHECK(fs.crashed());
  CHECK(!fs.sync_dir("/d").ok());
  CHECK(fs.operations() == 2);
  REQUIRE(fs.power_loss().ok());
  CHECK(!mem->exists("/d/a"));
  CHECK(fs.sync_dir("/d").ok());
}
