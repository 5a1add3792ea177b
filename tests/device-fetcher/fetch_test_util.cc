#include "fetch_test_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zstd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <sstream>
#include <stdexcept>

#include "modelcast/fs.h"
#include "modelcast/names.h"
#include "modelcast/sha256.h"
#include "modelcast/signed_manifest.h"

namespace modelcast::testing {

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_all(const std::string& path, const std::string& bytes) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out.good()) throw std::runtime_error("cannot write " + path);
}

std::string random_bytes(size_t size, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string out(size, '\0');
  for (size_t i = 0; i < size; ++i) out[i] = static_cast<char>(rng() & 0xff);
  return out;
}

std::string zstd_compress(const std::string& bytes, int level) {
  std::string out(ZSTD_compressBound(bytes.size()), '\0');
  size_t n = ZSTD_compress(out.data(), out.size(), bytes.data(), bytes.size(), level);
  if (ZSTD_isError(n)) throw std::runtime_error("zstd failed");
  out.resize(n);
  return out;
}

ModelConfig simple_config() {
  ModelConfig c;
  c.inputs.push_back(TensorSpec{"input", "float32", {1, 4}, {}});
  c.outputs.push_back(TensorSpec{"scores", "float32", {1, 2}, {"cat", "dog"}});
  return c;
}

void touch_later(const std::string& path, int seconds_ahead) {
  struct timeval tv[2];
  ::gettimeofday(&tv[0], nullptr);
  tv[0].tv_sec += seconds_ahead;
  tv[1] = tv[0];
  ::utimes(path.c_str(), tv);
}

TreeFixture::TreeFixture(std::string root) : root_(std::move(root)), key_(PrivateKey::generate().value()) {
  std::filesystem::create_directories(root_ + "/keys");
  // Every tree has its settings at the root; the fetcher tells a wrong base URL by it.
  write_all(root_ + "/modelcast.json", "{}\n");
  pubkey_path_ = root_ + "/keys/" + key_.public_key().key_id() + ".pub";
  write_all(pubkey_path_, key_.public_key().to_pem());
}

std::string TreeFixture::manifest_path(const std::string& model, const std::string& channel,
                                       const std::string& platform) const {
  return root_ + "/manifests/" + model + "/" + channel + "/" + platform + ".json";
}

std::string TreeFixture::publish(const PublishSpec& spec, const std::vector<const PrivateKey*>& keys) {
  int64_t now = static_cast<int64_t>(::time(nullptr));
  Manifest m;
  m.model = spec.model;
  m.channel = spec.channel;
  m.platform = spec.platform;
  m.version = spec.version;
  m.published_at = format_timestamp(spec.published_at ? spec.published_at : now - 60);
  m.expires_at = format_timestamp(spec.expires_at ? spec.expires_at : now + 30 * 86400);
  m.config = spec.config.inputs.empty() ? simple_config() : spec.config;
  m.requirements = spec.requirements;
  m.rollout_percent = spec.rollout_percent;
  for (const auto& f : spec.files) {
    FileEntry e;
    e.path = f.path;
    e.sha256 = sha256_hex(f.content);
    e.size = f.content.size();
    e.encoding = f.zstd ? "zstd" : "identity";
    std::string stored = f.zstd ? zstd_compress(f.content) : f.content;
    e.stored_size = stored.size();
    e.url = blob_url(e.sha256, f.zstd);
    std::string blob = root_ + "/" + e.url;
    if (!path_exists(blob)) write_all(blob, stored);
    m.files.push_back(e);
  }
  std::vector<const PrivateKey*> signers = keys.empty() ? std::vector<const PrivateKey*>{&key_} : keys;
  auto text = sign_manifest(m, signers);
  if (!text.ok()) throw std::runtime_error("sign_manifest: " + text.status().message());
  write_all(root_ + "/manifests/" + m.model + "/" + m.channel + "/" + m.platform + "/" + std::to_string(m.version) + ".json",
            text.value());
  set_current_manifest(text.value(), m.model);
  return text.value();
}

