// MemFileSystem: a FileSystem held in memory, for tests that need no disk (after leveldb's
// helpers/memenv). Folders, regular files, hard links (shared content and a link count)
// and symlinks behave as on POSIX; sync is a no-op here (PowerLossFileSystem models what
// a sync keeps). Locks are held per object: two users of one MemFileSystem exclude each
// other. Thread-safe: one mutex guards the whole tree.
#pragma once

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "modelcast/file_system.h"

namespace modelcast {

class MemFileSystem : public FileSystem {
 public:
  MemFileSystem();
  ~MemFileSystem() override;

  Result<std::unique_ptr<ReadableFile>> open_readable(const std::string& path, bool follow_links = true) override;
  Result<std::vector<std::string>> list_dir(const std::string& dir) override;
  Result<FileInfo> stat(const std::string& path) override;
  Result<FileInfo> lstat(const std::string& path) override;
  Result<std::string> read_link(const std::string& path) override;
  Result<std::unique_ptr<WritableFile>> open_writable(const std::string& path, WriteMode mode,
                                                      unsigned permissions = 0644) override;
  Status rename(const std::string& from, const std::string& to) override;
  Status link(const std::string& existing, const std::string& new_path) override;
  Status symlink(const std::string& target, const std::string& link_path) override;
  Status make_dirs(const std::string& dir) override;
  Status sync_dir(const std::string& dir) override;
  Status chmod(const std::string& path, unsigned mode) override;
  Status remove_all(const std::string& path) override;
  Status truncate(const std::string& path, uint64_t size) override;
  Result<FileLock> lock(const std::string& path, bool wait) override;
  Result<FileLock> lock_shared(const std::string& path, bool wait) override;
  int64_t now_unix() const override { return now_; }

  void set_now(int64_t now) { now_ = now; }

  struct Node;

 private:
  class Lock;
  struct Found;
  Result<Found> resolve(const std::string& path, bool follow_last, bool want_parent) const;
  FileInfo info_of(const Node& node) const;
  Result<FileLock> take_lock(const std::string& path, bool wait, bool shared);
  void release_lock(const std::string& path);

  mutable std::mutex mu_;
  std::shared_ptr<Node> root_;
  uint64_t next_inode_ = 1;
  std::atomic<int64_t> now_;
  std::condition_variable lock_cv_;
  std::map<std::string, int> locked_;  // holders per lock path; -1: one exclusive holder
};

}  // namespace modelcast
