#include "support/process.hpp"

#include <gtest/gtest.h>

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace errand_test {

ChildProcess::ChildProcess(const std::string& program, const std::vector<std::string>& args) {
  std::vector<std::string> all{program};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& arg : all)
    argv.push_back(arg.data());
  argv.push_back(nullptr);
  // The child starts with SIGTERM and SIGINT blocked (errand_test_worker's `work` sigwaits for
  // them): a stop sent before it got that far stays pending instead of killing it.
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  sigset_t stops;
  sigemptyset(&stops);
  sigaddset(&stops, SIGTERM);
  sigaddset(&stops, SIGINT);
  posix_spawnattr_setsigmask(&attributes, &stops);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK);
  const int rc = ::posix_spawn(&pid_, program.c_str(), nullptr, &attributes, argv.data(), environ);
  posix_spawnattr_destroy(&attributes);
  if (rc != 0) {
    pid_ = -1;
    throw std::runtime_error("posix_spawn " + program + ": " + std::strerror(rc));
  }
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0 && !status_) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
}

void ChildProcess::signal(int sig) const {
  if (pid_ > 0 && !status_) ::kill(pid_, sig);
}

std::optional<int> ChildProcess::wait(std::chrono::milliseconds deadline) {
  if (status_ || pid_ <= 0) return status_;
  const auto end = std::chrono::steady_clock::now() + deadline;
  for (;;) {
    int status = 0;
    const pid_t done = ::waitpid(pid_, &status, WNOHANG);
    if (done == pid_) {
      status_ = status;
      return status_;
    }
    if (std::chrono::steady_clock::now() >= end) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds{5});
  }
}

std::string ChildProcess::describe(int status) {
  if (WIFEXITED(status)) return "exited with " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  return "ended with status " + std::to_string(status);
}

std::unique_ptr<ChildProcess> start_worker_process(const std::string& program,
                                                   const std::string& url, const std::string& out,
                                                   WorkerSpec spec) {
  return std::make_unique<ChildProcess>(
      program, std::vector<std::string>{"work", url, out, std::to_string(spec.concurrency),
                                        std::to_string(spec.lock_timeout_ms),
                                        std::to_string(spec.crash_after)});
}

void expect_clean_exit(ChildProcess& child, std::chrono::milliseconds deadline,
                       std::string_view what) {
  const auto status = child.wait(deadline);
  if (!status) {
    ADD_FAILURE() << what << " " << child.pid() << " did not end within " << deadline.count()
                  << " ms";
    return;
  }
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
      << what << " " << child.pid() << " " << ChildProcess::describe(*status);
}

void stop_cleanly(const std::vector<std::unique_ptr<ChildProcess>>& children,
                  std::chrono::milliseconds deadline) {
  for (const auto& child : children)
    child->signal(SIGTERM);
  for (const auto& child : children)
    expect_clean_exit(*child, deadline, "worker (stopped with SIGTERM)");
}

}  // namespace errand_test