void TreeFixture::set_current_manifest(const std::string& text, const std::string& model) {
  Manifest m = manifest_of(text);
  std::string path = manifest_path(model, m.channel, m.platform);
  write_all(path, text);
  // nginx's ETag is mtime + size; make sure a rewrite within the same second changes it.
  static int bump = 1;
  touch_later(path, bump++);
}

Manifest TreeFixture::manifest_of(const std::string& text) {
  auto sm = parse_signed_manifest(text);
  if (!sm.ok()) throw std::runtime_error("fixture manifest: " + sm.status().message());
  return sm->manifest;
}

// ---- CountingTransport -------------------------------------------------------------------

namespace {

class CountingSink : public HttpSink {
 public:
  CountingSink(HttpSink& inner, uint64_t limit) : inner_(inner), limit_(limit) {}
  Status on_response(const HttpResponse& r) override {
    status = r.status;
    return inner_.on_response(r);
  }
  Status on_data(const char* data, size_t size) override {
    if (limit_ > 0 && bytes + size > limit_) {
      size_t part = static_cast<size_t>(limit_ - bytes);
      if (part > 0) {
        bytes += part;
        Status s = inner_.on_data(data, part);
        if (!s.ok()) return s;
      }
      cut = true;
      return error(StatusCode::kNetwork, "test transport: connection dropped after " + std::to_string(limit_) + " bytes");
    }
    bytes += size;
    Status s = inner_.on_data(data, size);
    if (hook && !hook_fired && bytes >= hook_after) {
      hook_fired = true;
      hook();
    }
    return s;
  }
  int status = 0;
  uint64_t bytes = 0;
  bool cut = false;
  uint64_t hook_after = 0;
  bool hook_fired = false;
  std::function<void()> hook;

 private:
  HttpSink& inner_;
  uint64_t limit_;
};

}  // namespace

Status CountingTransport::get(const HttpRequest& request, HttpSink& sink) {
  bool blob = request.url.find("/blobs/") != std::string::npos;
  uint64_t limit = 0;
  std::function<void()> hook;
  uint64_t hook_after = 0;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (blob && cut_count_ > 0) {
      limit = cut_after_;
      --cut_count_;
    }
    if (blob && hook_) {
      hook = hook_;
      hook_after = hook_after_;
    }
  }
  CountingSink counting(sink, limit);
  counting.hook = hook;
  counting.hook_after = hook_after;
  Status s = inner_->get(request, counting);
  if (counting.cut && s.code() != StatusCode::kNetwork)
    s = error(StatusCode::kNetwork, "test transport: connection dropped");
  std::lock_guard<std::mutex> l(mu_);
  seen_.push_back(Seen{request.url, counting.status, request.range_start, request.if_none_match, request.user_agent,
                       counting.bytes});
  return s;
}

std::vector<CountingTransport::Seen> CountingTransport::seen() {
  std::lock_guard<std::mutex> l(mu_);
  return seen_;
}

void CountingTransport::clear() {
  std::lock_guard<std::mutex> l(mu_);
  seen_.clear();
}

uint64_t CountingTransport::blob_bytes() {
  std::lock_guard<std::mutex> l(mu_);
  uint64_t n = 0;
  for (const auto& s : seen_)
    if (s.url.find("/blobs/") != std::string::npos || s.url.find("/parts/") != std::string::npos ||
        s.url.find("/deltas/") != std::string::npos)
      n += s.body_bytes;
  return n;
}

void CountingTransport::cut_blob_bodies(uint64_t after_bytes, int count) {
  std::lock_guard<std::mutex> l(mu_);
  cut_after_ = after_bytes;
  cut_count_ = count;
}

void CountingTransport::on_blob_bytes(uint64_t after_bytes, std::function<void()> hook) {
  std::lock_guard<std::mutex> l(mu_);
  hook_after_ = after_bytes;
  hook_ = std::move(hook);
}

// ---- FaultyFileSystem --------------------------------------------------------------------

