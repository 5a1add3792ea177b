#include "modelcast/mem_file_system.h"

#include <cerrno>
#include <ctime>
#include <deque>

namespace modelcast {

struct MemFileSystem::Node {
  FileType type = FileType::kRegular;
  std::string data;  // a file's content, a symlink's target
  std::map<std::string, std::shared_ptr<Node>> children;  // a folder's entries
  unsigned mode = 0644;
  uint64_t inode = 0;
  uint64_t links = 1;
};

// Where a path leads: the folder holding its last component and what is there (null when
// nothing is). The root has no parent.
struct MemFileSystem::Found {
  std::shared_ptr<Node> parent;
  std::string name;
  std::shared_ptr<Node> node;
};

namespace {

using NodePtr = std::shared_ptr<MemFileSystem::Node>;

std::deque<std::string> split_path(const std::string& path) {
  std::deque<std::string> out;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    std::string part = path.substr(start, end - start);
    if (!part.empty() && part != ".") out.push_back(part);
    start = end + 1;
  }
  return out;
}

Status not_regular(const std::string& path) {
  return error(StatusCode::kInvalidArgument, path + ": not a regular file");
}

// Removing an entry drops one link of the node, and of everything below a folder.
void drop_links(const NodePtr& node) {
  if (node->type == FileType::kDirectory)
    for (auto& [name, child] : node->children) drop_links(child);
  if (node->links > 0) --node->links;
}

class MemReadableFile : public ReadableFile {
 public:
  MemReadableFile(std::mutex* mu, NodePtr node, FileInfo info) : mu_(mu), node_(std::move(node)), info_(info) {}
  Result<size_t> read(char* buf, size_t size) override {
    std::lock_guard<std::mutex> lock(*mu_);
    if (offset_ >= node_->data.size()) return size_t{0};
    size_t n = std::min(size, node_->data.size() - offset_);
    node_->data.copy(buf, n, offset_);
    offset_ += n;
    return n;
  }
  const FileInfo& info() const override { return info_; }

 private:
  std::mutex* mu_;
  NodePtr node_;
  FileInfo info_;
  size_t offset_ = 0;
};

class MemWritableFile : public WritableFile {
 public:
  MemWritableFile(std::mutex* mu, NodePtr node, std::string path) : mu_(mu), node_(std::move(node)), path_(std::move(path)) {}
  Status append(const char* data, size_t size) override {
    if (closed_) return error(StatusCode::kIOError, path_ + ": append after close");
    std::lock_guard<std::mutex> lock(*mu_);
    node_->data.append(data, size);
    return OkStatus();
  }
  Status sync() override {
    if (closed_) return error(StatusCode::kIOError, path_ + ": sync after close");
    return OkStatus();
  }
  Status close() override {
    closed_ = true;
    return OkStatus();
  }

 private:
  std::mutex* mu_;
  NodePtr node_;
  std::string path_;
  bool closed_ = false;
};

}  // namespace

class MemFileSystem::Lock : public FileLock::Holder {
 public:
  Lock(MemFileSystem* fs, std::string path) : fs_(fs), path_(std::move(path)) {}
  ~Lock() override { fs_->release_lock(path_); }

 private:
  MemFileSystem* fs_;
  std::string path_;
};

MemFileSystem::MemFileSystem() : root_(std::make_shared<Node>()), now_(static_cast<int64_t>(std::time(nullptr))) {
  root_->type = FileType::kDirectory;
  root_->mode = 0755;
  root_->inode = next_inode_++;
}

MemFileSystem::~MemFileSystem() = default;

Result<MemFileSystem::Found> MemFileSystem::resolve(const std::string& path, bool follow_last, bool want_parent) const {
  std::deque<std::string> todo = split_path(path);
  std::vector<NodePtr> stack = {root_};
  int hops = 0;
  while (!todo.empty()) {
    std::string name = todo.front();
    todo.pop_front();
    if (name == "..") {
      if (stack.size() > 1) stack.pop_back();
      continue;
    }
    const NodePtr& dir = stack.back();
    if (dir->type != FileType::kDirectory) return errno_status(path, ENOTDIR);
    const bool last = todo.empty();
    auto it = dir->children.find(name);
    if (it == dir->children.end()) {
      if (last) return Found{dir, name, nullptr};
      return errno_status(path, ENOENT);
    }
    NodePtr node = it->second;
    if (node->type == FileType::kSymlink && (!last || follow_last)) {
      if (++hops > 40) return errno_status(path, ELOOP);
      std::deque<std::string> target = split_path(node->data);
      if (!node->data.empty() && node->data[0] == '/') stack.resize(1);
      todo.insert(todo.begin(), target.begin(), target.end());
      if (todo.empty()) return Found{nullptr, "", stack.back()};
      continue;
    }
    if (last) return Found{dir, name, node};
    stack.push_back(node);
  }
  if (want_parent) return error(StatusCode::kInvalidArgument, path + ": names the root folder");
  return Found{nullptr, "", stack.back()};
}

