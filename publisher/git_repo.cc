#include "git_repo.h"

#include <fcntl.h>
#include <git2.h>
#include <git2/sys/odb_backend.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <vector>

namespace modelcast {

namespace {

// Priority of the blob-stream backend in the repository's object database: above the
// default loose (1) and pack (2) backends, so a git_odb_open_wstream would pick it too; it
// has no `write`, so small objects still go through libgit2's own loose backend.
constexpr int kStoredBackendPriority = 10;
constexpr size_t kStreamChunk = 1 << 20;

void ensure_libgit2() {
  static const bool initialised = [] {
    git_libgit2_init();
    // Objects, refs and the index are fsynced: a commit that returned survives power loss.
    git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, 1);
    return true;
  }();
  (void)initialised;
}

Status git_status(const std::string& what) {
  const git_error* e = git_error_last();
  return error(StatusCode::kIOError, "git: " + what + ": " + (e && e->message ? e->message : "unknown error"));
}

template <typename T, void (*Free)(T*)>
struct GitPtr {
  T* p = nullptr;
  GitPtr() = default;
  GitPtr(const GitPtr&) = delete;
  GitPtr& operator=(const GitPtr&) = delete;
  ~GitPtr() {
    if (p) Free(p);
  }
  T** out() { return &p; }
  T* get() const { return p; }
};

using Object = GitPtr<git_object, git_object_free>;
using Commit = GitPtr<git_commit, git_commit_free>;
using Tree = GitPtr<git_tree, git_tree_free>;
using TreeEntry = GitPtr<git_tree_entry, git_tree_entry_free>;
using Blob = GitPtr<git_blob, git_blob_free>;
using Index = GitPtr<git_index, git_index_free>;
using Signature = GitPtr<git_signature, git_signature_free>;
using Diff = GitPtr<git_diff, git_diff_free>;
using Reference = GitPtr<git_reference, git_reference_free>;
using OdbStream = GitPtr<git_odb_stream, git_odb_stream_free>;

std::string oid_hex(const git_oid* oid) {
  char buf[GIT_OID_HEXSZ + 1];
  git_oid_tostr(buf, sizeof buf, oid);
  return buf;
}

Result<git_oid> parse_oid(const std::string& hex) {
  git_oid oid;
  if (git_oid_fromstr(&oid, hex.c_str()) != 0) return error(StatusCode::kInvalidArgument, "git: not an object id: " + hex);
  return oid;
}


// Loose objects written with zlib's "stored" (level 0) blocks. A model blob is already zstd
// or incompressible (that is why it is stored as identity), so deflate cannot shrink it;
// measured on a 67 MB .zst blob here, zlib level 1 (libgit2's default, and the lowest its
// loose backend accepts, since it reads 0 as "do not deflate") ran at 15 MB/s against
// 230 MB/s for level 0. The object is still a standard zlib stream any git reads.
// write_blob_from_file drives the stream with an id it computes itself and finalizes only
// when the object is not already in the database.
struct StoredStream {
  git_odb_stream parent;
  FileSystem* fs = nullptr;
  std::string objects_dir;
  std::string tmp_path;
  std::unique_ptr<WritableFile> file;
  z_stream zs;
  bool zs_ready = false;
  std::vector<unsigned char> out = std::vector<unsigned char>(256 << 10);

