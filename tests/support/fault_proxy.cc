#include "fault_proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <list>
#include <mutex>
#include <random>
#include <thread>

namespace modelcast::testing {

namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kMaxHeadBytes = 64 * 1024;
constexpr size_t kMaxRecords = 1000000;
constexpr int kPollSliceMs = 50;

bool iequals(const std::string& a, const char* b) {
  size_t n = std::strlen(b);
  if (a.size() != n) return false;
  for (size_t i = 0; i < n; ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  return true;
}

struct Header {
  std::string name, value;
};

// A request or response head: the first line and the headers.
struct Head {
  std::string first_line;
  std::vector<Header> headers;

  const std::string* find(const char* name) const {
    for (const auto& h : headers)
      if (iequals(h.name, name)) return &h.value;
    return nullptr;
  }
};

Head parse_head(const std::string& text) {
  Head head;
  size_t pos = text.find("\r\n");
  head.first_line = text.substr(0, pos);
  while (pos != std::string::npos && pos + 2 < text.size()) {
    size_t start = pos + 2;
    pos = text.find("\r\n", start);
    std::string line = text.substr(start, pos == std::string::npos ? std::string::npos : pos - start);
    size_t colon = line.find(':');
    if (line.empty() || colon == std::string::npos) continue;
    size_t v = colon + 1;
    while (v < line.size() && line[v] == ' ') ++v;
    head.headers.push_back({line.substr(0, colon), line.substr(v)});
  }
  return head;
}

bool hop_by_hop(const std::string& name) {
  return iequals(name, "Connection") || iequals(name, "Keep-Alive") || iequals(name, "Proxy-Connection") ||
         iequals(name, "Content-Length") || iequals(name, "Transfer-Encoding");
}

int connect_loopback(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool send_all(int fd, const char* data, size_t size) {
  while (size > 0) {
    ssize_t n = ::send(fd, data, size, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

// An upstream answer, read whole.
struct Upstream {
  bool ok = false;
  int status = 0;
  std::string status_line;
  std::vector<Header> headers;
  std::string body;
};

}  // namespace

const char* fault_kind_name(FaultKind kind) {
  switch (kind) {
    case FaultKind::kNone: return "none";
    case FaultKind::kDropAfter: return "drop-after";
    case FaultKind::kStall: return "stall";
    case FaultKind::kStatus: return "status";
    case FaultKind::kFlipBytes: return "flip-bytes";
    case FaultKind::kTruncate: return "truncate";
    case FaultKind::kMoreThanDeclared: return "more-than-declared";
    case FaultKind::kLonger: return "longer";
    case FaultKind::kSubstitute: return "substitute";
    case FaultKind::kDelayHeaders: return "delay-headers";
  }
  return "none";
}

struct FaultProxy::Impl {
  FaultProxyOptions options;
  int listen_fd = -1;
  int port = 0;
  Clock::time_point started;
  Clock::time_point deadline;

  std::atomic<bool> stopping{false};
  std::mutex stop_mu;
  std::condition_variable stop_cv;  // wakes stalls when stopping

  mutable std::mutex mu;  // rules, rng, stats, records, connections
  struct ActiveRule {
    FaultRule rule;
    Clock::time_point added;
    int matched = 0;
  };
  std::vector<ActiveRule> rules;
  std::mt19937_64 rng;
  ProxyStats stats;
  std::vector<ProxyRecord> records;
  struct Connection {
    int fd = -1;
    std::thread thread;
    std::atomic<bool> done{false};
  };
  std::list<Connection> connections;
  std::thread accept_thread;

  bool should_stop() const { return stopping || Clock::now() >= deadline; }

  int64_t elapsed_ms() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count();
  }

  // Sleeps up to `ms` (capped by max_delay_ms); returns early when the proxy stops.
  void pause(int ms) {
    ms = std::clamp(ms, 0, options.max_delay_ms);
    std::unique_lock<std::mutex> l(stop_mu);
    stop_cv.wait_for(l, std::chrono::milliseconds(ms), [&] { return stopping.load(); });
  }

  // Waits until fd is readable; false on stop, timeout or error.
  bool wait_readable(int fd, int timeout_ms) {
    auto until = Clock::now() + std::chrono::milliseconds(timeout_ms);
    while (!should_stop() && Clock::now() < until) {
      pollfd p{fd, POLLIN, 0};
      int rc = ::poll(&p, 1, kPollSliceMs);
      if (rc < 0 && errno != EINTR) return false;
      if (rc > 0) return true;
    }
    return false;
  }

  struct Decision {
    Fault fault;
    bool from_rule = false;
    double fraction = 0;  // random faults: where in the body, once its size is known
  };

  Decision decide(const std::string& path) {
    std::lock_guard<std::mutex> l(mu);
    Decision d;
    auto now = Clock::now();
    for (auto& r : rules) {
      if (!r.rule.url_contains.empty() && path.find(r.rule.url_contains) == std::string::npos) continue;
      if (r.rule.for_ms >= 0 && now - r.added > std::chrono::milliseconds(r.rule.for_ms)) continue;
      int index = r.matched++;
      if (index < r.rule.skip) continue;
      if (r.rule.times >= 0 && index >= r.rule.skip + r.rule.times) continue;
      d.fault = r.rule.fault;
      d.from_rule = true;
      return d;
    }
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    if (options.random_rate <= 0 || unit(rng) >= options.random_rate) return d;
    std::vector<FaultKind> kinds = options.random_kinds;
    if (kinds.empty())
      kinds = {FaultKind::kDropAfter, FaultKind::kStall,  FaultKind::kStatus,           FaultKind::kFlipBytes,
               FaultKind::kTruncate,  FaultKind::kLonger, FaultKind::kMoreThanDeclared, FaultKind::kDelayHeaders};
    if (options.random_substitutes.empty())
      kinds.erase(std::remove(kinds.begin(), kinds.end(), FaultKind::kSubstitute), kinds.end());
    if (kinds.empty()) return d;
    d.fault.kind = kinds[rng() % kinds.size()];
    d.fraction = unit(rng);
    d.fault.delay_ms = static_cast<int>(rng() % static_cast<uint64_t>(std::max(1, options.random_max_delay_ms)));
    static const int kStatuses[] = {500, 503, 404};
    d.fault.status = kStatuses[rng() % 3];
    d.fault.bytes = 1 + rng() % 4096;  // extra bytes for kLonger / kMoreThanDeclared
    if (!options.random_substitutes.empty())
      d.fault.substitute_path = options.random_substitutes[rng() % options.random_substitutes.size()];
    return d;
  }

  void record(const ProxyRecord& r) {
    std::lock_guard<std::mutex> l(mu);
    stats.requests++;
    if (r.fault != FaultKind::kNone) stats.faults++;
    stats.body_bytes += r.body_bytes;
    if (records.size() < kMaxRecords) records.push_back(r);
  }

  // Forwards the request (path replaced when substituting) and reads the whole answer.
  Upstream fetch_upstream(const Head& request, const std::string& method, const std::string& path) {
    Upstream u;
    {
      std::lock_guard<std::mutex> l(mu);
      stats.upstream_requests++;
    }
    int fd = connect_loopback(options.upstream_port);
    if (fd < 0) return u;
    std::string out = method + " " + path + " HTTP/1.1\r\n";
    for (const auto& h : request.headers)
      if (!hop_by_hop(h.name)) out += h.name + ": " + h.value + "\r\n";
    out += "Connection: close\r\n\r\n";
    std::string in;
    bool complete = false;
    if (send_all(fd, out.data(), out.size())) {
      char buf[64 * 1024];
      while (in.size() <= options.max_body_bytes + kMaxHeadBytes) {
        if (!wait_readable(fd, options.idle_timeout_ms)) break;
        ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) break;
        if (n == 0) {
          complete = true;
          break;
        }
        in.append(buf, static_cast<size_t>(n));
      }
    }
    ::close(fd);
    size_t end = in.find("\r\n\r\n");
    if (!complete || end == std::string::npos) return u;
    Head head = parse_head(in.substr(0, end + 2));
    u.status_line = head.first_line;
    size_t sp = u.status_line.find(' ');
    u.status = sp == std::string::npos ? 0 : std::atoi(u.status_line.c_str() + sp + 1);
    u.headers = std::move(head.headers);
    u.body = in.substr(end + 4);
    u.ok = u.status > 0;
    return u;
  }

  // Handles one request on the client connection; false when the connection must end.
  bool serve(int fd, const Head& request) {
    std::string method, path, version;
    {
      const std::string& line = request.first_line;
      size_t a = line.find(' '), b = a == std::string::npos ? a : line.find(' ', a + 1);
      if (b == std::string::npos) return false;
      method = line.substr(0, a);
      path = line.substr(a + 1, b - a - 1);
      version = line.substr(b + 1);
    }
    const std::string* conn = request.find("Connection");
    bool keep_alive = version == "HTTP/1.1" && !(conn && iequals(*conn, "close"));

    Decision d = decide(path);
    Fault& f = d.fault;
    ProxyRecord rec;
    rec.at_ms = elapsed_ms();
    rec.path = path;
    rec.fault = f.kind;
    rec.from_rule = d.from_rule;

    if (f.kind == FaultKind::kDelayHeaders) pause(f.delay_ms);
    if (f.kind == FaultKind::kStatus) {
      std::string body = "fault-proxy: HTTP " + std::to_string(f.status) + "\n";
      std::string out = "HTTP/1.1 " + std::to_string(f.status) + " Fault\r\nContent-Type: text/plain\r\n";
      if (f.retry_after_s >= 0) out += "Retry-After: " + std::to_string(f.retry_after_s) + "\r\n";
      out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
      out += keep_alive ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n";
      out += body;
      rec.status = f.status;
      rec.body_bytes = body.size();
      bool sent = send_all(fd, out.data(), out.size());
      record(rec);
      return sent && keep_alive;
    }

    Upstream u = fetch_upstream(request, method, f.kind == FaultKind::kSubstitute ? f.substitute_path : path);
    if (!u.ok) {
      std::string out = "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
      rec.status = 502;
      send_all(fd, out.data(), out.size());
      record(rec);
      return false;
    }
    std::string& body = u.body;
    const uint64_t size = body.size();
    auto at = [&](double fraction, uint64_t literal) -> uint64_t {
      uint64_t pos = d.from_rule ? literal : static_cast<uint64_t>(fraction * static_cast<double>(size));
      return std::min(pos, size);
    };
    uint64_t declared = size;
    std::string extra;
    bool close_after = !keep_alive;
    switch (f.kind) {
      case FaultKind::kFlipBytes:
        // One bit: text stays ASCII, so a manifest fails its signature or parse, not UTF-8.
        if (size > 0) body[(d.from_rule ? f.bytes : at(d.fraction, 0)) % size] ^= 0x01;
        break;
      case FaultKind::kTruncate:
        body.resize(at(d.fraction, f.bytes));
        declared = body.size();
        break;
      case FaultKind::kLonger:
        extra.assign(f.bytes, 'x');
        declared = size + extra.size();
        break;
      case FaultKind::kMoreThanDeclared:
        extra.assign(f.bytes, 'x');
        close_after = true;  // the extra bytes leave the connection unusable
        break;
      case FaultKind::kDropAfter:
        close_after = true;
        break;
      default:
        break;
    }

    std::string head = u.status_line + "\r\n";
    for (const auto& h : u.headers)
      if (!hop_by_hop(h.name)) head += h.name + ": " + h.value + "\r\n";
    if (u.status != 304 && u.status != 204) head += "Content-Length: " + std::to_string(declared) + "\r\n";
    head += close_after ? "Connection: close\r\n\r\n" : "Connection: keep-alive\r\n\r\n";
    rec.status = u.status;
    bool sent = send_all(fd, head.data(), head.size());
    if (u.status == 304 || u.status == 204 || method == "HEAD") body.clear();
    if (sent) {
      if (f.kind == FaultKind::kDropAfter || f.kind == FaultKind::kStall) {
        uint64_t first = at(d.fraction, f.bytes);
        sent = send_all(fd, body.data(), first);
        rec.body_bytes += sent ? first : 0;
        if (sent && f.kind == FaultKind::kStall) {
          pause(f.delay_ms);
          sent = !should_stop() && send_all(fd, body.data() + first, body.size() - first);
          rec.body_bytes += sent ? body.size() - first : 0;
        }
        if (f.kind == FaultKind::kDropAfter) sent = false;
      } else {
        body += extra;
        sent = send_all(fd, body.data(), body.size());
        rec.body_bytes += sent ? body.size() : 0;
      }
    }
    record(rec);
    return sent && !close_after;
  }

  void serve_connection(int fd) {
    std::string buffer;
    char chunk[16 * 1024];
    for (;;) {
      size_t end;
      while ((end = buffer.find("\r\n\r\n")) == std::string::npos) {
        if (buffer.size() > kMaxHeadBytes || !wait_readable(fd, options.idle_timeout_ms)) return;
        ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;
        buffer.append(chunk, static_cast<size_t>(n));
      }
      Head request = parse_head(buffer.substr(0, end + 2));
      buffer.erase(0, end + 4);  // GETs carry no body
      if (!serve(fd, request)) return;
    }
  }

  void reap_locked() {
    for (auto it = connections.begin(); it != connections.end();) {
      if (it->done) {
        it->thread.join();
        it = connections.erase(it);
      } else {
        ++it;
      }
    }
  }

  void accept_loop() {
    while (!should_stop()) {
      pollfd p{listen_fd, POLLIN, 0};
      int rc = ::poll(&p, 1, kPollSliceMs);
      if (rc <= 0) continue;
      int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      std::lock_guard<std::mutex> l(mu);
      reap_locked();
      if (connections.size() >= static_cast<size_t>(options.max_connections)) {
        stats.refused_connections++;
        ::close(fd);
        continue;
      }
      connections.emplace_back();
      Connection* c = &connections.back();
      c->fd = fd;
      c->thread = std::thread([this, c] {
        serve_connection(c->fd);
        ::shutdown(c->fd, SHUT_RDWR);
        ::close(c->fd);
        c->done = true;
      });
    }
  }
};

FaultProxy::FaultProxy() : impl_(std::make_unique<Impl>()) {}

std::unique_ptr<FaultProxy> FaultProxy::start(const FaultProxyOptions& options, std::string* error) {
  std::unique_ptr<FaultProxy> p(new FaultProxy());
  Impl& s = *p->impl_;
  s.options = options;
  s.rng.seed(options.seed);
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 512) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    if (error) *error = std::string("fault proxy cannot listen on 127.0.0.1: ") + std::strerror(errno);
    if (fd >= 0) ::close(fd);
    return nullptr;
  }
  s.listen_fd = fd;
  s.port = ntohs(addr.sin_port);
  s.started = Clock::now();
  s.deadline = s.started + std::chrono::milliseconds(options.lifetime_ms);
  s.accept_thread = std::thread([&s] { s.accept_loop(); });
  return p;
}

FaultProxy::~FaultProxy() { stop(); }

int FaultProxy::port() const { return impl_->port; }

void FaultProxy::add_rule(const FaultRule& rule) {
  std::lock_guard<std::mutex> l(impl_->mu);
  impl_->rules.push_back({rule, Clock::now(), 0});
}

void FaultProxy::clear_rules() {
  std::lock_guard<std::mutex> l(impl_->mu);
  impl_->rules.clear();
}

void FaultProxy::set_random_rate(double rate) {
  std::lock_guard<std::mutex> l(impl_->mu);
  impl_->options.random_rate = rate;
}

ProxyStats FaultProxy::stats() const {
  std::lock_guard<std::mutex> l(impl_->mu);
  return impl_->stats;
}

std::vector<ProxyRecord> FaultProxy::records() const {
  std::lock_guard<std::mutex> l(impl_->mu);
  return impl_->records;
}

void FaultProxy::clear_records() {
  std::lock_guard<std::mutex> l(impl_->mu);
  impl_->records.clear();
}

void FaultProxy::stop() {
  Impl& s = *impl_;
  {
    std::lock_guard<std::mutex> l(s.stop_mu);
    s.stopping = true;
  }
  s.stop_cv.notify_all();
  if (s.accept_thread.joinable()) s.accept_thread.join();
  if (s.listen_fd >= 0) {
    ::close(s.listen_fd);
    s.listen_fd = -1;
  }
  std::list<Impl::Connection> connections;
  {
    std::lock_guard<std::mutex> l(s.mu);
    connections.splice(connections.end(), s.connections);
  }
  for (auto& c : connections) c.thread.join();
}

}  // namespace modelcast::testing
