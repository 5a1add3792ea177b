// The CLI's answer to Ctrl-C: SIGINT or SIGTERM while an update runs cancels it, so the
// update returns (the active model kept) and its result is printed as usual, instead of
// the process dying with nothing on stdout.
#pragma once

#include <thread>

#include "modelcast/fetcher.h"

namespace modelcast {

// While it lives, SIGINT and SIGTERM call fetcher->cancel(). The signal handler only writes
// a byte to a pipe (async-signal-safe); a thread reading the pipe does the cancelling. The
// previous handlers are restored when it goes.
class CancelOnSignal {
 public:
  explicit CancelOnSignal(Fetcher* fetcher);
  ~CancelOnSignal();
  CancelOnSignal(const CancelOnSignal&) = delete;
  CancelOnSignal& operator=(const CancelOnSignal&) = delete;

 private:
  void watch();

  Fetcher* fetcher_;
  bool installed_ = false;
  std::thread watcher_;
};

}  // namespace modelcast