  int deflate_some(const void* data, size_t size, int flush) {
    zs.next_in = static_cast<Bytef*>(const_cast<void*>(data));
    zs.avail_in = static_cast<uInt>(size);
    for (;;) {
      zs.next_out = out.data();
      zs.avail_out = static_cast<uInt>(out.size());
      int rc = deflate(&zs, flush);
      if (rc == Z_STREAM_ERROR) {
        git_error_set_str(GIT_ERROR_ZLIB, "deflate failed");
        return -1;
      }
      size_t produced = out.size() - zs.avail_out;
      if (fail(file->append(reinterpret_cast<const char*>(out.data()), produced))) return -1;
      if (flush == Z_FINISH ? rc == Z_STREAM_END : (zs.avail_in == 0 && zs.avail_out != 0)) return 0;
    }
  }
  // Hands a failed Status to libgit2's error slot; true when it failed.
  static bool fail(const Status& s) {
    if (s.ok()) return false;
    git_error_set_str(GIT_ERROR_OS, s.message().c_str());
    return true;
  }
};

int stored_write(git_odb_stream* stream, const char* buffer, size_t len) {
  auto* s = reinterpret_cast<StoredStream*>(stream);
  // zlib counts in uInt: feed very large buffers in slices.
  while (len > 0) {
    size_t slice = len < (1u << 30) ? len : (1u << 30);
    if (s->deflate_some(buffer, slice, Z_NO_FLUSH) != 0) return -1;
    buffer += slice;
    len -= slice;
  }
  return 0;
}

// The object file is synced, linked under its id (never replacing one that is there) and
// its folder synced; make_dirs syncs a new objects/<xx> into objects/.
int stored_finalize(git_odb_stream* stream, const git_oid* oid) {
  auto* s = reinterpret_cast<StoredStream*>(stream);
  if (s->deflate_some(nullptr, 0, Z_FINISH) != 0) return -1;
  Status synced = s->file->sync();
  Status closed = s->file->close();
  if (StoredStream::fail(synced) || StoredStream::fail(closed)) return -1;
  char hex[GIT_OID_HEXSZ + 1];
  git_oid_tostr(hex, sizeof hex, oid);
  std::string dir = s->objects_dir + "/" + std::string(hex, 2);
  if (StoredStream::fail(s->fs->make_dirs(dir))) return -1;
  Status linked = s->fs->link(s->tmp_path, dir + "/" + std::string(hex + 2));
  if (linked.code() != StatusCode::kExists && StoredStream::fail(linked)) return -1;
  if (StoredStream::fail(s->fs->sync_dir(dir))) return -1;
  return 0;
}

void stored_free(git_odb_stream* stream) {
  auto* s = reinterpret_cast<StoredStream*>(stream);
  if (s->zs_ready) deflateEnd(&s->zs);
  if (s->file) (void)s->file->close();
  if (!s->tmp_path.empty()) (void)s->fs->remove_all(s->tmp_path);
  delete s;
}

struct StoredBackend {
  git_odb_backend parent;
  FileSystem* fs = nullptr;
  std::string objects_dir;
};

int stored_writestream(git_odb_stream** out, git_odb_backend* backend, git_object_size_t size, git_object_t type) {
  auto* b = reinterpret_cast<StoredBackend*>(backend);
  auto* s = new StoredStream();
  std::memset(&s->parent, 0, sizeof s->parent);
  s->parent.backend = backend;
  s->parent.mode = GIT_STREAM_WRONLY;
  s->parent.write = stored_write;
  s->parent.finalize_write = stored_finalize;
  s->parent.free = stored_free;
  s->fs = b->fs;
  s->objects_dir = b->objects_dir;
  std::string tmp = b->objects_dir + "/tmp_modelcast_" + std::to_string(::getpid()) + "_" + std::to_string(std::random_device{}());
  auto file = s->fs->open_writable(tmp, WriteMode::kCreateNew, 0444);  // git's own mode for object files
  if (StoredStream::fail(file.status())) {
    stored_free(&s->parent);
    return -1;
  }
  s->tmp_path = tmp;
  s->file = std::move(file).value();
  std::memset(&s->zs, 0, sizeof s->zs);
  if (deflateInit(&s->zs, Z_NO_COMPRESSION) != Z_OK) {
    git_error_set_str(GIT_ERROR_ZLIB, "deflateInit failed");
    stored_free(&s->parent);
    return -1;
  }
  s->zs_ready = true;
  char header[64];
  int n = std::snprintf(header, sizeof header, "%s %llu", git_object_type2string(type), static_cast<unsigned long long>(size));
  if (s->deflate_some(header, static_cast<size_t>(n) + 1, Z_NO_FLUSH) != 0) {  // +1: the NUL ends the header
    stored_free(&s->parent);
    return -1;
  }
  *out = &s->parent;
  return 0;
}

void stored_backend_free(git_odb_backend* backend) { delete reinterpret_cast<StoredBackend*>(backend); }

}  // namespace