FileInfo MemFileSystem::info_of(const Node& node) const {
  FileInfo info;
  info.type = node.type;
  info.size = node.type == FileType::kDirectory ? 0 : node.data.size();
  info.links = node.links;
  info.inode = node.inode;
  info.mode = node.mode;
  return info;
}

Result<std::unique_ptr<ReadableFile>> MemFileSystem::open_readable(const std::string& path, bool follow_links) {
  std::lock_guard<std::mutex> lock(mu_);
  MC_ASSIGN_OR_RETURN(Found f, resolve(path, follow_links, false));
  if (!f.node) return errno_status(path, ENOENT);
  if (f.node->type != FileType::kRegular) return not_regular(path);
  return std::unique_ptr<ReadableFile>(new MemReadableFile(&mu_, f.node, info_of(*f.node)));
}

Result<std::vector<std::string>> MemFileSystem::list_dir(const std::string& dir) {
  std::lock_guard<std::mutex> lock(mu_);
  MC_ASSIGN_OR_RETURN(Found f, resolve(dir, true, false));
  if (!f.node) return errno_status(dir, ENOENT);
  if (f.node->type != FileType::kDirectory) return errno_status(dir, ENOTDIR);
  std::vector<std::string> names;
  for (const auto& [name, child] : f.node->children) names.push_back(name);
  return names;
}

Result<FileInfo> MemFileSystem::stat(const std::string& path) {
  std::lock_guard<std::mutex> lock(mu_);
  MC_ASSIGN_OR_RETURN(Found f, resolve(path, true, false));
  if (!f.node) return errno_status(path, ENOENT);
  return info_of(*f.node);
}

Result<FileInfo> MemFileSystem::lstat(const std::string& path) {
  std::lock_guard<std::mutex> lock(mu_);
  MC_ASSIGN_OR_RETURN(Found f, resolve(path, false, false));
  if (!f.node) return errno_status(path, ENOENT);
  return info_of(*f.node);
}

Result<std::string> MemFileSystem::read_link(const std::string& path) {
  std::lock_guard<std::mutex> lock(mu_);
  MC_ASSIGN_OR_RETURN(Found f, resolve(path, false, false));
  if (!f.node) return errno_status(path, ENOENT);
  if (f.node->type != FileType::kSymlink) return errno_status(path, EINVAL);
  return f.node->data;
}

Result<std::unique_ptr<WritableFile>> MemFileSystem::open_writable(const std::string& path, WriteMode mode,
                                                                   unsigned permissions) {
  std::lock_guard<std::mutex> lock(mu_);
  MC_ASSIGN_OR_RETURN(Found f, resolve(path, false, true));
  if (f.node) {
    if (mode == WriteMode::kCreateNew) return errno_status(path, EEXIST);
    if (f.node->type == FileType::kSymlink) return errno_status(path, ELOOP);
    if (f.node->type != FileType::kRegular) return errno_status(path, EISDIR);
    if (mode == WriteMode::kTruncate) f.node->data.clear();
  } else {
    f.node = std::make_shared<Node>();
    f.node->mode = permissions;
    f.node->inode = next_inode_++;
    f.parent->children[f.name] = f.node;
  }
  return std::unique_ptr<WritableFile>(new MemWritableFile(&mu_, f.node, path));
}

Status MemFileSystem::rename(const std::string& from, const std::string& to) {
  std::lock_guard<std::mutex> lock(mu_);
  MC_ASSIGN_OR_RETURN(Found src, resolve(from, false, true));
  if (!src.node) return errno_status("rename " + from + " -> " + to, ENOENT);
  MC_ASSIGN_OR_RETURN(Found dst, resolve(to, false, true));
  if (dst.node == src.node) return OkStatus();
  if (dst.node) {
    const bool src_dir = src.node->type == FileType::kDirectory;
    const bool dst_dir = dst.node->type == FileType::kDirectory;
    if (dst_dir && !src_dir) return errno_status("rename " + from + " -> " + to, EISDIR);
    if (!dst_dir && src_dir) return errno_status("rename " + from + " -> " + to, ENOTDIR);
    if (dst_dir && !dst.node->children.empty()) return errno_status("rename " + from + " -> " + to, ENOTEMPTY);
    drop_links(dst.node);
  }
  src.parent->children.erase(src.name);
  dst.parent->children[dst.name] = src.node;
  return OkStatus();
}

Status MemFileSystem::link(const std::string& existing, const std::string& new_path) {
  std::lock_guard<std::mutex> lock(mu_);
  MC_ASSIGN_OR_RETURN(Found src, resolve(existing, false, true));
  if (!src.node) return errno_status("link " + existing + " -> " + new_path, ENOENT);
  if (src.node->type == FileType::kDirectory) return errno_status("link " + existing + " -> " + new_path, EPERM);
  MC_ASSIGN_OR_RETURN(Found dst, resolve(new_path, false, true));
  if (dst.node) return errno_status("link " + existing + " -> " + new_path, EEXIST);
  dst.parent->children[dst.name] = src.node;
  ++src.node->links;
  return OkStatus();
}

