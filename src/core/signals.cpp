#include <errand/signals.hpp>

#include <pthread.h>

#include <csignal>
#include <cstdlib>
#include <system_error>

namespace errand {

namespace {
// SIGINT and SIGTERM, plus SIGUSR1 with which the destructor wakes the thread to end it.
sigset_t watched_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGUSR1);
  return set;
}
}  // namespace

SignalWatcher::SignalWatcher(Handler on_signal) : on_signal_(std::move(on_signal)) {
  const sigset_t set = watched_signals();
  if (const int rc = pthread_sigmask(SIG_BLOCK, &set, nullptr); rc != 0) {
    throw std::system_error(rc, std::generic_category(), "pthread_sigmask");
  }
  thread_ = std::thread([this] { watch(); });
}

SignalWatcher::~SignalWatcher() {
  stopping_ = true;
  pthread_kill(thread_.native_handle(), SIGUSR1);
  thread_.join();
}

void SignalWatcher::watch() {
  const sigset_t set = watched_signals();
  int count = 0;
  for (;;) {
    int signo = 0;
    if (sigwait(&set, &signo) != 0) continue;
    if (signo == SIGUSR1) {
      if (stopping_) return;
      continue;
    }
    on_signal_(signo, ++count);
  }
}

StopOnSignals::StopOnSignals()
    : watcher_([this](int signo, int count) {
        if (count > 1) std::_Exit(128 + signo);
        first_.store(signo);
        stop_.request_stop();
      }) {}

}  // namespace errand