struct GitRepo::Impl {
  git_repository* repo = nullptr;
  FileSystem* fs = nullptr;  // what our own writes (the stored backend) go through
  std::string workdir;
  git_odb_backend* stored_backend = nullptr;  // owned by the repository's odb
  ~Impl() {
    if (repo) git_repository_free(repo);
  }

  Status add_stored_backend() {
    git_odb* odb = nullptr;
    if (git_repository_odb(&odb, repo) != 0) return git_status("odb");
    auto* b = new StoredBackend();
    git_odb_init_backend(&b->parent, GIT_ODB_BACKEND_VERSION);
    b->parent.writestream = stored_writestream;
    b->parent.free = stored_backend_free;
    b->fs = fs;
    // The common folder, not git_repository_path: a linked worktree's private folder
    // (.git/worktrees/NAME/) has no objects of its own.
    std::string common = git_repository_commondir(repo);
    if (!common.empty() && common.back() != '/') common += '/';
    b->objects_dir = common + "objects";
    int rc = git_odb_add_backend(odb, &b->parent, kStoredBackendPriority);
    git_odb_free(odb);
    if (rc != 0) {
      delete b;
      return git_status("odb backend");
    }
    stored_backend = &b->parent;
    return OkStatus();
  }

  Status lookup_tree(const std::string& commit_id, Tree& tree) const {
    MC_ASSIGN_OR_RETURN(git_oid oid, parse_oid(commit_id));
    Commit commit;
    if (git_commit_lookup(commit.out(), repo, &oid) != 0) return git_status("commit " + commit_id);
    if (git_commit_tree(tree.out(), commit.get()) != 0) return git_status("tree of " + commit_id);
    return OkStatus();
  }

  Status signature(Signature& sig) const {
    // Environment first, as git itself does, so CI can name the publishing bot.
    const char* name = std::getenv("GIT_AUTHOR_NAME");
    const char* email = std::getenv("GIT_AUTHOR_EMAIL");
    if (name && *name && email && *email) {
      if (git_signature_now(sig.out(), name, email) == 0) return OkStatus();
    }
    if (git_signature_default(sig.out(), repo) == 0) return OkStatus();
    if (git_signature_now(sig.out(), "modelcast", "modelcast@localhost") != 0) return git_status("signature");
    return OkStatus();
  }
};

