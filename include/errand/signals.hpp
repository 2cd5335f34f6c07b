// Graceful shutdown on SIGINT and SIGTERM without asynchronous signal handlers.
#pragma once

#include <atomic>
#include <functional>
#include <stop_token>
#include <thread>

namespace errand {

// Waits for SIGINT and SIGTERM on a dedicated thread (sigwait) and calls on_signal(signo, n)
// there for the n-th signal received (1, 2, ...). Construct it before starting any other thread:
// it blocks the signals in the calling thread and threads started later inherit the mask, so no
// thread is ever interrupted by them. The destructor ends the thread; the signals stay blocked.
// Throws std::system_error when the signal mask cannot be set.
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

// The usual worker process's handling: the first SIGINT or SIGTERM requests a stop on token()
// (pass it to Worker::run, which then shuts down gracefully and returns); a second one ends the
// process at once with exit status 128 + the signal's number, as a shell reports a process
// killed by it (jobs still locked are rescued later, as after a crash). Construct it first in
// main, before any thread starts (see SignalWatcher).
class StopOnSignals {
 public:
  StopOnSignals();
  std::stop_token token() const { return stop_.get_token(); }
  // The first signal received (SIGINT or SIGTERM), 0 while none was.
  int signal() const { return first_.load(); }

 private:
  std::stop_source stop_;
  std::atomic<int> first_{0};
  SignalWatcher watcher_;  // declared last: started once the rest exists, ended first
};

}  // namespace errand