namespace {

class FaultyWritable : public WritableFile {
 public:
  FaultyWritable(std::unique_ptr<WritableFile> inner, FaultyFileSystem* fs, std::string path)
      : inner_(std::move(inner)), fs_(fs), path_(std::move(path)) {}
  Status append(const char* data, size_t size) override {
    int64_t left = fs_->space_left.fetch_sub(static_cast<int64_t>(size));
    if (left < static_cast<int64_t>(size)) {
      fs_->space_left = 0;
      return error(StatusCode::kIOError, path_ + ": " + std::strerror(ENOSPC));
    }
    return inner_->append(data, size);
  }
  Status sync() override {
    MC_RETURN_IF_ERROR(fs_->maybe_fail("fsync " + path_));
    return inner_->sync();
  }
  Status close() override { return inner_->close(); }

 private:
  std::unique_ptr<WritableFile> inner_;
  FaultyFileSystem* fs_;
  std::string path_;
};

}  // namespace

Result<std::unique_ptr<WritableFile>> FaultyFileSystem::open_writable(const std::string& path, WriteMode mode,
                                                                     unsigned permissions) {
  auto f = FileSystemWrapper::open_writable(path, mode, permissions);
  if (!f.ok()) return f.status();
  return std::unique_ptr<WritableFile>(new FaultyWritable(std::move(f).value(), this, path));
}

Status FaultyFileSystem::maybe_fail(const std::string& what) {
  int n = ops++;
  if (n == fail_op_at) return error(StatusCode::kIOError, what + ": injected failure (Input/output error)");
  return OkStatus();
}

Status FaultyFileSystem::rename(const std::string& from, const std::string& to) {
  MC_RETURN_IF_ERROR(maybe_fail("rename " + from));
  return FileSystemWrapper::rename(from, to);
}
Status FaultyFileSystem::link(const std::string& existing, const std::string& new_path) {
  MC_RETURN_IF_ERROR(maybe_fail("link " + new_path));
  return FileSystemWrapper::link(existing, new_path);
}
Status FaultyFileSystem::symlink(const std::string& target, const std::string& link_path) {
  MC_RETURN_IF_ERROR(maybe_fail("symlink " + link_path));
  return FileSystemWrapper::symlink(target, link_path);
}
Status FaultyFileSystem::sync_dir(const std::string& dir) {
  MC_RETURN_IF_ERROR(maybe_fail("fsync " + dir));
  return FileSystemWrapper::sync_dir(dir);
}

// ---- Processes ---------------------------------------------------------------------------

CommandResult run_command(const std::vector<std::string>& command) { return run_command_with(command, [](pid_t) {}); }

CommandResult run_command_with(const std::vector<std::string>& command, const std::function<void(pid_t)>& while_running) {
  CommandResult r;
  TempDir dir;
  std::string out_path = dir / "out", err_path = dir / "err";
  std::vector<std::string> argv;
#ifdef MODELCAST_TEST_EMULATOR
  // A cross build runs our programs through qemu-user (no binfmt_misc needed).
  std::istringstream emulator(MODELCAST_TEST_EMULATOR);
  for (std::string word; emulator >> word;) argv.push_back(word);
#endif
  argv.insert(argv.end(), command.begin(), command.end());
  // Everything the child needs is prepared before fork: tests call this from threads.
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid == 0) {
    int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(out, 1);
    ::dup2(err, 2);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  if (pid > 0) while_running(pid);
  int status = 0;
  ::waitpid(pid, &status, 0);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = read_all(out_path);
  r.err = read_all(err_path);
  return r;
}

bool active_version_is_complete(const std::string& cache, const std::string& model, uint64_t* version,
                                std::string* problem) {
  OpenOptions oo;
  oo.verify_hashes = true;
  auto opened = open_cached_model(cache, model, oo);
  if (!opened.ok()) {
    if (problem) *problem = opened.status().message();
    return false;
  }
  if (version) *version = opened->version;
  // Every file in the folder is in the manifest, and vice versa (the folder holds only
  // the publisher's files).
  size_t count = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(opened->path))
    if (e.is_regular_file()) ++count;
  if (count != opened->files.size()) {
    if (problem) *problem = opened->path + ": " + std::to_string(count) + " files, manifest names " +
                            std::to_string(opened->files.size());
    return false;
  }
  return true;
}

}  // namespace modelcast::testing