Status MemFileSystem::symlink(const std::string& target, const std::string& link_path) {
  std::lock_guard<std::mutex> lock(mu_);
  MC_ASSIGN_OR_RETURN(Found dst, resolve(link_path, false, true));
  if (dst.node) return errno_status("symlink " + link_path, EEXIST);
  auto node = std::make_shared<Node>();
  node->type = FileType::kSymlink;
  node->data = target;
  node->mode = 0777;
  node->inode = next_inode_++;
  dst.parent->children[dst.name] = node;
  return OkStatus();
}

Status MemFileSystem::make_dirs(const std::string& dir) {
  std::lock_guard<std::mutex> lock(mu_);
  std::string prefix = !dir.empty() && dir[0] == '/' ? "" : ".";
  for (const auto& part : split_path(dir)) {
    prefix += "/" + part;
    MC_ASSIGN_OR_RETURN(Found f, resolve(prefix, true, false));
    if (f.node) {
      if (f.node->type != FileType::kDirectory) return error(StatusCode::kIOError, prefix + ": exists and is not a folder");
      continue;
    }
    auto node = std::make_shared<Node>();
    node->type = FileType::kDirectory;
    node->mode = 0755;
    node->inode = next_inode_++;
    f.parent->children[f.name] = node;
  }
  return OkStatus();
}

Status MemFileSystem::sync_dir(const std::string& dir) {
  std::lock_guard<std::mutex> lock(mu_);
  MC_ASSIGN_OR_RETURN(Found f, resolve(dir, true, false));
  if (!f.node) return errno_status(dir, ENOENT);
  if (f.node->type != FileType::kDirectory) return errno_status(dir, ENOTDIR);
  return OkStatus();
}

Status MemFileSystem::chmod(const std::string& path, unsigned mode) {
  std::lock_guard<std::mutex> lock(mu_);
  MC_ASSIGN_OR_RETURN(Found f, resolve(path, true, false));
  if (!f.node) return errno_status(path + ": chmod", ENOENT);
  f.node->mode = mode & 07777;
  return OkStatus();
}

Status MemFileSystem::remove_all(const std::string& path) {
  std::lock_guard<std::mutex> lock(mu_);
  auto f = resolve(path, false, true);
  if (!f.ok()) return f.status().code() == StatusCode::kNotFound ? OkStatus() : f.status();
  if (!f->node) return OkStatus();
  drop_links(f->node);
  f->parent->children.erase(f->name);
  return OkStatus();
}

Status MemFileSystem::truncate(const std::string& path, uint64_t size) {
  std::lock_guard<std::mutex> lock(mu_);
  MC_ASSIGN_OR_RETURN(Found f, resolve(path, true, false));
  if (!f.node) return errno_status(path + ": truncate", ENOENT);
  if (f.node->type != FileType::kRegular) return errno_status(path + ": truncate", EISDIR);
  f.node->data.resize(static_cast<size_t>(size));
  return OkStatus();
}

Result<FileLock> MemFileSystem::lock(const std::string& path, bool wait) { return take_lock(path, wait, false); }
Result<FileLock> MemFileSystem::lock_shared(const std::string& path, bool wait) { return take_lock(path, wait, true); }

Result<FileLock> MemFileSystem::take_lock(const std::string& path, bool wait, bool shared) {
  {
    std::lock_guard<std::mutex> guard(mu_);
    MC_ASSIGN_OR_RETURN(Found f, resolve(path, false, true));
    if (!f.node) {
      f.node = std::make_shared<Node>();
      f.node->inode = next_inode_++;
      f.parent->children[f.name] = f.node;
    } else if (f.node->type == FileType::kSymlink) {
      return errno_status(path, ELOOP);  // like O_NOFOLLOW
    }
  }
  std::unique_lock<std::mutex> guard(mu_);
  auto free_for_us = [&] {
    auto it = locked_.find(path);
    return it == locked_.end() || (shared && it->second > 0);
  };
  if (!wait && !free_for_us()) return error(StatusCode::kBusy, path + ": locked by another process");
  lock_cv_.wait(guard, free_for_us);
  if (shared)
    locked_[path]++;
  else
    locked_[path] = -1;
  return FileLock(std::make_unique<Lock>(this, path));
}

void MemFileSystem::release_lock(const std::string& path) {
  {
    std::lock_guard<std::mutex> guard(mu_);
    auto it = locked_.find(path);
    if (it != locked_.end() && --it->second <= 0) locked_.erase(it);
  }
  lock_cv_.notify_all();
}

}  // namespace modelcast
