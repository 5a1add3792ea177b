#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <vector>

#include "modelcast/file_system.h"
#include "modelcast/http_transport.h"
#include "transports.h"

namespace modelcast {

namespace {

class FileTransport : public HttpTransport {
 public:
  Status get(const HttpRequest& request, HttpSink& sink) override {
    if (cancelled_) return error(StatusCode::kCancelled, "cancelled");
    const std::string prefix = "file://";
    if (request.url.compare(0, prefix.size(), prefix) != 0 || request.url.size() <= prefix.size() ||
        request.url[prefix.size()] != '/')
      return error(StatusCode::kInvalidArgument, request.url + ": not a file:///absolute/path URL");
    std::string path = request.url.substr(prefix.size());
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    HttpResponse response;
    if (fd < 0) {
      response.status = (errno == ENOENT || errno == ENOTDIR) ? 404 : 403;
      return sink.on_response(response);
    }
    struct stat st;
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      ::close(fd);
      response.status = 404;
      return sink.on_response(response);
    }
    uint64_t size = static_cast<uint64_t>(st.st_size);
    if (request.range_start > 0) {
      if (request.range_start >= size) {
        ::close(fd);
        response.status = 416;
        return sink.on_response(response);
      }
      if (::lseek(fd, static_cast<off_t>(request.range_start), SEEK_SET) < 0) {
        int e = errno;
        ::close(fd);
        return error(StatusCode::kNetwork, errno_status(path + ": seek", e).message());
      }
      response.status = 206;
      response.range_start = request.range_start;
      response.content_length = static_cast<int64_t>(size - request.range_start);
    } else {
      response.status = 200;
      response.content_length = static_cast<int64_t>(size);
    }
    Status s = sink.on_response(response);
    std::vector<char> buf(1 << 18);
    while (s.ok()) {
      if (cancelled_) {
        s = error(StatusCode::kCancelled, "cancelled");
        break;
      }
      ssize_t n = ::read(fd, buf.data(), buf.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        s = error(StatusCode::kNetwork, errno_status(path + ": read", errno).message());
        break;
      }
      if (n == 0) break;
      s = sink.on_data(buf.data(), static_cast<size_t>(n));
    }
    ::close(fd);
    return s;
  }
  void cancel() override { cancelled_ = true; }
  void reset_cancel() override { cancelled_ = false; }

 private:
  std::atomic<bool> cancelled_{false};
};

// Without libcurl (MODELCAST_WITH_CURL=OFF) http(s) needs the app's transport.
class NoNetworkTransport : public HttpTransport {
 public:
  Status get(const HttpRequest& request, HttpSink&) override {
    return error(StatusCode::kInvalidArgument,
                 request.url + ": this library was built without libcurl; supply a transport (mc_fetch_options.transport)");
  }
};

// Dispatches on the URL scheme; each inner transport keeps its own connection state.
class DispatchingTransport : public HttpTransport {
 public:
  explicit DispatchingTransport(std::unique_ptr<HttpTransport> network) : network_(std::move(network)) {}
  Status get(const HttpRequest& request, HttpSink& sink) override {
    if (request.url.compare(0, 7, "file://") == 0) return file_->get(request, sink);
    return network_->get(request, sink);
  }
  void cancel() override {
    file_->cancel();
    network_->cancel();
  }
  void reset_cancel() override {
    file_->reset_cancel();
    network_->reset_cancel();
  }

 private:
  std::unique_ptr<HttpTransport> file_ = make_file_transport();
  std::unique_ptr<HttpTransport> network_;
};

}  // namespace

std::unique_ptr<HttpTransport> make_file_transport() { return std::make_unique<FileTransport>(); }
std::unique_ptr<HttpTransport> make_dispatching_transport(std::unique_ptr<HttpTransport> network) {
  return std::make_unique<DispatchingTransport>(std::move(network));
}
std::unique_ptr<HttpTransport> make_default_transport() {
#ifdef MODELCAST_WITH_CURL
  return make_dispatching_transport(make_curl_transport());
#else
  return make_dispatching_transport(std::make_unique<NoNetworkTransport>());
#endif
}

}  // namespace modelcast