GitRepo::GitRepo(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
GitRepo::GitRepo(GitRepo&&) noexcept = default;
GitRepo& GitRepo::operator=(GitRepo&&) noexcept = default;
GitRepo::~GitRepo() = default;

Result<GitRepo> GitRepo::init(const std::string& workdir, FileSystem* fs) {
  ensure_libgit2();
  auto impl = std::make_unique<Impl>();
  impl->fs = fs ? fs : posix_file_system().get();
  // The _init functions rather than the INIT macros: clang flags the macros' partial
  // initialisers (-Wmissing-field-initializers).
  git_repository_init_options opts;
  git_repository_init_options_init(&opts, GIT_REPOSITORY_INIT_OPTIONS_VERSION);
  opts.flags = GIT_REPOSITORY_INIT_MKPATH | GIT_REPOSITORY_INIT_NO_REINIT;
  opts.initial_head = "main";
  if (git_repository_init_ext(&impl->repo, workdir.c_str(), &opts) != 0) {
    const git_error* e = git_error_last();
    return error(StatusCode::kExists, "git: " + workdir + ": " + (e && e->message ? e->message : "cannot create repository"));
  }
  impl->workdir = workdir;
  MC_RETURN_IF_ERROR(impl->add_stored_backend());
  return GitRepo(std::move(impl));
}

Result<GitRepo> GitRepo::open(const std::string& workdir, FileSystem* fs) {
  ensure_libgit2();
  auto impl = std::make_unique<Impl>();
  impl->fs = fs ? fs : posix_file_system().get();
  if (git_repository_open_ext(&impl->repo, workdir.c_str(), GIT_REPOSITORY_OPEN_NO_SEARCH, nullptr) != 0)
    return error(StatusCode::kNotFound, "git: " + workdir + ": not a git repository");
  if (git_repository_is_bare(impl->repo)) return error(StatusCode::kInvalidArgument, "git: " + workdir + ": bare repository");
  impl->workdir = workdir;
  MC_RETURN_IF_ERROR(impl->add_stored_backend());
  return GitRepo(std::move(impl));
}

std::string GitRepo::git_dir() const { return git_repository_path(impl_->repo); }

Result<std::string> GitRepo::head() const {
  git_oid oid;
  int rc = git_reference_name_to_id(&oid, impl_->repo, "HEAD");
  if (rc == GIT_ENOTFOUND || rc == GIT_EUNBORNBRANCH) return std::string();
  if (rc != 0) return git_status("HEAD");
  return oid_hex(&oid);
}

Result<std::string> GitRepo::resolve_commit(const std::string& rev) const {
  Object obj;
  if (git_revparse_single(obj.out(), impl_->repo, rev.c_str()) != 0)
    return error(StatusCode::kNotFound, "git: unknown revision \"" + rev + "\"");
  Object peeled;
  if (git_object_peel(peeled.out(), obj.get(), GIT_OBJECT_COMMIT) != 0)
    return error(StatusCode::kInvalidArgument, "git: \"" + rev + "\" is not a commit");
  return oid_hex(git_object_id(peeled.get()));
}

Result<std::string> GitRepo::blob_at(const std::string& commit, const std::string& path) const {
  if (commit.empty()) return std::string();
  Tree tree;
  MC_RETURN_IF_ERROR(impl_->lookup_tree(commit, tree));
  TreeEntry entry;
  int rc = git_tree_entry_bypath(entry.out(), tree.get(), path.c_str());
  if (rc == GIT_ENOTFOUND) return std::string();
  if (rc != 0) return git_status(path);
  if (git_tree_entry_type(entry.get()) != GIT_OBJECT_BLOB) return std::string();
  return oid_hex(git_tree_entry_id(entry.get()));
}

Result<std::string> GitRepo::read_blob(const std::string& blob_id, size_t max_bytes) const {
  MC_ASSIGN_OR_RETURN(git_oid oid, parse_oid(blob_id));
  Blob blob;
  if (git_blob_lookup(blob.out(), impl_->repo, &oid) != 0) return git_status("blob " + blob_id);
  auto size = static_cast<size_t>(git_blob_rawsize(blob.get()));
  if (size > max_bytes)
    return error(StatusCode::kCorruption, "git: blob " + blob_id + " is larger than " + std::to_string(max_bytes) + " bytes");
  return std::string(static_cast<const char*>(git_blob_rawcontent(blob.get())), size);
}

Result<std::string> GitRepo::write_blob(std::string_view data) {
  git_oid oid;
  if (git_blob_create_from_buffer(&oid, impl_->repo, data.data(), data.size()) != 0) return git_status("write blob");
  return oid_hex(&oid);
}

// The object id is computed here with OpenSSL's SHA-1 (SHA-NI) rather than through
// git_odb_open_wstream, which always hashes with libgit2's collision-detecting SHA-1:
// measured at 3.35 s against 0.90 s for a 993 MB blob, it was the slowest step of a
// publish. Collision detection guards objects received from others; these are our own
// blob files, just hashed by SHA-256. The bytes still go through the stored backend.
Result<std::string> GitRepo::write_blob_from_file(const std::string& path) {
  MC_ASSIGN_OR_RETURN(std::unique_ptr<ReadableFile> in, impl_->fs->open_readable(path));
  const uint64_t size = in->info().size;

  git_odb_stream* raw = nullptr;
  if (stored_writestream(&raw, impl_->stored_backend, size, GIT_OBJECT_BLOB) != 0) return git_status("write " + path);
  struct StreamFree {
    git_odb_stream* s;
    ~StreamFree() { stored_free(s); }
  } stream_free{raw};
  struct MdFree {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    ~MdFree() { EVP_MD_CTX_free(ctx); }
  } sha1;
  const std::string header = "blob " + std::to_string(size);
  EVP_DigestInit_ex(sha1.ctx, EVP_sha1(), nullptr);
  EVP_DigestUpdate(sha1.ctx, header.c_str(), header.size() + 1);  // the NUL ends the header

  std::vector<char> buf(kStreamChunk);
  uint64_t total = 0;
  for (;;) {
    MC_ASSIGN_OR_RETURN(size_t n, in->read(buf.data(), buf.size()));
    if (n == 0) break;
    total += n;
    if (total > size) break;
    EVP_DigestUpdate(sha1.ctx, buf.data(), n);
    if (stored_write(raw, buf.data(), n) != 0) return git_status("write " + path);
  }
  if (total != size) return error(StatusCode::kIOError, path + ": changed size while it was written to git");
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_len = 0;
  EVP_DigestFinal_ex(sha1.ctx, digest, &digest_len);
  git_oid oid;
  git_oid_fromraw(&oid, digest);

  git_odb* odb = nullptr;
  if (git_repository_odb(&odb, impl_->repo) != 0) return git_status("odb");
  bool exists = git_odb_exists(odb, &oid) == 1;
  git_odb_free(odb);
  // An object already in the database is never written twice.
  if (!exists && stored_finalize(raw, &oid) != 0) return git_status("write " + path);
  return oid_hex(&oid);
}

Result<std::vector<std::string>> GitRepo::first_parent_history(const std::string& commit, size_t limit) const {
  std::vector<std::string> out;
  if (commit.empty()) return out;
  MC_ASSIGN_OR_RETURN(git_oid oid, parse_oid(commit));
  git_revwalk* walk = nullptr;
  if (git_revwalk_new(&walk, impl_->repo) != 0) return git_status("revwalk");
  struct WalkFree {
    git_revwalk* w;
    ~WalkFree() { git_revwalk_free(w); }
  } walk_free{walk};
  git_revwalk_simplify_first_parent(walk);
  if (git_revwalk_push(walk, &oid) != 0) return git_status("revwalk " + commit);
  git_oid next;
  while (out.size() < limit && git_revwalk_next(&next, walk) == 0) out.push_back(oid_hex(&next));
  return out;
}

Result<std::vector<GitDelta>> GitRepo::diff(const std::string& commit_a, const std::string& commit_b,
                                            const std::string& prefix) const {
  Tree tree_a, tree_b;
  if (!commit_a.empty()) MC_RETURN_IF_ERROR(impl_->lookup_tree(commit_a, tree_a));
  MC_RETURN_IF_ERROR(impl_->lookup_tree(commit_b, tree_b));
  git_diff_options opts;
  git_diff_options_init(&opts, GIT_DIFF_OPTIONS_VERSION);
  std::string spec = prefix;
  char* specs[] = {spec.data()};
  if (!prefix.empty()) {
    opts.pathspec.strings = specs;
    opts.pathspec.count = 1;
  }
  Diff d;
  if (git_diff_tree_to_tree(d.out(), impl_->repo, tree_a.get(), tree_b.get(), &opts) != 0) return git_status("diff");
  std::vector<GitDelta> out;
  size_t n = git_diff_num_deltas(d.get());
  for (size_t i = 0; i < n; ++i) {
    const git_diff_delta* delta = git_diff_get_delta(d.get(), i);
    GitDelta g;
    switch (delta->status) {
      case GIT_DELTA_ADDED: g.status = 'A'; break;
      case GIT_DELTA_DELETED: g.status = 'D'; break;
      default: g.status = 'M'; break;
    }
    g.path = delta->status == GIT_DELTA_DELETED ? delta->old_file.path : delta->new_file.path;
    if (delta->status != GIT_DELTA_ADDED) g.old_blob = oid_hex(&delta->old_file.id);
    if (delta->status != GIT_DELTA_DELETED) g.new_blob = oid_hex(&delta->new_file.id);
    out.push_back(std::move(g));
  }
  return out;
}

namespace {

// An index entry whose stat data matches the working tree file, so git sees it clean.
Result<git_index_entry> index_entry_for(const std::string& workdir, const GitChange& change) {
  git_index_entry e;
  std::memset(&e, 0, sizeof e);
  MC_ASSIGN_OR_RETURN(e.id, parse_oid(change.blob_id));
  e.path = change.path.c_str();
  e.mode = GIT_FILEMODE_BLOB;
  struct stat st;
  std::string full = workdir + "/" + change.path;
  if (::stat(full.c_str(), &st) == 0) {
    e.ctime.seconds = static_cast<int32_t>(st.st_ctim.tv_sec);
    e.ctime.nanoseconds = static_cast<uint32_t>(st.st_ctim.tv_nsec);
    e.mtime.seconds = static_cast<int32_t>(st.st_mtim.tv_sec);
    e.mtime.nanoseconds = static_cast<uint32_t>(st.st_mtim.tv_nsec);
    e.dev = static_cast<uint32_t>(st.st_dev);
    e.ino = static_cast<uint32_t>(st.st_ino);
    e.uid = st.st_uid;
    e.gid = st.st_gid;
    e.file_size = static_cast<uint32_t>(st.st_size);  // git keeps the low 32 bits too
  }
  return e;
}

Status stage(git_index* index, const std::string& workdir, const std::vector<GitChange>& changes) {
  for (const auto& change : changes) {
    if (change.remove) {
      int rc = git_index_remove_bypath(index, change.path.c_str());
      if (rc != 0 && rc != GIT_ENOTFOUND) return git_status("unstage " + change.path);
      continue;
    }
    MC_ASSIGN_OR_RETURN(git_index_entry e, index_entry_for(workdir, change));
    if (git_index_add(index, &e) != 0) return git_status("stage " + change.path);
  }
  return OkStatus();
}

}  // namespace

Result<std::vector<GitPathStatus>> GitRepo::changed_paths(const std::vector<std::string>& prefixes) const {
  git_status_options opts;
  git_status_options_init(&opts, GIT_STATUS_OPTIONS_VERSION);
  opts.show = GIT_STATUS_SHOW_INDEX_AND_WORKDIR;
  opts.flags = GIT_STATUS_OPT_INCLUDE_UNTRACKED | GIT_STATUS_OPT_RECURSE_UNTRACKED_DIRS | GIT_STATUS_OPT_INCLUDE_IGNORED |
               GIT_STATUS_OPT_RECURSE_IGNORED_DIRS | GIT_STATUS_OPT_EXCLUDE_SUBMODULES;
  std::vector<std::string> specs;
  for (const auto& p : prefixes) specs.push_back(p.empty() || p.back() != '/' ? p : p + "**");
  std::vector<char*> spec_ptrs;
  for (auto& p : specs) spec_ptrs.push_back(p.data());
  opts.pathspec.strings = spec_ptrs.data();
  opts.pathspec.count = spec_ptrs.size();
  git_status_list* list = nullptr;
  if (git_status_list_new(&list, impl_->repo, &opts) != 0) return git_status("status");
  struct ListFree {
    git_status_list* l;
    ~ListFree() { git_status_list_free(l); }
  } list_free{list};
  std::vector<GitPathStatus> out;
  const size_t n = git_status_list_entrycount(list);
  for (size_t i = 0; i < n; ++i) {
    const git_status_entry* e = git_status_byindex(list, i);
    const git_diff_delta* head_index = e->head_to_index;
    const git_diff_delta* index_disk = e->index_to_workdir;
    if (!head_index && !index_disk) continue;
    // Without a HEAD-to-index delta the index equals HEAD for this path; without an
    // index-to-disk delta the disk equals the index.
    const bool in_head = head_index ? head_index->status != GIT_DELTA_ADDED
                                    : index_disk->status != GIT_DELTA_UNTRACKED && index_disk->status != GIT_DELTA_IGNORED;
    const bool on_disk = index_disk ? index_disk->status != GIT_DELTA_DELETED : head_index->status != GIT_DELTA_DELETED;
    if (!in_head && !on_disk) continue;
    const git_diff_delta* d = index_disk ? index_disk : head_index;
    GitPathStatus p;
    p.path = d->new_file.path ? d->new_file.path : d->old_file.path;
    p.status = !on_disk ? 'D' : !in_head ? 'A' : 'M';
    out.push_back(std::move(p));
  }
  std::sort(out.begin(), out.end(), [](const GitPathStatus& a, const GitPathStatus& b) { return a.path < b.path; });
  out.erase(std::unique(out.begin(), out.end(), [](const GitPathStatus& a, const GitPathStatus& b) { return a.path == b.path; }),
            out.end());
  return out;
}

Result<std::string> GitRepo::commit(const std::vector<GitChange>& changes, const std::string& message) {
  git_repository* repo = impl_->repo;
  MC_ASSIGN_OR_RETURN(std::string parent_id, head());

  // An in-memory index seeded from the parent's tree: the commit holds exactly the parent
  // plus our changes, whatever else a user may have staged in the working tree.
  Index index;
  if (git_index_new(index.out()) != 0) return git_status("index");
  Commit parent;
  if (!parent_id.empty()) {
    MC_ASSIGN_OR_RETURN(git_oid poid, parse_oid(parent_id));
    if (git_commit_lookup(parent.out(), repo, &poid) != 0) return git_status("HEAD commit");
    Tree tree;
    if (git_commit_tree(tree.out(), parent.get()) != 0) return git_status("HEAD tree");
    if (git_index_read_tree(index.get(), tree.get()) != 0) return git_status("read HEAD tree");
  }
  MC_RETURN_IF_ERROR(stage(index.get(), impl_->workdir, changes));
  git_oid tree_oid;
  if (git_index_write_tree_to(&tree_oid, index.get(), repo) != 0) return git_status("write tree");
  Tree new_tree;
  if (git_tree_lookup(new_tree.out(), repo, &tree_oid) != 0) return git_status("new tree");

  Signature sig;
  MC_RETURN_IF_ERROR(impl_->signature(sig));
  const git_commit* parents[] = {parent.get()};
  git_oid commit_oid;
  // Updating HEAD checks that it still points at our parent: a commit made behind the
  // tree lock's back fails here instead of being overwritten.
  if (git_commit_create(&commit_oid, repo, "HEAD", sig.get(), sig.get(), "UTF-8", message.c_str(), new_tree.get(),
                        parent.get() ? 1 : 0, parents) != 0)
    return git_status("commit");

  Index repo_index;
  if (git_repository_index(repo_index.out(), repo) != 0) return git_status("index");
  if (git_index_read(repo_index.get(), 0) != 0) return git_status("read index");
  // `git switch --orphan` (or `checkout --orphan`) may leave another branch's entries in
  // the index of a new branch: its first commit defines the index instead.
  if (parent_id.empty() && git_index_read_tree(repo_index.get(), new_tree.get()) != 0) return git_status("reset index");
  MC_RETURN_IF_ERROR(stage(repo_index.get(), impl_->workdir, changes));
  if (git_index_write(repo_index.get()) != 0) return git_status("write index");
  return oid_hex(&commit_oid);
}

}  // namespace modelcast
