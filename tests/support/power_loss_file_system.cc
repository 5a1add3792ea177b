#include "power_loss_file_system.h"

#include <algorithm>

#include "modelcast/fs.h"

namespace modelcast::testing {

namespace {

// "a//b/" and "a/b" name one folder; sync_dir and parent_dir spell paths either way.
std::string normalize(const std::string& path) {
  std::string out;
  for (char c : path) {
    if (c == '/' && !out.empty() && out.back() == '/') continue;
    out += c;
  }
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

bool under(const std::string& path, const std::string& dir) {
  return path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 && path[dir.size()] == '/';
}

// A file open for writing: every append and sync is a crash point; the wrapper learns how
// much of the file a sync made durable.
class PowerLossFile : public WritableFile {
 public:
  PowerLossFile(std::unique_ptr<WritableFile> inner, PowerLossFileSystem* fs, uint64_t inode, std::string path,
                uint64_t size)
      : inner_(std::move(inner)), fs_(fs), inode_(inode), path_(std::move(path)), size_(size) {}
  Status append(const char* data, size_t size) override {
    MC_RETURN_IF_ERROR(fs_->count("append " + path_));
    MC_RETURN_IF_ERROR(inner_->append(data, size));
    size_ += size;
    return OkStatus();
  }
  Status sync() override {
    MC_RETURN_IF_ERROR(fs_->count("fsync " + path_));
    // Not passed on: what survives is modelled here, and a real fsync would only cost time.
    fs_->synced(inode_, size_);
    return OkStatus();
  }
  Status close() override { return inner_->close(); }

 private:
  std::unique_ptr<WritableFile> inner_;
  PowerLossFileSystem* fs_;
  uint64_t inode_;
  std::string path_;
  uint64_t size_;
};

}  // namespace

PowerLossFileSystem::PowerLossFileSystem(std::shared_ptr<FileSystem> target, std::string trash_dir)
    : FileSystemWrapper(std::move(target)), trash_dir_(normalize(trash_dir)) {
  (void)this->target().make_dirs(trash_dir_);
}

void PowerLossFileSystem::crash_before(int64_t n) {
  std::lock_guard<std::mutex> lock(mu_);
  crash_at_ = n;
  ops_ = 0;
  crashed_ = false;
}

int64_t PowerLossFileSystem::operations() const {
  std::lock_guard<std::mutex> lock(mu_);
  return ops_;
}

bool PowerLossFileSystem::crashed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return crashed_;
}

Status PowerLossFileSystem::count(const std::string& what) {
  std::lock_guard<std::mutex> lock(mu_);
  return count_locked(what);
}

Status PowerLossFileSystem::count_locked(const std::string& what) {
  if (crashed_ || (crash_at_ >= 0 && ops_ >= crash_at_)) {
    crashed_ = true;
    return error(StatusCode::kIOError, what + ": power lost at crash point " + std::to_string(crash_at_));
  }
  ++ops_;
  return OkStatus();
}

void PowerLossFileSystem::synced(uint64_t inode, uint64_t size) {
  std::lock_guard<std::mutex> lock(mu_);
  FileData& d = files_[inode];
  d.synced_size = size;
  d.durable.reset();
}

// Before a truncation: keeps the durable bytes it may drop.
void PowerLossFileSystem::snapshot_locked(uint64_t inode, const std::string& path) {
  FileData& d = files_[inode];
  if (d.durable) return;
  std::string bytes;
  if (auto text = target().read_file(path, d.synced_size); text.ok()) bytes = std::move(text).value();
  d.durable = bytes.substr(0, d.synced_size);
}

// A file first seen now counts as durable as it stands (written before we watched).
void PowerLossFileSystem::track_locked(uint64_t inode, const std::string& path, uint64_t size) {
  auto [it, inserted] = files_.try_emplace(inode);
  if (inserted) it->second.synced_size = size;
  it->second.paths.insert(path);
}

Result<std::string> PowerLossFileSystem::move_aside_locked(const std::string& path) {
  std::string saved = trash_dir_ + "/" + std::to_string(trash_seq_++);
  MC_RETURN_IF_ERROR(target().rename(path, saved));
  return saved;
}

Result<std::unique_ptr<WritableFile>> PowerLossFileSystem::open_writable(const std::string& path, WriteMode mode,
                                                                         unsigned permissions) {
  std::lock_guard<std::mutex> lock(mu_);
  MC_RETURN_IF_ERROR(count_locked("create " + path));
  auto before = target().lstat(path);
  const bool existed = before.ok();
  if (existed && before->type == FileType::kRegular) {
    track_locked(before->inode, path, before->size);
    if (mode == WriteMode::kTruncate) snapshot_locked(before->inode, path);
  }
  MC_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> file, target().open_writable(path, mode, permissions));
  auto info = target().lstat(path);
  if (!info.ok()) return info.status();
  if (!existed) {
    pending_.push_back({EntryChange::kCreated, normalize(parent_dir(path)), normalize(path), "", ""});
    FileData& d = files_[info->inode];
    d.synced_size = 0;
    d.durable.reset();
    d.paths.insert(path);
  }
  return std::unique_ptr<WritableFile>(new PowerLossFile(std::move(file), this, info->inode, path, info->size));
}

