// SIGINT/SIGTERM handling without asynchronous signal handlers.
#pragma once

#include <atomic>
#include <functional>
#include <thread>

namespace errand::cli {

// Waits for SIGINT and SIGTERM on a dedicated thread (sigwait) and calls on_signal(signo, n)
// there for the n-th signal received (1, 2, ...). Construct it before starting any other thread:
// it blocks the signals in the calling thread and threads started later inherit the mask, so no
// thread is ever interrupted by them. The destructor ends the thread; the signals stay blocked.
class SignalWatcher {
 public:
  using Handler = std::function<void(int signo, int count)>;

  explicit SignalWatcher(Handler on_signal);
  ~SignalWatcher();
  SignalWatcher(const SignalWatcher&) = delete;
  SignalWatcher& operator=(const SignalWatcher&) = delete;

 private:
  void watch();

  Handler on_signal_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace errand::cli
