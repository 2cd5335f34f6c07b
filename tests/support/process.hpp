// Child processes for the multi-process tests (posix_spawn), reaped on destruction.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace errand_test {

class ChildProcess {
 public:
  // Starts `program` with `args`; throws std::runtime_error when it cannot be started.
  ChildProcess(const std::string& program, const std::vector<std::string>& args);
  // Kills (SIGKILL) and reaps the child if it is still running.
  ~ChildProcess();
  ChildProcess(ChildProcess&& other) noexcept : pid_(other.pid_), status_(other.status_) {
    other.pid_ = -1;
  }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ChildProcess& operator=(ChildProcess&&) = delete;

  pid_t pid() const { return pid_; }
  void signal(int sig) const;
  // The wait status once the child has ended, nullopt if it is still running at the deadline.
  std::optional<int> wait(std::chrono::milliseconds deadline);
  // "exited with 0", "killed by signal 9", ... for messages.
  static std::string describe(int status);

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
};

// How an `errand_test_worker work` process runs (see errand_test_worker.cpp).
struct WorkerSpec {
  std::size_t concurrency = 4;
  long lock_timeout_ms = 2 * 3600 * 1000;
  int crash_after = 0;  // > 0: the process dies as its crash_after-th job starts
};

// Starts `program work URL OUT ...` (program: the errand_test_worker binary).
std::unique_ptr<ChildProcess> start_worker_process(const std::string& program,
                                                   const std::string& url, const std::string& out,
                                                   WorkerSpec spec = {});

// Waits up to `deadline` for `child` to end; records a test failure naming `what` unless it
// exited with status 0.
void expect_clean_exit(ChildProcess& child, std::chrono::milliseconds deadline,
                       std::string_view what);

// Sends SIGTERM (a graceful stop) to every child, then expect_clean_exit for each.
void stop_cleanly(const std::vector<std::unique_ptr<ChildProcess>>& children,
                  std::chrono::milliseconds deadline);

}  // namespace errand_test
