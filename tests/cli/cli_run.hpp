// Runs the real `errand` binary (ERRAND_CLI) as a child process and collects what it wrote.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace errand_test {

struct CliResult {
  int exit_code = -1;  // -1: killed by a signal or past the deadline (see `how`)
  std::string out;
  std::string err;
  std::string how;  // "exited with 0", "killed by signal 11", ...
};

struct CliRunOptions {
  std::filesystem::path cwd{};         // the child's working directory (default: unchanged)
  std::optional<uid_t> uid{};          // run as this user (needs root) ...
  std::optional<gid_t> gid{};          // ... and group
  std::chrono::seconds deadline{120};  // then SIGKILL
  std::vector<std::string> env{};      // extra NAME=VALUE entries
};

// Runs ERRAND_CLI with `args`; stdout and stderr go to files in `scratch`, stdin is /dev/null.
CliResult run_cli(const std::vector<std::string>& args, const std::filesystem::path& scratch,
                  const CliRunOptions& options = {});

}  // namespace errand_test
