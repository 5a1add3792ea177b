// PowerLossFileSystem: a FileSystemWrapper that can lose power (after leveldb's
// db/fault_injection_test.cc). It counts every call that changes the disk (creating,
// appending to, syncing, closing, renaming, linking, removing, truncating a file; making,
// syncing a folder) as a crash point. Armed with crash_before(n), operation n and every one
// after it fail, as if the process died there. power_loss() then undoes what a real disk
// could lose:
//   - the bytes of each file written since its last sync (a truncation since then is
//     undone too);
//   - every creation, link, symlink, rename and removal whose folder was not synced since
//     (the new name's folder for a rename).
// make_dirs counts as durable: its contract syncs each new folder into its parent.
// Syncs are recorded, not passed on to the target: the model decides what survives.
//
// Removed and replaced entries are moved aside into `trash_dir` (same file system) so they
// can come back; the trash is emptied by power_loss(). Works over any FileSystem (memory or
// the real disk). Thread-safe: one mutex serialises the bookkeeping.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "modelcast/file_system.h"

namespace modelcast::testing {

class PowerLossFileSystem : public FileSystemWrapper {
 public:
  PowerLossFileSystem(std::shared_ptr<FileSystem> target, std::string trash_dir);

  // Operation number n (0-based, counted from now) and all later ones fail; -1 disarms.
  void crash_before(int64_t n);
  int64_t operations() const;  // counted since the last crash_before / power_loss
  bool crashed() const;
  // Undoes everything not yet durable, empties the trash, disarms and resets the count.
  Status power_loss();

  Result<std::unique_ptr<WritableFile>> open_writable(const std::string& path, WriteMode mode,
                                                      unsigned permissions = 0644) override;
  Status rename(const std::string& from, const std::string& to) override;
  Status link(const std::string& existing, const std::string& new_path) override;
  Status symlink(const std::string& target, const std::string& link_path) override;
  Status make_dirs(const std::string& dir) override;
  Status sync_dir(const std::string& dir) override;
  Status remove_all(const std::string& path) override;
  Status truncate(const std::string& path, uint64_t size) override;

  // For the open files: one more crash point; data bookkeeping.
  Status count(const std::string& what);
  void synced(uint64_t inode, uint64_t size);

 private:
  // A change to a folder's entries, undone unless `dir` was synced after it.
  struct EntryChange {
    enum Kind { kCreated, kRemoved, kRenamed } kind;
    std::string dir;    // the folder whose sync makes it durable
    std::string path;   // created or removed path; a rename's new name
    std::string from;   // a rename's old name
    std::string saved;  // trash path of what was removed or replaced ("" when nothing)
  };
  // What a file's durable content is, as far as the wrapper knows.
  struct FileData {
    uint64_t synced_size = 0;
    std::optional<std::string> durable;  // set when a truncation may have dropped synced bytes
    std::set<std::string> paths;         // names it had, to find it after entries are undone
  };

  Status count_locked(const std::string& what);
  Result<std::string> move_aside_locked(const std::string& path);
  void snapshot_locked(uint64_t inode, const std::string& path);
  void track_locked(uint64_t inode, const std::string& path, uint64_t size);
  void restore_data_locked(uint64_t inode, const FileData& data);

  mutable std::mutex mu_;
  std::string trash_dir_;
  uint64_t trash_seq_ = 0;
  int64_t ops_ = 0;
  int64_t crash_at_ = -1;
  bool crashed_ = false;
  std::vector<EntryChange> pending_;
  std::map<uint64_t, FileData> files_;
};

}  // namespace modelcast::testing
