#include "cancel_on_signal.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>

namespace modelcast {

namespace {

int g_pipe[2] = {-1, -1};  // [0] read by the watcher, [1] written by the handler
struct sigaction g_previous_int, g_previous_term;

constexpr char kSignalled = 's';
constexpr char kStop = 'q';

void on_signal(int) {
  const int saved = errno;
  (void)!::write(g_pipe[1], &kSignalled, 1);
  errno = saved;
}

}  // namespace

CancelOnSignal::CancelOnSignal(Fetcher* fetcher) : fetcher_(fetcher) {
  if (::pipe2(g_pipe, O_CLOEXEC) != 0) return;  // no pipe: Ctrl-C keeps its default effect
  watcher_ = std::thread([this] { watch(); });
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  ::sigaction(SIGINT, &sa, &g_previous_int);
  ::sigaction(SIGTERM, &sa, &g_previous_term);
  installed_ = true;
}

CancelOnSignal::~CancelOnSignal() {
  if (!installed_) return;
  ::sigaction(SIGINT, &g_previous_int, nullptr);
  ::sigaction(SIGTERM, &g_previous_term, nullptr);
  (void)!::write(g_pipe[1], &kStop, 1);
  watcher_.join();
  ::close(g_pipe[0]);
  ::close(g_pipe[1]);
  g_pipe[0] = g_pipe[1] = -1;
}

void CancelOnSignal::watch() {
  for (;;) {
    char c = 0;
    const ssize_t n = ::read(g_pipe[0], &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0 || c == kStop) return;
    fetcher_->cancel();
  }
}

}  // namespace modelcast
