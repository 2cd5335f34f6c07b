// Child processes for the multi-process tests (posix_spawn), reaped on destruction.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
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

}  // namespace errand_test
