#include "hostile_http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstring>

namespace modelcast::testing {

namespace {

constexpr int kPollMs = 50;
constexpr size_t kMaxRequestBytes = 64 * 1024;

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Sends everything, or gives up when the client left or the server is stopping.
bool send_all(int fd, const char* data, size_t size, const std::atomic<bool>& stop) {
  while (size > 0 && !stop) {
    pollfd p{fd, POLLOUT, 0};
    if (::poll(&p, 1, kPollMs) <= 0) continue;
    ssize_t n = ::send(fd, data, size, MSG_NOSIGNAL);
    if (n <= 0) return false;
    data += n;
    size -= static_cast<size_t>(n);
  }
  return size == 0;
}

}  // namespace

std::string HostileRequest::header(const std::string& name) const {
  const std::string want = lower(name) + ":";
  size_t pos = 0;
  while (pos < headers.size()) {
    size_t end = headers.find("\r\n", pos);
    if (end == std::string::npos) end = headers.size();
    std::string line = headers.substr(pos, end - pos);
    if (lower(line.substr(0, want.size())) == want) {
      size_t v = want.size();
      while (v < line.size() && line[v] == ' ') ++v;
      return line.substr(v);
    }
    pos = end + 2;
  }
  return "";
}

HostileAnswer HostileHttpServer::answer(int status, const std::string& body, const std::string& extra_headers) {
  HostileAnswer a;
  a.head = "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" +
           extra_headers;
  a.body = body;
  return a;
}

std::unique_ptr<HostileHttpServer> HostileHttpServer::start(HostileHandler handler, std::string* error, int lifetime_ms) {
  std::unique_ptr<HostileHttpServer> s(new HostileHttpServer());
  s->handler_ = std::move(handler);
  s->lifetime_ms_ = lifetime_ms;
  s->listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (s->listen_fd_ < 0 || ::bind(s->listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(s->listen_fd_, 8) != 0 || ::getsockname(s->listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    *error = std::string("hostile server: ") + std::strerror(errno);
    return nullptr;
  }
  s->port_ = ntohs(addr.sin_port);
  s->thread_ = std::thread([p = s.get()] { p->serve(); });
  return s;
}

HostileHttpServer::~HostileHttpServer() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  if (listen_fd_ >= 0) ::close(listen_fd_);
}

std::vector<std::string> HostileHttpServer::paths_seen() {
  std::lock_guard<std::mutex> l(mu_);
  return paths_;
}

void HostileHttpServer::serve() {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(lifetime_ms_);
  while (!stop_) {
    if (std::chrono::steady_clock::now() > deadline) {
      stop_ = true;
      break;
    }
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, kPollMs) <= 0) continue;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    handle(fd);
    ::close(fd);
  }
}

void HostileHttpServer::handle(int fd) {
  std::string request;
  char buf[4096];
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (request.find("\r\n\r\n") == std::string::npos && request.size() < kMaxRequestBytes && !stop_) {
    if (std::chrono::steady_clock::now() > give_up) return;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, kPollMs) <= 0) continue;
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return;
    request.append(buf, static_cast<size_t>(n));
  }
  size_t line_end = request.find("\r\n");
  if (line_end == std::string::npos) return;
  HostileRequest req;
  const std::string line = request.substr(0, line_end);
  size_t sp1 = line.find(' '), sp2 = line.rfind(' ');
  if (sp1 == std::string::npos || sp2 <= sp1) return;
  req.path = line.substr(sp1 + 1, sp2 - sp1 - 1);
  req.headers = request.substr(line_end + 2);
  {
    std::lock_guard<std::mutex> l(mu_);
    paths_.push_back(req.path);
  }
  HostileAnswer a = handler_(req);
  const std::string head = a.head + "Connection: close\r\n\r\n";
  if (!send_all(fd, head.data(), head.size(), stop_)) return;
  const size_t fast = std::min(a.trickle_after, a.body.size());
  if (!send_all(fd, a.body.data(), fast, stop_)) return;
  for (size_t i = fast; i < a.body.size() && !stop_; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(a.trickle_interval_ms));
    if (!send_all(fd, a.body.data() + i, 1, stop_)) return;
    ++trickled_;
  }
}

}  // namespace modelcast::testing
