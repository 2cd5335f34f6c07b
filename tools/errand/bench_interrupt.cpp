#include "bench_interrupt.hpp"

#include <fmt/format.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <thread>

namespace errand::cli {

namespace {

// Returns once `pid` has ended (or was reaped meanwhile), without reaping it.
void await_end(pid_t pid) {
  siginfo_t info{};
  while (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOWAIT) != 0 && errno == EINTR) {
  }
}

const char* signal_name(int signo) {
  return signo == SIGINT ? "SIGINT" : signo == SIGTERM ? "SIGTERM" : "a signal";
}

}  // namespace

void ChildSet::add(const std::function<pid_t()>& spawn) {
  std::lock_guard lock(mutex_);
  if (closed_) throw std::runtime_error("bench: stopping, no new worker process is started");
  if (const pid_t pid = spawn(); pid > 0) pids_.push_back(pid);
}

int ChildSet::reap(pid_t pid) {
  await_end(pid);
  std::lock_guard lock(mutex_);
  std::erase(pids_, pid);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

std::size_t ChildSet::kill_all() {
  std::vector<pid_t> pids;
  {
    std::lock_guard lock(mutex_);
    closed_ = true;
    pids = pids_;
    for (const pid_t pid : pids)
      ::kill(pid, SIGKILL);
  }
  for (const pid_t pid : pids)
    await_end(pid);
  return pids.size();
}

Interruption::Interruption(Scratch& scratch, ChildSet& children)
    : scratch_(scratch),
      children_(children),
      watcher_(std::make_unique<SignalWatcher>(
          [this](int signo, int count) { on_signal(signo, count); })) {}

Interruption::~Interruption() {
  if (signo_ == 0) watcher_.reset();
  while (signo_ != 0)
    std::this_thread::sleep_for(std::chrono::hours{1});  // clean_up ends the process
}

void Interruption::on_signal(int signo, int count) {
  if (count == 1) {
    signo_ = signo;
    std::thread([this, signo] { clean_up(signo); }).detach();
    return;
  }
  const std::vector<std::string> left = scratch_.remaining();
  fmt::print(stderr, "bench: stopped during the clean-up by {}; left behind: {}{}\n",
             signal_name(signo), left.empty() ? "nothing" : join_names(left),
             left.empty() ? "" : " (the next errand bench with the same --db removes them)");
  std::fflush(stdout);
  ::_exit(128 + signo_.load());
}

void Interruption::clean_up(int signo) {
  const std::size_t stopped = children_.kill_all();
  const Scratch::Outcome outcome = scratch_.finish();
  std::string done;
  if (outcome.kept) {
    done = fmt::format("kept {} (--keep)", scratch_.where());
  } else {
    done = outcome.removed.empty() ? "nothing to remove" : "removed " + join_names(outcome.removed);
  }
  if (!outcome.problems.empty()) {
    done += fmt::format("; NOT removed: {} (the next errand bench with the same --db retries)",
                        join_names(outcome.problems));
  }
  fmt::print(stderr, "bench: interrupted by {}: stopped {} worker process(es); {}\n",
             signal_name(signo), stopped, done);
  std::fflush(stdout);
  ::_exit(128 + signo);
}

}  // namespace errand::cli
