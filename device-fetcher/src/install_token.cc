// The per-install token of FetcherOptions::install_token. It is random and stored only in
// the cache, so it identifies an installation to the publisher's access logs without
// naming the device, its owner or its hardware, and a reinstall (a new cache) is a new
// token.
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <random>

#include "modelcast/fetcher.h"
#include "modelcast/fs.h"

namespace modelcast {

namespace {
constexpr const char* kTokenFile = "install-token";

bool valid_token(const std::string& t) {
  if (t.size() < 8 || t.size() > 64) return false;
  for (char c : t)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) return false;
  return true;
}
}  // namespace

std::string new_install_token() {
  unsigned char raw[16];
  bool filled = false;
  int fd = ::open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    filled = ::read(fd, raw, sizeof raw) == static_cast<ssize_t>(sizeof raw);
    ::close(fd);
  }
  if (!filled) {
    std::random_device rd;
    for (auto& b : raw) b = static_cast<unsigned char>(rd());
  }
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned char b : raw) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

Status check_install_token(const std::string& token) {
  if (token.empty() || valid_token(token)) return OkStatus();
  return error(StatusCode::kInvalidArgument, "install token: must be 8 to 64 characters of A-Z a-z 0-9 _ -");
}

Result<std::string> cached_install_token(const std::string& cache_dir) {
  MC_RETURN_IF_ERROR(make_dirs(cache_dir));
  const std::string path = cache_dir + "/" + kTokenFile;
  if (path_exists(path)) {
    MC_ASSIGN_OR_RETURN(std::string text, read_file(path, 256));
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
    if (valid_token(text)) return text;
  }
  std::string token = new_install_token();
  MC_RETURN_IF_ERROR(write_file_atomic(path, token + "\n"));
  return token;
}

}  // namespace modelcast
