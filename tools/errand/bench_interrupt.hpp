// Ctrl-C (SIGINT) and SIGTERM during `errand bench`: the worker processes are stopped, the
// scratch stores removed, one line says what was removed, and the exit status is 130 / 143.
#pragma once

#include <errand/signals.hpp>
#include "bench_scratch.hpp"

#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

namespace errand::cli {

// The worker processes of a run, killed by an interruption on another thread: a pid is reaped
// only under the lock, so a kill never hits a reused pid.
class ChildSet {
 public:
  // Runs `spawn` (returning the new pid, or -1) and records the child; throws once kill_all()
  // has begun.
  void add(const std::function<pid_t()>& spawn);
  // Waits for `pid` to end, reaps it and returns its wait status.
  int reap(pid_t pid);
  // SIGKILLs every child not reaped yet and waits until each has ended; returns how many.
  std::size_t kill_all();

 private:
  std::mutex mutex_;
  std::vector<pid_t> pids_;
  bool closed_ = false;
};

class Interruption {
 public:
  // From now on SIGINT and SIGTERM (blocked in this thread and in every thread started later)
  // stop the run: the first one, on a thread of its own, kills the worker processes, removes the
  // scratch stores (Scratch::finish), prints one line and ends the process with 128 + its number;
  // a second one during that clean-up ends the process at once, naming what is left (a later
  // run removes it).
  Interruption(Scratch& scratch, ChildSet& children);
  // Once interrupted, never returns (the clean-up ends the process); else stops watching.
  ~Interruption();
  Interruption(const Interruption&) = delete;
  Interruption& operator=(const Interruption&) = delete;

 private:
  void on_signal(int signo, int count);
  [[noreturn]] void clean_up(int signo);

  Scratch& scratch_;
  ChildSet& children_;
  std::atomic<int> signo_{0};  // the first signal received
  std::unique_ptr<SignalWatcher> watcher_;
};

}  // namespace errand::cli