Status PowerLossFileSystem::rename(const std::string& from, const std::string& to) {
  std::lock_guard<std::mutex> lock(mu_);
  MC_RETURN_IF_ERROR(count_locked("rename " + from + " -> " + to));
  if (!target().lstat(from).ok()) return target().rename(from, to);  // the target's own error
  std::string saved;
  auto replaced = target().lstat(to);
  if (replaced.ok() && replaced->type != FileType::kDirectory) {
    MC_ASSIGN_OR_RETURN(saved, move_aside_locked(to));
  }
  Status s = target().rename(from, to);
  if (!s.ok()) {
    if (!saved.empty()) (void)target().rename(saved, to);
    return s;
  }
  pending_.push_back({EntryChange::kRenamed, normalize(parent_dir(to)), normalize(to), normalize(from), saved});
  const std::string f = normalize(from), t = normalize(to);
  for (auto& [inode, d] : files_) {
    std::set<std::string> more;
    for (const auto& p : d.paths) {
      std::string n = normalize(p);
      if (n == f) more.insert(t);
      else if (under(n, f)) more.insert(t + n.substr(f.size()));
    }
    d.paths.insert(more.begin(), more.end());
  }
  return OkStatus();
}

Status PowerLossFileSystem::link(const std::string& existing, const std::string& new_path) {
  std::lock_guard<std::mutex> lock(mu_);
  MC_RETURN_IF_ERROR(count_locked("link " + new_path));
  MC_RETURN_IF_ERROR(target().link(existing, new_path));
  pending_.push_back({EntryChange::kCreated, normalize(parent_dir(new_path)), normalize(new_path), "", ""});
  if (auto info = target().lstat(new_path); info.ok() && files_.count(info->inode)) files_[info->inode].paths.insert(new_path);
  return OkStatus();
}

Status PowerLossFileSystem::symlink(const std::string& target_path, const std::string& link_path) {
  std::lock_guard<std::mutex> lock(mu_);
  MC_RETURN_IF_ERROR(count_locked("symlink " + link_path));
  MC_RETURN_IF_ERROR(target().symlink(target_path, link_path));
  pending_.push_back({EntryChange::kCreated, normalize(parent_dir(link_path)), normalize(link_path), "", ""});
  return OkStatus();
}

Status PowerLossFileSystem::make_dirs(const std::string& dir) {
  std::lock_guard<std::mutex> lock(mu_);
  MC_RETURN_IF_ERROR(count_locked("mkdir " + dir));
  return target().make_dirs(dir);
}

Status PowerLossFileSystem::sync_dir(const std::string& dir) {
  std::lock_guard<std::mutex> lock(mu_);
  MC_RETURN_IF_ERROR(count_locked("fsync " + dir));
  MC_ASSIGN_OR_RETURN(FileInfo info, target().stat(dir));  // modelled, not passed on (as for files)
  if (info.type != FileType::kDirectory) return error(StatusCode::kIOError, dir + ": fsync: not a folder");
  const std::string d = normalize(dir);
  auto durable = [&](const EntryChange& c) { return c.dir == d; };
  for (const auto& c : pending_)
    if (durable(c) && !c.saved.empty()) (void)target().remove_all(c.saved);  // gone for good
  pending_.erase(std::remove_if(pending_.begin(), pending_.end(), durable), pending_.end());
  return OkStatus();
}

Status PowerLossFileSystem::remove_all(const std::string& path) {
  std::lock_guard<std::mutex> lock(mu_);
  MC_RETURN_IF_ERROR(count_locked("remove " + path));
  if (!target().lstat(path).ok()) return OkStatus();
  MC_ASSIGN_OR_RETURN(std::string saved, move_aside_locked(path));
  pending_.push_back({EntryChange::kRemoved, normalize(parent_dir(path)), normalize(path), "", saved});
  return OkStatus();
}

Status PowerLossFileSystem::truncate(const std::string& path, uint64_t size) {
  std::lock_guard<std::mutex> lock(mu_);
  MC_RETURN_IF_ERROR(count_locked("truncate " + path));
  MC_ASSIGN_OR_RETURN(FileInfo info, target().lstat(path));
  track_locked(info.inode, path, info.size);
  if (size < files_[info.inode].synced_size) snapshot_locked(info.inode, path);
  return target().truncate(path, size);
}

// Puts the durable bytes back at whichever of its names the file still has.
void PowerLossFileSystem::restore_data_locked(uint64_t inode, const FileData& d) {
  for (const auto& path : d.paths) {
    auto info = target().lstat(path);
    if (!info.ok() || info->inode != inode || info->type != FileType::kRegular) continue;
    if (!d.durable && info->size <= d.synced_size) return;
    (void)target().chmod(path, 0644);  // blobs are 0444
    if (d.durable) {
      (void)target().truncate(path, 0);
      if (auto f = target().open_writable(path, WriteMode::kAppend); f.ok()) {
        (void)(*f)->append(d.durable->data(), d.durable->size());
        (void)(*f)->close();
      }
    } else {
      (void)target().truncate(path, d.synced_size);
    }
    (void)target().chmod(path, info->mode);
    return;
  }
}

Status PowerLossFileSystem::power_loss() {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = pending_.rbegin(); it != pending_.rend(); ++it) {
    const EntryChange& c = *it;
    switch (c.kind) {
      case EntryChange::kCreated:
        (void)target().remove_all(c.path);
        break;
      case EntryChange::kRemoved:
        (void)target().remove_all(c.path);
        (void)target().rename(c.saved, c.path);
        break;
      case EntryChange::kRenamed:
        if (target().lstat(c.path).ok()) (void)target().rename(c.path, c.from);
        if (!c.saved.empty()) (void)target().rename(c.saved, c.path);
        break;
    }
  }
  for (const auto& [inode, d] : files_) restore_data_locked(inode, d);
  pending_.clear();
  files_.clear();
  MC_RETURN_IF_ERROR(target().remove_all(trash_dir_));
  MC_RETURN_IF_ERROR(target().make_dirs(trash_dir_));
  crash_at_ = -1;
  crashed_ = false;
  ops_ = 0;
  return OkStatus();
}

}  // namespace modelcast::testing
