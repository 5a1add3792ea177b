#include "nginx_server.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

namespace modelcast::testing {

namespace {

int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
    port = ntohs(addr.sin_port);
  ::close(fd);
  return port;
}

bool can_connect(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

void remove_tree(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return;
  if (S_ISDIR(st.st_mode)) {
    if (DIR* d = ::opendir(path.c_str())) {
      while (struct dirent* e = ::readdir(d)) {
        std::string n = e->d_name;
        if (n != "." && n != "..") remove_tree(path + "/" + n);
      }
      ::closedir(d);
    }
    ::rmdir(path.c_str());
  } else {
    ::unlink(path.c_str());
  }
}

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

bool nginx_available(const std::string& path) { return ::access(path.c_str(), X_OK) == 0; }

std::unique_ptr<NginxServer> NginxServer::start(const NginxOptions& options, std::string* error) {
  if (!nginx_available(options.nginx)) {
    if (error) *error = options.nginx + " is not installed";
    return nullptr;
  }
  std::unique_ptr<NginxServer> s(new NginxServer());
  s->options_ = options;
  char tmpl[] = "/tmp/modelcast-nginx-XXXXXX";
  if (!::mkdtemp(tmpl)) {
    if (error) *error = std::string("mkdtemp: ") + std::strerror(errno);
    return nullptr;
  }
  s->prefix_ = tmpl;
  for (int attempt = 0; attempt < 5; ++attempt) {
    s->port_ = free_port();
    if (s->port_ > 0 && s->launch(error)) return s;
  }
  return nullptr;
}

bool NginxServer::launch(std::string* error) {
  const std::string& p = prefix_;
  std::ofstream conf(p + "/nginx.conf", std::ios::trunc);
  // Workers run as root when the tests do (the prefix is 0700); nginx ignores `user`
  // otherwise.
  if (::geteuid() == 0) conf << "user root;\n";
  conf << "worker_processes 1;\n"
       << "daemon off;\n"
       << "master_process on;\n"
       << "pid " << p << "/nginx.pid;\n"
       << "error_log " << p << "/error.log info;\n"
       << "events { worker_connections 256; }\n"
       << "http {\n"
       << "  log_format modelcast '$request_method $uri $status $body_bytes_sent \"$http_range\" "
          "\"$http_if_none_match\" \"$http_user_agent\"';\n"
       << "  access_log " << p << "/access.log modelcast;\n"
       << "  access_log " << p << "/combined.log combined;\n"
       << "  client_body_temp_path " << p << "/body;\n"
       << "  types { application/json json; text/html html; }\n"
       << "  default_type application/octet-stream;\n"
       << "  sendfile on;\n"
       << "  keepalive_requests 100000;\n"
       << "  server {\n"
       << "    listen 127.0.0.1:" << port_ << ";\n"
       << "    root " << options_.root << ";\n"
       << "    etag on;\n"
       << "    location / { }\n"
       << "  }\n"
       << "}\n";
  conf.close();
  pid_t pid = ::fork();
  if (pid < 0) {
    if (error) *error = std::string("fork: ") + std::strerror(errno);
    return false;
  }
  if (pid == 0) {
    std::string conf_path = p + "/nginx.conf", err_path = p + "/error.log";
    ::execl(options_.nginx.c_str(), "nginx", "-p", p.c_str(), "-e", err_path.c_str(), "-c", conf_path.c_str(),
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  pid_ = pid;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.start_timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    int status;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      if (error) *error = "nginx exited at start: " + error_log();
      return false;
    }
    if (can_connect(port_)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  stop();
  if (error) *error = "nginx did not accept connections within the timeout: " + error_log();
  return false;
}

void NginxServer::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);  // fast shutdown: workers close their connections at once
  for (int i = 0; i < 300; ++i) {
    int status;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  // The master is gone; make sure the port is really closed before returning.
  for (int i = 0; i < 100 && can_connect(port_); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
}

bool NginxServer::start_again(std::string* error) {
  if (pid_ > 0) return true;
  return launch(error);
}

NginxServer::~NginxServer() {
  stop();
  if (!prefix_.empty()) remove_tree(prefix_);
}

std::vector<AccessLogEntry> NginxServer::access_log() const {
  std::string text = read_all(prefix_ + "/access.log");
  std::vector<AccessLogEntry> out;
  std::istringstream in(text.size() > log_offset_ ? text.substr(log_offset_) : std::string());
  std::string line;
  while (std::getline(in, line)) {
    AccessLogEntry e;
    std::istringstream ls(line);
    ls >> e.method >> e.path >> e.status >> e.body_bytes;
    // Three quoted fields follow.
    std::string* fields[] = {&e.range, &e.if_none_match, &e.user_agent};
    size_t pos = 0;
    for (auto* f : fields) {
      size_t a = line.find('"', pos);
      size_t b = a == std::string::npos ? std::string::npos : line.find('"', a + 1);
      if (b == std::string::npos) break;
      *f = line.substr(a + 1, b - a - 1);
      pos = b + 1;
    }
    out.push_back(e);
  }
  return out;
}

void NginxServer::clear_access_log() { log_offset_ = read_all(prefix_ + "/access.log").size(); }

std::string NginxServer::combined_log_path() const { return prefix_ + "/combined.log"; }

std::string NginxServer::error_log() const { return read_all(prefix_ + "/error.log"); }

}  // namespace modelcast::testing
