// `errand bench` (or any errand command) as a child process the test can signal and inspect:
// its stdout and stderr go to files, its worker processes are found through /proc.
#pragma once

#include "support/process.hpp"

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace errand_test {

class CliProcess {
 public:
  // Starts `program args...` with `env` (NAME=VALUE) added to the environment and stdin from
  // /dev/null; stdout and stderr go to files in `log_dir`. It starts with SIGINT and SIGTERM
  // blocked (ChildProcess): errand bench waits for them with sigwait.
  CliProcess(const std::string& program, const std::vector<std::string>& args,
             const std::filesystem::path& log_dir, const std::vector<std::string>& env = {});

  pid_t pid() const { return process_.pid(); }
  void signal(int sig) const { process_.signal(sig); }
  // The wait status once it ended, nullopt at the deadline.
  std::optional<int> wait(std::chrono::milliseconds deadline) { return process_.wait(deadline); }
  std::string out() const;
  std::string err() const;

 private:
  std::filesystem::path out_, err_;
  ChildProcess process_;
};

// Runs `program args...` to its end (at most `deadline`): {wait status or -1, stdout, stderr}.
struct CliRun {
  int status = -1;
  std::string out, err;
};
CliRun run_cli(const std::string& program, const std::vector<std::string>& args,
               const std::filesystem::path& log_dir, const std::vector<std::string>& env = {},
               std::chrono::milliseconds deadline = std::chrono::minutes{2});

// The processes whose parent is `parent` (from /proc/PID/stat).
std::vector<pid_t> child_pids(pid_t parent);
// /proc/PID/cmdline with the NULs between arguments as spaces ("" once it is gone).
std::string cmdline(pid_t pid);
// /proc/PID/environ, one NAME=VALUE per element.
std::vector<std::string> environment(pid_t pid);
// True when `pid` no longer runs: no such process, or a zombie.
bool process_gone(pid_t pid);
// "exited with 130" for WIFEXITED statuses, "killed by signal N" else.
std::string describe_status(int status);

// Waits until `bench` runs an `errand bench-worker` child and returns its pid; records a test
// failure and returns -1 when none came while it ran.
pid_t wait_for_bench_worker(const CliProcess& bench);
// Waits for `process` to end; records a test failure (with its stderr) unless it exited with
// `code`.
void expect_exit_code(CliProcess& process, int code);
// The lines of `text` that start with `prefix`.
std::vector<std::string> lines_starting(const std::string& text, std::string_view prefix);

}  // namespace errand_test
