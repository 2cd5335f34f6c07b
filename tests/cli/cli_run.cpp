#include "cli/cli_run.hpp"

#include "support/process.hpp"
#include "support/temp_dir.hpp"

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <stdexcept>
#include <thread>

#ifndef ERRAND_CLI
#error "ERRAND_CLI must be the path of the errand program"
#endif

extern char** environ;

namespace errand_test {

CliResult run_cli(const std::vector<std::string>& args, const std::filesystem::path& scratch,
                  const CliRunOptions& options) {
  static std::atomic<int> serial{0};
  const int n = ++serial;
  const auto out_path = scratch / ("cli-" + std::to_string(n) + ".out");
  const auto err_path = scratch / ("cli-" + std::to_string(n) + ".err");

  // Everything the child needs is prepared before fork: after it, only async-signal-safe calls.
  std::vector<std::string> all{ERRAND_CLI};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& arg : all)
    argv.push_back(arg.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_strings = options.env;
  std::vector<char*> envp;
  for (char** e = environ; *e != nullptr; ++e)
    envp.push_back(*e);
  for (auto& e : env_strings)
    envp.push_back(e.data());
  envp.push_back(nullptr);
  const int out_fd = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  const int err_fd = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  const int in_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (out_fd < 0 || err_fd < 0 || in_fd < 0) {
    throw std::runtime_error("run_cli: cannot open its output files in " + scratch.string());
  }
  const std::string cwd = options.cwd.string();

  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(in_fd, 0);
    ::dup2(out_fd, 1);
    ::dup2(err_fd, 2);
    if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) ::_exit(126);
    if (options.gid && (::setgroups(0, nullptr) != 0 || ::setgid(*options.gid) != 0)) ::_exit(126);
    if (options.uid && ::setuid(*options.uid) != 0) ::_exit(126);
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  ::close(out_fd);
  ::close(err_fd);
  ::close(in_fd);
  if (pid < 0) throw std::runtime_error(std::string("run_cli: fork: ") + std::strerror(errno));

  CliResult result;
  const auto end = std::chrono::steady_clock::now() + options.deadline;
  int status = 0;
  for (;;) {
    const pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid) break;
    if (std::chrono::steady_clock::now() >= end) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      result.how = "past its deadline: killed; ";
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{2});
  }
  result.how += ChildProcess::describe(status);
  if (WIFEXITED(status) && result.how.find("deadline") == std::string::npos) {
    result.exit_code = WEXITSTATUS(status);
  }
  result.out = read_file(out_path);
  result.err = read_file(err_path);
  return result;
}

}  // namespace errand_test
